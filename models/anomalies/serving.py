"""Serve exported detectors with ONNX Runtime and return scores with the features behind them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pyarrow as pa

from models.anomalies.detectors import top_features
from jobs.anomalies.schemas import ENTITY_SCORES

__all__ = ["OnnxScorer", "score_percentiles"]


def score_percentiles(scores) -> np.ndarray:
    """Percentile of each score among ``scores``: the percentage of them at or below it (0-100].

    The population is every entity one model scored in one run, so a phone's
    percentile reads against phones and an account's against accounts, whatever
    the scale of each model's raw score. Ties share the higher value (the top
    score is the 100th percentile); the order of the raw scores is kept
    (monotone non-decreasing). NaN scores get NaN and are left out of the
    population.

    Notes
    -----
    The "weak" definition of ``scipy.stats.percentileofscore`` (``kind="weak"``),
    the empirical CDF at each score times 100.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    ok = ~np.isnan(s)
    out = np.full(s.shape, np.nan)
    if ok.any():
        pop = np.sort(s[ok])
        out[ok] = 100.0 * np.searchsorted(pop, s[ok], side="right") / len(pop)
    return out


class OnnxScorer:
    """An ONNX Runtime session over an exported detector.

    Parameters
    ----------
    model : onnx.ModelProto or bytes or str
        The model, its serialised bytes, or a path.
    feature_names : sequence of str
        Column order the model expects.
    threshold : float, optional
        Score above which ``score_table`` sets ``flagged``.
    intra_op_threads : int
        ONNX Runtime threads (0: one per core).
    batch_size : int
        Rows per ``run`` call; bounds memory, larger batches amortise call cost.
    """

    def __init__(
        self,
        model: onnx.ModelProto | bytes | str,
        feature_names: Sequence[str],
        *,
        threshold: float | None = None,
        intra_op_threads: int = 0,
        batch_size: int = 262_144,
    ) -> None:
        import onnxruntime as ort

        if isinstance(model, onnx.ModelProto):
            model = model.SerializeToString()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self.feature_names = list(feature_names)
        self.threshold = threshold
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, X) -> dict[str, np.ndarray]:
        """All model outputs for rows of ``X`` (float32), batch by batch."""
        a = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        if a.ndim != 2 or a.shape[1] != len(self.feature_names):
            raise ValueError(f"X must have shape (rows, {len(self.feature_names)}), got {a.shape}")
        name = self.session.get_inputs()[0].name
        parts = [self.session.run(None, {name: a[i : i + self.batch_size]}) for i in range(0, len(a), self.batch_size)]
        if not parts:
            parts = [self.session.run(None, {name: a})]
        return {o: np.concatenate([p[k] for p in parts]) for k, o in enumerate(self.outputs)}

    def score(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(score, contributions)`` as float64."""
        out = self.run(X)
        s = out["score"].astype(np.float64).ravel()
        c = out.get("contributions")
        return s, (c.astype(np.float64) if c is not None else np.zeros((len(s), 0)))

    def score_table(self, features: pa.Table, *, entity_col: str, top_k: int = 3) -> pa.Table:
        """Score a feature table (one row per entity) into :data:`ENTITY_SCORES`, most anomalous first.

        ``score_pct`` is each score's percentile among the table's rows
        (:func:`score_percentiles`), so pass every entity of the model at once.
        """
        missing = [c for c in [entity_col, *self.feature_names] if c not in features.column_names]
        if missing:
            raise ValueError(f"feature table lacks columns {missing}")
        X = np.column_stack([features[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in self.feature_names]) \
            if features.num_rows else np.zeros((0, len(self.feature_names)))
        s, c = self.score(X) if features.num_rows else (np.zeros(0), np.zeros((0, len(self.feature_names))))
        order = np.argsort(-s, kind="stable")
        rank = np.empty(len(s), dtype=np.int64)
        rank[order] = np.arange(1, len(s) + 1)
        tops = top_features(c, self.feature_names, top_k) if len(s) else []
        flagged = s > self.threshold if self.threshold is not None else np.zeros(len(s), bool)
        t = pa.table(
            {
                "entity": features[entity_col].cast(pa.string()),
                "score": pa.array(s),
                "score_pct": pa.array(score_percentiles(s)),
                "rank": pa.array(rank),
                "flagged": pa.array(flagged),
                "top_features": pa.array(
                    [[{"feature": f, "contribution": v} for f, v in row] for row in tops],
                    ENTITY_SCORES.field("top_features").type,
                ),
            },
            schema=ENTITY_SCORES,
        )
        return t.take(pa.array(order))
