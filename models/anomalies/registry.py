"""Log exported anomaly models to MLflow and register them.

The caller sets ``MLFLOW_DISABLE_TELEMETRY=true`` (no module reads or writes the
environment on import); the tracking URI is an argument, e.g.
``sqlite:///path/mlflow.db`` locally or a server URL in a deployment.
"""

from __future__ import annotations

from collections.abc import Mapping

import onnx


def register_onnx_model(
    model: onnx.ModelProto,
    *,
    tracking_uri: str,
    name: str,
    experiment: str = "anomalies",
    params: Mapping[str, object] | None = None,
    metrics: Mapping[str, float] | None = None,
    alias: str | None = None,
    artifact_location: str | None = None,
) -> str:
    """Log ``model`` in a new run, register it as ``name`` and return ``models:/name/<version>``.

    Parameters
    ----------
    tracking_uri : str
        MLflow tracking/registry store, e.g. ``sqlite:///tmp/mlflow.db``.
    params, metrics : mappings
        Logged on the run (feature names, quality figures...).
    alias : str, optional
        Alias to point at the new version (e.g. ``"challenger"``).
    artifact_location : str, optional
        Artifact root for a new experiment (default: MLflow's, next to the store).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    if not name:
        raise ValueError("name must be a non-empty registered-model name")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment, artifact_location=artifact_location)
    with mlflow.start_run(experiment_id=exp_id) as run:
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        info = mlflow.onnx.log_model(model, name="model", registered_model_name=name)
    version = info.registered_model_version
    if version is None:
        versions = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        version = max(int(v.version) for v in versions)
    if alias:
        client.set_registered_model_alias(name, alias, str(version))
    return f"models:/{name}/{version}"


def load_onnx_model(uri: str, *, tracking_uri: str) -> onnx.ModelProto:
    """Load a registered ONNX model (``models:/name/1``, ``models:/name@champion``)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.onnx.load_model(uri)
