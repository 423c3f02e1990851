"""Anomaly benchmark: spike scoring, entity scoring through ONNX Runtime vs native, quality on planted truth.

Usage: ``python benchmarks/anomaly.py [--quick] [--series N] [--days N] [--rows N] [--scale X]``
(defaults: the issue's 10,000 series x 365 days and 1,000,000 entity rows;
synthetic feeds at scale 1.0). Prints every figure; run it on an idle machine,
the timings are wall-clock. Figures recorded in ``docs/anomalies.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.anomalies.entity_features import ACCOUNT_FEATURES, PHONE_FEATURES, account_features, phone_features  # noqa: E402
from jobs.anomalies.scoring import atm_truth_windows, entity_score_quality, spike_alert_quality, synth_to_silver  # noqa: E402
from jobs.anomalies.timeseries import count_series  # noqa: E402
from jobs.anomalies.spikes import detect_spikes  # noqa: E402
from models.anomalies.detectors import ECODDetector, IsolationForestDetector  # noqa: E402
from models.anomalies.onnx_export import export, export_isolation_forest, export_isolation_forest_skl2onnx  # noqa: E402
from models.anomalies.serving import OnnxScorer  # noqa: E402


def timed(f, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_spikes(n_series: int, n_days: int) -> None:
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=n_days, freq="D", tz="UTC")
    lam = rng.gamma(2, 2, size=(n_series, 1)) * (1 + 0.5 * (days.dayofweek.to_numpy() >= 5))[None]
    Y = rng.poisson(lam)
    k = min(50, n_series)
    planted = rng.choice(n_series, k, replace=False)
    at = rng.integers(0, n_days, k)
    Y[planted, at] += np.maximum(10, (4 * lam[planted, 0]).astype(int))
    tbl = pa.table({"series_key": np.repeat([f"s{i:05d}" for i in range(n_series)], n_days),
                    "period_start": np.tile(days, n_series), "count": Y.ravel()})
    sec, out = timed(lambda: detect_spikes(tbl))
    truth = pa.table({"series_key": [f"s{i:05d}" for i in planted],
                      "window_start": days[at], "window_end": days[at] + pd.Timedelta(days=1)})
    q = spike_alert_quality(out, truth)
    print(f"spikes: {n_series} series x {n_days} days = {tbl.num_rows:,} windows in {sec:.2f} s; "
          f"planted {k}: precision {q['precision']:.3f} recall {q['recall']:.3f} ({q['n_alerts']:.0f} alerts)")


def bench_entity_serving(n_rows: int) -> None:
    rng = np.random.default_rng(1)
    F = len(PHONE_FEATURES)
    train = rng.lognormal(size=(20_000, F))
    X = rng.lognormal(size=(n_rows, F))
    for det in (IsolationForestDetector(seed=0), ECODDetector()):
        det.fit(train, feature_names=PHONE_FEATURES)
        name = type(det).__name__
        t_nat, s_nat = timed(lambda: det.score_samples(X))
        t_nat_c, _ = timed(lambda: det.contributions(X))
        for threads in (1, 2):
            sc = OnnxScorer(export(det), PHONE_FEATURES, intra_op_threads=threads)
            t_onnx, (s_onnx, _) = timed(lambda: sc.score(X))
            print(f"{name} {n_rows:,} rows: native score {t_nat:.2f} s (+contributions {t_nat_c:.2f} s); "
                  f"ONNX Runtime score+contributions, {threads} thread(s): {t_onnx:.2f} s; max |diff| {np.abs(s_onnx - s_nat).max():.2e}")
        if isinstance(det, IsolationForestDetector):
            sc = OnnxScorer(export_isolation_forest(det, contributions=False), PHONE_FEATURES, intra_op_threads=1)
            t_one, _ = timed(lambda: sc.score(X))
            import onnxruntime as ort

            m = export_isolation_forest_skl2onnx(det)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            Xp = det._pre(X).astype(np.float32)
            nm = sess.get_inputs()[0].name
            t_skl, _ = timed(lambda: [sess.run(None, {nm: Xp[i:i + 262_144]}) for i in range(0, len(Xp), 262_144)])
            t_sk, _ = timed(lambda: det.forest_.score_samples(Xp))
            print(f"IsolationForest score only: scikit-learn {t_sk:.2f} s; skl2onnx graph ({len(m.graph.node)} nodes) "
                  f"{t_skl:.2f} s (x{t_skl / t_sk:.1f} of scikit-learn); one-op export {t_one:.2f} s "
                  f"(x{t_one / t_sk:.2f})")


def bench_quality(scale: float) -> None:
    import pyarrow.csv as pcsv

    from jobs.synth.generate import generate
    from jobs.synth.incidents import from_crimemapping

    inc = from_crimemapping(pcsv.read_csv(Path(__file__).resolve().parents[1] / "data/chicago/aggravated_assaults_2010_2017.csv.gz"))
    feeds = generate(inc, seed=1, scale=scale)
    silver = synth_to_silver(feeds)
    tx = silver["transactions"]
    atm = tx.filter(pc.equal(tx["channel"], "atm"))
    ser = count_series(atm, keys=["terminal_id"], time_col="occurred_at", freq="hour")
    sec, sp = timed(lambda: detect_spikes(ser, freq="hour", tz="America/Chicago"))
    q = spike_alert_quality(sp, atm_truth_windows(feeds.truth_atm_spikes))
    print(f"ATM spikes (synth scale {scale}): {ser.num_rows:,} terminal-hours in {sec:.2f} s; precision {q['precision']:.3f} "
          f"recall {q['recall']:.3f} ({q['n_alerts']:.0f} alerts, {q['n_truth']:.0f} planted windows)")
    ph = phone_features(silver["cdr_events"], cell_sites=silver["cell_sites"], tz="America/Chicago")
    ac = account_features(tx)
    burners = set(feeds.truth_burners["msisdn"].to_pylist())
    acc = feeds.truth_accounts.to_pandas()
    mules = set(acc.loc[acc.role == "mule", "account"])
    for label, tab, idc, feats, truth in (("burner phones", ph, "phone", PHONE_FEATURES, burners),
                                          ("mule accounts", ac, "account", ACCOUNT_FEATURES, mules)):
        X = np.column_stack([tab[c].to_numpy() for c in feats])
        ids = tab[idc].to_numpy(zero_copy_only=False)
        for det in (IsolationForestDetector(seed=0), ECODDetector()):
            s = det.fit(X, feature_names=feats).score_samples(X)
            m = entity_score_quality(ids, s, truth)
            print(f"{label} ({int(m['n_pos'])}/{int(m['n'])}) {type(det).__name__}: ROC AUC {m['roc_auc']:.4f} "
                  f"AP {m['average_precision']:.3f} p@10 {m['p@10']:.2f} p@50 {m['p@50']:.2f} R-prec {m['r_precision']:.2f}")
        # ECOD is deterministic; the forest's seed-0 figure could be a lucky or unlucky draw
        runs = [entity_score_quality(ids, IsolationForestDetector(seed=k).fit(X, feature_names=feats).score_samples(X), truth)
                for k in range(1, 6)]
        print(f"{label} IsolationForestDetector seeds 1-5: ROC AUC {min(r['roc_auc'] for r in runs):.4f}-"
              f"{max(r['roc_auc'] for r in runs):.4f} AP {min(r['average_precision'] for r in runs):.3f}-"
              f"{max(r['average_precision'] for r in runs):.3f} p@10 {min(r['p@10'] for r in runs):.2f}-"
              f"{max(r['p@10'] for r in runs):.2f} p@50 {min(r['p@50'] for r in runs):.2f}-{max(r['p@50'] for r in runs):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1,000 series and 100,000 entity rows")
    ap.add_argument("--series", type=int, default=None, help="spike series (default 10,000; 1,000 with --quick)")
    ap.add_argument("--days", type=int, default=365, help="days per spike series (default 365)")
    ap.add_argument("--rows", type=int, default=None, help="entity rows to serve (default 1,000,000; 100,000 with --quick)")
    ap.add_argument("--scale", type=float, default=1.0, help="synthetic-feed scale of the quality run (default 1.0)")
    a = ap.parse_args()
    series = a.series or (1_000 if a.quick else 10_000)
    rows = a.rows or (100_000 if a.quick else 1_000_000)
    for name, v in (("--series", series), ("--days", a.days), ("--rows", rows)):
        if v < 1:
            ap.error(f"{name} must be >= 1, got {v}")
    if a.scale <= 0:
        ap.error(f"--scale must be > 0, got {a.scale}")
    bench_spikes(series, a.days)
    bench_entity_serving(rows)
    bench_quality(a.scale)


if __name__ == "__main__":
    main()
