"""The anomaly report written from a lakehouse: dated by its data, readable summary, glossary, local times,
entity percentiles, plots whose labels do not overlap.

The lake holds what the run of ``2025-06-10`` wrote for feeds that end on 31 December 2017 (the bundled
synthetic feeds are years older than the ingest day): the old report said "as of 2025-06-10".
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.anomalies.families import FAMILIES, score_family, spike_alerts_table
from jobs.anomalies.reports import (alerts_markdown, check_timezone, local_time, local_window,
                                    stored_spike_params, write_anomaly_report)
from jobs.anomalies.schemas import ENTITY_ANOMALIES
from jobs.anomalies.spikes import SpikeParams
from orchestration.resources.lakehouse import LocalLakehouse

SCORING_DAY = dt.date(2025, 6, 10)
DATA_END = pd.Timestamp("2018-01-01 00:00", tz="UTC")  # 2017-12-31 18:00 CST
GENERATED = pd.Timestamp("2025-06-10 14:05", tz="UTC")  # 09:05 CDT
FAMILY = {f.feed: f for f in FAMILIES}


def hourly_series(rng) -> pa.Table:
    """Four ATM terminals, 28 days of hours up to DATA_END, a planted spike on two of them."""
    times = pd.date_range(DATA_END - pd.Timedelta(days=28), DATA_END, freq="h", inclusive="left")
    Y = rng.poisson(4, size=(4, len(times)))
    Y[1, -30] += 40
    Y[2, 200] += 35
    keys = [f"T{i}" for i in range(4)]
    return pa.table({"series_key": np.repeat(keys, len(times)), "period_start": np.tile(times, 4),
                     "count": Y.ravel()})


def daily_series(rng) -> pa.Table:
    """Three districts, 56 UTC days up to DATA_END, a planted spike on one."""
    days = pd.date_range(DATA_END - pd.Timedelta(days=56), DATA_END, freq="D", inclusive="left")
    Y = rng.poisson(6, size=(3, len(days)))
    Y[0, -3] += 45
    return pa.table({"series_key": np.repeat(["chicago|1", "chicago|2", "chicago|3"], len(days)),
                     "period_start": np.tile(days, 3), "count": Y.ravel()})


def entity_rows(kind: str, scores: np.ndarray, *, pct: bool) -> pa.Table:
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    n = len(scores)
    t = pa.table({"entity": [f"{kind}{i}" for i in range(n)], "entity_type": [kind] * n, "score": scores,
                  "rank": rank, "flagged": rank <= max(1, n // 100),
                  "top_features": [[{"feature": "n_imeis", "contribution": 3.0}]] * n,
                  "model_uri": [f"models:/anomaly_{kind}s/1"] * n,
                  "scored_at": pa.array([pd.Timestamp("2025-06-10 13:00", tz="UTC")] * n, ENTITY_ANOMALIES.field(
                      "scored_at").type),
                  "score_pct": pa.nulls(n, pa.float64()), "model_name": [f"anomaly_{kind}s"] * n,
                  "model_version": ["1"] * n, "features_version": [3] * n}, schema=ENTITY_ANOMALIES)
    if pct:
        from models.anomalies.serving import score_percentiles

        t = t.set_column(t.schema.get_field_index("score_pct"), "score_pct", pa.array(score_percentiles(scores)))
    return t


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    rng = np.random.default_rng(7)
    params = SpikeParams()
    parts = [score_family(hourly_series(rng), FAMILY["atm_withdrawals"], "UTC", params),
             score_family(daily_series(rng), FAMILY["district_crimes"], "UTC", params)]
    lh = LocalLakehouse(root=str(tmp_path_factory.mktemp("lake")))
    lh.replace_where("gold", "spike_alerts", spike_alerts_table(SCORING_DAY, parts),
                     f"as_of_date = '{SCORING_DAY}'", partition_by=["as_of_date"])
    phones = entity_rows("phone", rng.uniform(0.35, 0.8, 300), pct=True)  # Isolation Forest scale
    accounts = entity_rows("account", rng.gamma(4, 4, 200), pct=False)  # ECOD scale; no score_pct yet
    # a lake written before score_pct existed: accounts lack the column
    lh.overwrite("gold", "entity_anomalies", accounts.drop_columns(["score_pct"]))
    lh.replace_where("gold", "entity_anomalies", phones, "entity_type = 'phone'", evolve_schema=True)
    return lh


@pytest.fixture(scope="module")
def chicago(lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    written = write_anomaly_report(lake, out, timezone="America/Chicago", generated_at=GENERATED)
    return written, (out / "index.html").read_text()


def test_as_of_is_the_end_of_the_data_not_the_run_day(lake, chicago):
    written, page = chicago
    ends = lake.read("gold", "spike_alerts", columns=["window_end"])["window_end"]
    assert written["data_end"] == pd.Timestamp(pc.max(ends).as_py()) == DATA_END
    assert written["as_of"] == SCORING_DAY and written["data_end_local"] == "2017-12-31 18:00 CST (America/Chicago)"
    title = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert title == "Anomaly report, data as of 2017-12-31 18:00 CST (America/Chicago)"
    assert "as of 2025" not in page and "as of 2025" not in re.search(r"<title>(.*?)</title>", page).group(1)
    # the run day and the generation time are there, each labelled
    assert "<dt>Scoring day</dt><dd>2025-06-10 " in page
    assert "<dt>Generated</dt><dd>2025-06-10 09:05 CDT (America/Chicago)</dd>" in page


def test_summary_is_prose_and_a_table_not_a_dict(lake, chicago):
    written, page = chicago
    assert "{'" not in page and "': " not in page
    summary = page.split("<h2>Summary</h2>")[1].split("<h2>")[0]
    n = written["alerts"]
    assert n > 0 and re.search(rf"<strong>{n} alerts?</strong> \(\d+ critical, \d+ warning, \d+ info\)", summary)
    assert "<table>" in summary and "atm_withdrawals" in summary and "district_crimes" in summary
    assert "ATM withdrawals per terminal per hour" in summary
    md = alerts_markdown(lake.read("gold", "spike_alerts").to_pandas().query("alert"), timezone="America/Chicago")
    assert "{'" not in md and "| window (America/Chicago) |" in md


def test_glossary_explains_every_alert_column(chicago):
    _, page = chicago
    gloss = page.split("<h2 id='glossary'>Glossary</h2>")[1].split("<h2>")[0]
    header = re.search(r"<h2>Top alerts</h2>\s*<table><thead><tr>(.*?)</tr>", page).group(1)
    columns = re.findall(r"<th>(.*?)</th>", header)
    assert {"upper", "lower", "q_value", "p_value", "expected", "observed", "severity"} <= set(columns)
    for col in columns:
        assert col.split(" (")[0] in gloss, f"column {col!r} is not in the glossary"
    upper = gloss.split("<code>lower, upper</code>")[1].split("<dt>")[0]
    assert "central 95% range" in upper and "97.5%" in upper and "negative binomial" in upper
    q = gloss.split("<code>q_value</code>")[1].split("<dt>")[0]
    assert "Benjamini-Hochberg" in q and "false-discovery-rate adjusted p-value" in q
    assert "q_value &le; 0.05" in gloss  # the alert rule with the settings used
    for word in ("percentile", "score", "flagged", "top features"):
        assert f"<code>{word}</code>" in gloss


def test_glossary_quotes_the_settings_that_produced_the_alerts(lake, tmp_path):
    stored = {**SpikeParams(fdr_alpha=0.01, band_level=0.9).to_dict(), "a_future_setting": 1}
    params = stored_spike_params(stored)
    assert params == SpikeParams(fdr_alpha=0.01, band_level=0.9) and stored_spike_params(None) is None
    write_anomaly_report(lake, tmp_path, spike_params=params)
    gloss = (tmp_path / "index.html").read_text().split("id='glossary'")[1]
    assert "q_value &le; 0.01" in gloss and "central 90% range" in gloss and "95.0%" in gloss
    assert "as stored by the spike_alerts run" in gloss


WINDOW = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d(-\d\d:\d\d|( CST| CDT)? - \d{4}-\d\d-\d\d \d\d:\d\d) (CST|CDT)$")


def test_times_are_shown_in_the_named_zone(lake, chicago, tmp_path):
    _, page = chicago
    alerts = page.split("<h2>Top alerts</h2>")[1].split("</table>")[0]
    assert "<th>window (America/Chicago)</th>" in alerts
    cells = re.findall(r"<td>(\d{4}-\d\d-\d\d [^<]*)</td>", alerts)
    assert cells and all(WINDOW.match(c) for c in cells), cells
    assert "UTC" not in alerts
    # the same data in UTC: the same windows, other clock times
    write_anomaly_report(lake, tmp_path, generated_at=GENERATED)
    utc = (tmp_path / "index.html").read_text()
    assert "data as of 2018-01-01 00:00 UTC</h1>" in utc and "<th>window (UTC)</th>" in utc
    with pytest.raises(ValueError, match="unknown time zone 'Central'"):
        write_anomaly_report(lake, tmp_path, timezone="Central")


@pytest.mark.parametrize("start, end, zone, expected", [
    ("2017-12-31 23:00", "2018-01-01 00:00", "America/Chicago", "2017-12-31 17:00-18:00 CST"),
    ("2017-12-31 23:00", "2018-01-01 00:00", "UTC", "2017-12-31 23:00-24:00 UTC"),
    ("2017-12-31 06:00", "2018-01-01 06:00", "America/Chicago", "2017-12-31 00:00-24:00 CST"),  # a local day
    ("2017-12-31 00:00", "2018-01-01 00:00", "America/Chicago", "2017-12-30 18:00 - 2017-12-31 18:00 CST"),  # UTC day
    ("2017-03-12 07:00", "2017-03-12 08:00", "America/Chicago", "2017-03-12 01:00 CST - 2017-03-12 03:00 CDT"),
    ("2017-07-01 12:00", "2017-07-01 13:00", "Asia/Kolkata", "2017-07-01 17:30-18:30 IST"),
])
def test_local_window(start, end, zone, expected):
    assert local_window(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), zone) == expected


@pytest.mark.parametrize("ts, zone, expected", [
    ("2018-01-01 00:00", "America/Chicago", "2017-12-31 18:00 CST (America/Chicago)"),
    ("2017-07-01 00:00", "America/Chicago", "2017-06-30 19:00 CDT (America/Chicago)"),
    ("2018-01-01 00:00", "UTC", "2018-01-01 00:00 UTC"),
    ("2018-01-01 00:00", "Europe/London", "2018-01-01 00:00 GMT (Europe/London)"),
])
def test_local_time(ts, zone, expected):
    assert local_time(pd.Timestamp(ts, tz="UTC"), zone) == expected
    assert local_time(pd.Timestamp(ts), zone) == expected  # naive is UTC


@pytest.mark.parametrize("zone", ["", "CST", "America/Chicag0", None])
def test_check_timezone_rejects(zone):
    with pytest.raises(ValueError, match="IANA"):
        check_timezone(zone)


def entity_table(page: str, label: str) -> pd.DataFrame:
    section = page.split(f"<h2>Most unusual {label}</h2>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>")[1])
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    return pd.DataFrame([(int(c[0]), float(c[2]), float(c[3])) for c in cells], columns=["rank", "pct", "score"])


def test_entity_scores_are_percentiles_within_their_model(lake, chicago):
    _, page = chicago
    for label, n in (("phones", 300), ("accounts", 200)):
        assert f"percentile (of {n} {label})" in page
        t = entity_table(page, label)
        assert len(t) == 20 and t["pct"].between(0, 100).all()
        assert t["pct"].iloc[0] == 100 and t["rank"].tolist() == list(range(1, 21))
        # higher raw score, higher or equal percentile
        assert (np.diff(t["pct"]) <= 0).all() and (np.diff(t["score"]) <= 0).all()
        assert t["pct"].iloc[-1] == pytest.approx(100 * (n - 19) / n, abs=0.1)
    # each raw scale is explained where it is shown
    assert "Isolation Forest anomaly score" in page.split("Most unusual phones")[1].split("<table>")[0]
    assert "ECOD outlier score" in page.split("Most unusual accounts")[1].split("<table>")[0]
    assert "Scored by ECOD (<code>models:/anomaly_accounts/1</code>) at 2025-06-10 08:00 CDT (America/Chicago)" in page


def test_plot_labels_do_not_overlap_and_axes_have_units(chicago):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from models.anomalies.report import plot_series

    written, page = chicago
    assert len(written["pngs"]) >= 2 and all(p.name in page for p in written["pngs"])
    rng = np.random.default_rng(1)
    times = pd.date_range(DATA_END - pd.Timedelta(days=28), DATA_END, freq="h", inclusive="left")
    obs = rng.poisson(5, len(times))
    rows = pd.DataFrame({"window_start": times, "window_end": times + pd.Timedelta(hours=1), "observed": obs,
                         "expected": 5.0, "lower": 1.0, "upper": 10.0, "alert": obs > 9,
                         "severity": np.where(obs > 9, "warning", None)})
    for zone in ("UTC", "America/Chicago"):
        fig = plot_series(rows, "atm_withdrawals: T1", timezone=zone, unit="ATM withdrawals per terminal per hour")
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) >= 4
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        assert ax.get_xlabel() == f"window start, time in {zone}"
        assert ax.get_ylabel() == "ATM withdrawals per terminal per hour"
        xlabel = ax.xaxis.label.get_window_extent(renderer)
        assert not any(b.overlaps(xlabel) for b in boxes)
        # tick labels name local days: the first data hour is 2017-12-04 00:00 UTC = 12-03 18:00 CST
        first = ax.get_xlim()[0]
        import matplotlib.dates as mdates
        assert mdates.num2date(first, tz=zone).hour == (0 if zone == "UTC" else 18)


def test_stale_plots_are_removed(lake, tmp_path):
    (tmp_path / "series_99.png").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    written = write_anomaly_report(lake, tmp_path)
    assert not (tmp_path / "series_99.png").exists() and (tmp_path / "notes.txt").exists()
    assert written["entities"] == {"phones": 300, "accounts": 200}
