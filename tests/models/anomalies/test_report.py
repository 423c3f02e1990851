"""Report: lists alerts, plots each alerted series, escapes keys."""

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.anomalies.schemas import SPIKES
from jobs.anomalies.spikes import detect_spikes
from models.anomalies.report import anomaly_report


def test_report_lists_alerts_and_plots_their_series(tmp_path):
    rng = np.random.default_rng(0)
    Y = rng.poisson(5, size=(3, 60))
    Y[1, 40] += 30
    times = pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC")
    keys = ["a", "<b>", "c"]
    tbl = pa.table({"series_key": np.repeat(keys, 60), "period_start": np.tile(times, 3), "count": Y.ravel()})
    ent = pa.table({"entity": ["p1"], "score": [0.7], "rank": [1], "flagged": [True],
                    "top_features": [[{"feature": "n_imeis", "contribution": 3.0}]]})
    html, figs = anomaly_report(detect_spikes(tbl), entity_scores={"phones": ent})
    assert "&lt;b&gt;" in html and "<b>" not in html.split("<body>")[1].split("<h1>")[0]
    assert list(figs) == ["series_00.png"] and "series_00.png" in html
    assert "n_imeis (3)" in html
    figs["series_00.png"].savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_report_without_alerts():
    times = pd.date_range("2024-01-01", periods=20, freq="D", tz="UTC")
    tbl = pa.table({"series_key": ["a"] * 20, "period_start": times, "count": [3] * 20})
    html, figs = anomaly_report(detect_spikes(tbl))
    assert "No alerts." in html and figs == {}


def test_report_without_spike_rows_says_so():
    html, figs = anomaly_report(SPIKES.empty_table(), timezone="America/Chicago",
                                generated_at=pd.Timestamp("2025-06-10 14:05", tz="UTC"))
    assert "<h1>Anomaly report</h1>" in html and "no scored windows" in html and figs == {}
    assert "2025-06-10 09:05 CDT (America/Chicago)" in html and "{'" not in html


def test_report_is_offline():
    times = pd.date_range("2024-01-01", periods=20, freq="D", tz="UTC")
    tbl = pa.table({"series_key": ["a"] * 20, "period_start": times, "count": [3] * 20})
    html, _ = anomaly_report(detect_spikes(tbl))
    assert "http://" not in html and "https://" not in html and "<script" not in html
