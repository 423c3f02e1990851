"""Scoring against planted truth: worked examples, and the synthetic feed end to end."""

import math

import pandas as pd
import pyarrow as pa
import pytest

from jobs.anomalies.scoring import entity_score_quality, spike_alert_quality


def _win(rows):
    k, s, e = zip(*rows)
    return pa.table({"series_key": list(k), "window_start": pd.to_datetime(list(s), utc=True),
                     "window_end": pd.to_datetime(list(e), utc=True)})


def test_spike_quality_by_hand():
    alerts = _win([("a", "2024-01-01 10:00", "2024-01-01 11:00"), ("a", "2024-01-05 10:00", "2024-01-05 11:00"),
                   ("b", "2024-01-01 10:00", "2024-01-01 11:00")])
    truth = _win([("a", "2024-01-01 09:00", "2024-01-01 12:00"), ("c", "2024-01-01 00:00", "2024-01-02 00:00")])
    q = spike_alert_quality(alerts, truth)
    assert q["precision"] == pytest.approx(1 / 3) and q["recall"] == pytest.approx(1 / 2)
    assert spike_alert_quality(alerts.slice(0, 0), truth)["precision"] == 1.0


def test_entity_quality_by_hand():
    q = entity_score_quality(["a", "b", "c", "d"], [0.9, 0.8, 0.1, 0.5], {"a", "d"}, ks=(1, 2))
    assert q["p@1"] == 1.0 and q["p@2"] == 0.5
    assert q["roc_auc"] == pytest.approx(0.75)  # pairs (a>b, a>c, d<b, d>c)
    assert q["r_precision"] == 0.5
    assert math.isnan(entity_score_quality(["a"], [1.0], {"a"})["roc_auc"])
    with pytest.raises(ValueError, match="differ"):
        entity_score_quality(["a"], [1.0, 2.0], set())


@pytest.mark.slow
@pytest.mark.integration
def test_synthetic_feed_end_to_end():
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    synth = pytest.importorskip("jobs.synth.generate")
    from jobs.anomalies.entity_features import ACCOUNT_FEATURES, PHONE_FEATURES, account_features, phone_features
    from jobs.anomalies.scoring import atm_truth_windows, synth_to_silver
    from jobs.anomalies.timeseries import count_series
    from jobs.anomalies.spikes import detect_spikes
    from jobs.synth.incidents import from_crimemapping
    from models.anomalies.detectors import ECODDetector, IsolationForestDetector

    inc = from_crimemapping(pcsv.read_csv("data/chicago/aggravated_assaults_2010_2017.csv.gz"))
    feeds = synth.generate(inc, seed=1, scale=0.5)
    silver = synth_to_silver(feeds)
    tx = silver["transactions"]
    ser = count_series(tx.filter(pc.equal(tx["channel"], "atm")), keys=["terminal_id"], time_col="occurred_at", freq="hour")
    q = spike_alert_quality(detect_spikes(ser, freq="hour", tz="America/Chicago"), atm_truth_windows(feeds.truth_atm_spikes))
    assert q["recall"] >= 0.8 and q["precision"] >= 0.6
    ph = phone_features(silver["cdr_events"], cell_sites=silver["cell_sites"], tz="America/Chicago")
    X = np.column_stack([ph[c].to_numpy() for c in PHONE_FEATURES])
    s = IsolationForestDetector(seed=0).fit(X).score_samples(X)
    assert entity_score_quality(ph["phone"].to_pylist(), s, feeds.truth_burners["msisdn"].to_pylist())["roc_auc"] > 0.9
    ac = account_features(tx)
    acc = feeds.truth_accounts.to_pandas()
    X = np.column_stack([ac[c].to_numpy() for c in ACCOUNT_FEATURES])
    s = ECODDetector().fit(X).score_samples(X)
    assert entity_score_quality(ac["account"].to_pylist(), s, acc.account[acc.role == "mule"])["roc_auc"] > 0.9
