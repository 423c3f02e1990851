"""The entity models' lifecycle in the registry: challenger, parity gate, champion served.

:func:`register_challenger` logs a version of ``anomaly_phones`` or
``anomaly_accounts`` with alias ``challenger`` (:func:`models.registry.log_onnx_model`)
and its pickled native detector (:data:`models.anomalies.scoring.NATIVE_ARTIFACT`).
:func:`gate_challenger` scores a feature table with both the registered ONNX
graph and that detector (:func:`models.anomalies.parity.onnx_parity`) and
moves ``champion`` to the challenger when they agree; :func:`load_scorer`
serves ``models:/NAME@champion`` with the feature order and threshold of its
run. Every function takes the MLflow tracking URI (the registry).
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pyarrow as pa

from models.anomalies.parity import onnx_parity
from models.anomalies.scoring import NATIVE_ARTIFACT, EntityModel, FittedEntityModel, feature_matrix
from models.registry import CHALLENGER, CHAMPION, RegisteredVersion

__all__ = ["DESCRIPTIONS", "gate_challenger", "load_scorer", "register_challenger"]

_SERVED = ("Exported to ONNX with each feature's contribution to the score. The entity_anomaly_model asset registers "
           "each version with alias challenger; the ONNX parity check moves alias champion, which entity_anomalies "
           "serves. Each version's description names the detector, its feature table and the last day of data.")
#: Description of each registered entity model (MLflow's model page), by entity type.
DESCRIPTIONS = {
    "phone": ("Burner-phone profile: an Isolation Forest anomaly score for every pseudonymised phone, from gold "
              "phone_features (contacts, share of new contacts, night share, cell sites, handsets and IMEI changes, "
              "SIMs per handset, lifetime and activity). " + _SERVED),
    "account": ("Money-mule profile: an ECOD anomaly score for every pseudonymised account, from gold "
                "account_features (fan-in, fan-out, velocity, round amounts, ATM share, inflow, outflow and "
                "pass-through). " + _SERVED),
}


def register_challenger(tracking_uri: str, spec: EntityModel, fitted: FittedEntityModel, *, experiment: str,
                        params: dict, data_end=None) -> RegisteredVersion:
    """Log ``fitted`` in a run of ``experiment`` and register it as ``spec.model_name`` with alias ``challenger``.

    The run holds the ONNX graph, the pickled native detector
    (:data:`~models.anomalies.scoring.NATIVE_ARTIFACT`, read back by
    :func:`gate_challenger`), the feature order and threshold that
    :func:`load_scorer` serves with, ``params`` (training settings), and the
    truth and parity figures as metrics. The run is named for the model, its
    detector and feature table and ``data_end`` (the last day of the records
    the features were built from, when known); the registered model gets
    :data:`DESCRIPTIONS`.
    """
    from models.registry import log_onnx_model, what_ran

    det, parity = fitted.detector, fitted.parity
    return log_onnx_model(
        tracking_uri, name=spec.model_name, onnx_model=fitted.onnx_model, experiment=experiment, alias=CHALLENGER,
        run_name=what_ran(spec.model_name, spec.detector, spec.table, data_end=data_end),
        description=DESCRIPTIONS.get(spec.entity_type),
        files={NATIVE_ARTIFACT: pickle.dumps(det)},
        params={"entity_type": spec.entity_type, "detector": spec.detector,
                "feature_names": json.dumps(list(spec.features)), "threshold": repr(float(det.threshold_)), **params},
        metrics={**_finite(fitted.quality), "onnx_max_abs_diff_score": parity["max_abs_diff_score"],
                 "onnx_max_abs_diff_contributions": parity["max_abs_diff_contributions"],
                 "onnx_rows_mismatched": parity["rows_mismatched"]},
    )


def _finite(d: dict) -> dict[str, float]:
    """Finite figures under names MLflow accepts (``p@10`` becomes ``p_at_10``)."""
    return {k.replace("@", "_at_"): float(v) for k, v in d.items()
            if isinstance(v, (int, float, np.floating)) and np.isfinite(v)}


def gate_challenger(tracking_uri: str, challenger: RegisteredVersion, features: pa.Table) -> dict:
    """Parity of ``challenger``'s ONNX graph with its native detector on ``features``; promotes it when it passes.

    Returns the :func:`models.anomalies.parity.onnx_parity` figures; ``champion``
    moves to ``challenger`` only when ``passed`` is true.
    """
    from models.registry import artifact_bytes, load_onnx, set_alias

    model, _ = load_onnx(tracking_uri, challenger)
    detector = pickle.loads(artifact_bytes(tracking_uri, challenger, NATIVE_ARTIFACT))
    X = feature_matrix(features, detector.feature_names_)
    parity = onnx_parity(detector, model, X, detector.feature_names_)
    if parity["passed"]:
        set_alias(tracking_uri, challenger, CHAMPION)
    return parity


def load_scorer(tracking_uri: str, model_name: str, alias: str = CHAMPION):
    """``(OnnxScorer, model_uri)`` of ``models:/<model_name>@<alias>`` with the feature order and threshold of its
    run, or None when the alias is not registered."""
    from models.anomalies.serving import OnnxScorer
    from models.registry import aliased, load_onnx, run_params

    version = aliased(tracking_uri, model_name, alias)
    if version is None:
        return None
    params = run_params(tracking_uri, version)
    model, _ = load_onnx(tracking_uri, version)
    return OnnxScorer(model, json.loads(params["feature_names"]), threshold=float(params["threshold"])), version.uri

