"""MLflow registry of hotspot models: log an ONNX model with its feature spec, find and move the champion.

The caller passes the configured ``mlflow`` module (``MlflowTracking.setup()``);
nothing here reads the environment.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.hotspots.serving import FeatureSpec

SPEC_FILE = "feature_spec.json"
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def graph_digest(onnx_model) -> str:
    """SHA-256 of the serialized graph: equal digests mean the same model, whatever run logged it."""
    return hashlib.sha256(onnx_model.graph.SerializeToString()).hexdigest()


def log_hotspot_model(
    mlflow,
    *,
    experiment_id: str,
    name: str,
    onnx_model,
    spec: FeatureSpec,
    input_example: np.ndarray,
    output_example: np.ndarray,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
) -> RegisteredVersion:
    """Log params, metrics, tables (CSV), figures (PNG), the ONNX model with signature and input
    example, and its feature spec in one run; register it as ``name``; alias it ``challenger``."""
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        for fname, df in (tables or {}).items():
            mlflow.log_text(df.to_csv(index=False), fname)
        for fname, fig in (figures or {}).items():
            mlflow.log_figure(fig, fname)
        mlflow.log_text(spec.to_json(), SPEC_FILE)
        if tags:
            mlflow.set_tags(dict(tags))
        X = np.asarray(input_example, dtype=np.float32)
        info = mlflow.onnx.log_model(
            onnx_model, name="model", registered_model_name=name,
            signature=infer_signature(X, np.asarray(output_example, dtype=np.float32).reshape(-1, 1)),
            input_example=X,
        )
    version = info.registered_model_version
    if version is None:
        found = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        version = max(int(v.version) for v in found)
    for k, v in (tags or {}).items():
        client.set_model_version_tag(name, str(version), k, str(v))
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return RegisteredVersion(name, str(version), run.info.run_id)


def aliased(mlflow, name: str, alias: str) -> RegisteredVersion | None:
    """The version ``alias`` points at, or ``None`` when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        mv = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return RegisteredVersion(name, str(mv.version), mv.run_id)


def set_alias(mlflow, version: RegisteredVersion, alias: str = CHAMPION) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().set_registered_model_alias(version.name, alias, version.version)


def load_version(mlflow, version: RegisteredVersion | str):
    """``(onnx ModelProto, FeatureSpec, RegisteredVersion)`` of a version or a ``models:/name@alias`` URI."""
    if isinstance(version, str):
        if "@" not in version:
            raise ValueError(f"expected models:/NAME@ALIAS, got {version!r}")
        name, alias = version.removeprefix("models:/").split("@", 1)
        found = aliased(mlflow, name, alias)
        if found is None:
            raise LookupError(f"no registered model {name!r} with alias {alias!r}: materialise hotspot_model first")
        version = found
    model = mlflow.onnx.load_model(version.uri)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=SPEC_FILE, dst_path=tmp)
        spec = FeatureSpec.from_json(Path(path).read_text())
    return model, spec, version
