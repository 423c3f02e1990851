"""Score anomaly output against planted truth: spike windows and suspicious entities."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import average_precision_score, roc_auc_score


def spike_alert_quality(
    alerts: pa.Table,
    truth: pa.Table,
    *,
    truth_key: str = "series_key",
    truth_start: str = "window_start",
    truth_end: str = "window_end",
) -> dict[str, float]:
    """Precision and recall of spike alerts against planted spike windows.

    An alert (a row of :func:`jobs.anomalies.spikes.detect_spikes` with
    ``alert`` true, or any table with ``series_key``/``window_start``/
    ``window_end``) is a hit when its window overlaps a truth window of the same
    series; a truth window is found when at least one alert overlaps it.

    Returns
    -------
    dict
        ``n_alerts``, ``n_truth``, ``precision`` (hits / alerts), ``recall``
        (found / truth windows), ``f1``. Precision is 1.0 when there are no
        alerts (nothing false was raised); recall 1.0 when there is no truth.
    """
    if "alert" in alerts.column_names:
        alerts = alerts.filter(alerts["alert"])
    a = alerts.select(["series_key", "window_start", "window_end"]).to_pandas()
    t = truth.select([truth_key, truth_start, truth_end]).to_pandas()
    t.columns = ["series_key", "t0", "t1"]
    m = a.reset_index().merge(t.reset_index(), on="series_key", suffixes=("_a", "_t"))
    overlap = (m["window_start"] < m["t1"]) & (m["t0"] < m["window_end"])
    hit_alerts = m.loc[overlap, "index_a"].nunique()
    found = m.loc[overlap, "index_t"].nunique()
    precision = hit_alerts / len(a) if len(a) else 1.0
    recall = found / len(t) if len(t) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"n_alerts": float(len(a)), "n_truth": float(len(t)), "precision": precision, "recall": recall, "f1": f1}


def entity_score_quality(
    entities: Sequence[str] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    truth: Iterable[str],
    *,
    ks: Sequence[int] = (10, 50, 100),
) -> dict[str, float]:
    """Ranking quality of entity anomaly scores against planted positives (burners, mules).

    Parameters
    ----------
    entities, scores
        One score per entity; higher is more anomalous.
    truth
        Identifiers of the planted positives (those absent from ``entities``
        count as missed: they lower recall-type figures, not AUC).

    Returns
    -------
    dict
        ``roc_auc``, ``average_precision``, ``precision_at_k`` for each k
        (``p@10``...), ``recall_at_n_pos`` (R-precision), ``n_pos`` and ``n``.
    """
    ent = np.asarray(entities, dtype=object)
    s = np.asarray(scores, dtype=np.float64)
    if ent.shape != s.shape:
        raise ValueError(f"entities ({ent.shape}) and scores ({s.shape}) differ in length")
    pos = set(truth)
    y = np.fromiter((e in pos for e in ent), dtype=bool, count=len(ent))
    out: dict[str, float] = {"n": float(len(ent)), "n_pos": float(y.sum()), "n_truth": float(len(pos))}
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, s))
        out["average_precision"] = float(average_precision_score(y, s))
    else:
        out["roc_auc"] = out["average_precision"] = float("nan")
    order = np.argsort(-s, kind="stable")
    for k in ks:
        out[f"p@{k}"] = float(y[order[:k]].mean()) if len(y) else float("nan")
    n_pos = int(y.sum())
    out["r_precision"] = float(y[order[:n_pos]].mean()) if n_pos else float("nan")
    return out


def synth_to_silver(feeds) -> dict[str, pa.Table]:
    """Rename the synthetic generator's raw feed columns to the silver names the kernels read.

    ``jobs.synth.generate(...)`` returns feeds as an agency exports them
    (``a_number``, ``b_number``, ``event_type``, ``cgi``, ``booked_at``); the
    ingestion layer maps those to :mod:`jobs.schemas`. This does just the
    renaming, for tests and benchmarks (identifiers stay raw, which the kernels
    do not care about), and passes on the cell-site register (``cell_id,
    site_id``).
    """
    cdr = feeds.cdr_events
    cdr = cdr.rename_columns(
        [{"a_number": "caller", "b_number": "callee", "event_type": "kind", "cgi": "cell_id", "record_id": "event_id"}.get(c, c)
         for c in cdr.column_names]
    )
    tx = feeds.transactions
    tx = tx.rename_columns([{"booked_at": "occurred_at"}.get(c, c) for c in tx.column_names])
    return {"cdr_events": cdr, "transactions": tx, "cell_sites": feeds.cell_sites.select(["cell_id", "site_id"])}


def atm_truth_windows(truth_atm_spikes: pa.Table) -> pa.Table:
    """Synthetic ATM spike truth as ``series_key, window_start, window_end`` (series = terminal id)."""
    d = truth_atm_spikes.to_pandas()
    return pa.Table.from_pandas(
        pd.DataFrame({"series_key": d["terminal_id"].astype(str), "window_start": d["window_start"],
                      "window_end": d["window_end"]}),
        preserve_index=False,
    )
