"""Entity anomaly models: which detector fits which feature table, the feature matrix, and the scored rows.

Phones are scored by an Isolation Forest and accounts by ECOD (the pairing
``benchmarks/anomaly.py`` measures best on the planted burners and mules;
figures in ``docs/anomalies.md``). Each is registered in MLflow under its own
name (:data:`ENTITY_MODELS`) with the pickled native detector as a run
artifact (:data:`NATIVE_ARTIFACT`), which the ONNX parity gate reads back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.anomalies.entity_features import ACCOUNT_FEATURES, PHONE_FEATURES
from jobs.schemas import UTC_TS
from jobs.anomalies.schemas import ENTITY_ANOMALIES

__all__ = ["ENTITY_MODELS", "NATIVE_ARTIFACT", "EntityModel", "FittedEntityModel", "feature_matrix",
           "fit_entity_model", "make_detector", "score_entities"]

#: Artifact of each registered model's run holding the pickled native detector (for the parity check).
NATIVE_ARTIFACT = "native/detector.pkl"


@dataclass(frozen=True)
class EntityModel:
    """One entity type: its feature table, detector and registered model."""

    entity_type: str
    table: str
    entity_col: str
    features: tuple[str, ...]
    detector: str  # isolation_forest | ecod
    model_name: str


ENTITY_MODELS = (
    EntityModel("phone", "phone_features", "phone", tuple(PHONE_FEATURES), "isolation_forest", "anomaly_phones"),
    EntityModel("account", "account_features", "account", tuple(ACCOUNT_FEATURES), "ecod", "anomaly_accounts"),
)


def feature_matrix(table: pa.Table, features: Sequence[str]) -> np.ndarray:
    """Rows x features (float64), NaN as 0 (a ratio without denominator)."""
    missing = [c for c in features if c not in table.column_names]
    if missing:
        raise ValueError(f"feature table lacks columns {missing}; rematerialise its features asset")
    if not table.num_rows:
        return np.zeros((0, len(features)))
    X = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in features])
    return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)


def make_detector(spec: EntityModel, *, n_estimators: int = 100, contamination: float = 0.01, seed: int = 0):
    """An unfitted detector of ``spec.detector`` (Isolation Forest with ``n_estimators`` trees and ``seed``, or ECOD)."""
    from models.anomalies.detectors import ECODDetector, IsolationForestDetector

    if spec.detector == "isolation_forest":
        return IsolationForestDetector(n_estimators=n_estimators, contamination=contamination, seed=seed)
    return ECODDetector(contamination=contamination)


@dataclass(frozen=True)
class FittedEntityModel:
    """A fitted detector, its ONNX export, their parity on the training rows and its quality against truth."""

    detector: object
    onnx_model: object
    parity: dict
    quality: dict

    def describe(self) -> str:
        """The parity and truth figures in one line (for logs)."""
        line = f"ONNX max |diff| {self.parity['max_abs_diff_score']:.1e}"
        q = self.quality
        if q:
            line += (f"; vs truth ({int(q['n_pos'])} planted): ROC AUC {q['roc_auc']:.3f}, "
                     f"AP {q['average_precision']:.3f}, p@10 {q['p@10']:.2f}")
        return line


def fit_entity_model(spec: EntityModel, X: np.ndarray, ids: np.ndarray, positives: set[str] | None, *,
                     n_estimators: int = 100, contamination: float = 0.01, seed: int = 0) -> FittedEntityModel:
    """Fit ``spec``'s detector on ``X``, export it to ONNX and check the export on the same rows.

    ``quality`` ranks the training rows' scores against the planted
    ``positives`` (:func:`jobs.anomalies.scoring.entity_score_quality`;
    empty without positives).
    """
    from jobs.anomalies.scoring import entity_score_quality
    from models.anomalies.onnx_export import export
    from models.anomalies.parity import onnx_parity

    det = make_detector(spec, n_estimators=n_estimators, contamination=contamination, seed=seed)
    det = det.fit(X, feature_names=list(spec.features))
    model = export(det)
    parity = onnx_parity(det, model, X, spec.features)
    quality = entity_score_quality(ids, det.score_samples(X), positives) if positives else {}
    return FittedEntityModel(detector=det, onnx_model=model, parity=parity, quality=quality)


def score_entities(scorer, features: pa.Table, spec: EntityModel, *, model_uri: str,
                   scored_at: pd.Timestamp, features_version: int | None = None) -> pa.Table:
    """Every row of a feature table scored by ``scorer`` (:class:`models.anomalies.serving.OnnxScorer`), as
    :data:`ENTITY_ANOMALIES` rows, most unusual first, with the three features behind each score and its
    percentile among the table's rows (``score_pct``: the raw scores of different models are on different scales)."""
    X = feature_matrix(features, scorer.feature_names)
    clean = pa.table({spec.entity_col: features[spec.entity_col],
                      **{c: pa.array(X[:, i]) for i, c in enumerate(scorer.feature_names)}})
    scored = scorer.score_table(clean, entity_col=spec.entity_col, top_k=3)
    n = scored.num_rows
    name, _, number = model_uri.removeprefix("models:/").partition("/")  # models:/NAME/VERSION
    return pa.table({"entity": scored["entity"], "entity_type": pa.array([spec.entity_type] * n, pa.string()),
                     "score": scored["score"], "rank": scored["rank"], "flagged": scored["flagged"],
                     "top_features": scored["top_features"], "model_uri": pa.array([model_uri] * n, pa.string()),
                     "scored_at": pa.array([scored_at.to_pydatetime()] * n, UTC_TS),
                     "score_pct": scored["score_pct"],
                     "model_name": pa.array([name] * n, pa.string()),
                     "model_version": pa.array([number] * n, pa.string()),
                     "features_version": pa.array([features_version] * n, pa.int64())}, schema=ENTITY_ANOMALIES)
