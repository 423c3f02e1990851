"""The MLflow model registry of every crimefusion model: log an ONNX model, move aliases, load by alias.

Hotspots (``hotspot_lgbm``), entity anomalies (``anomaly_phones``,
``anomaly_accounts``) and vision (``crimefusion-yolo``) register, promote and
load their models through these functions; nothing else calls MLflow's
registry. A version is logged in a run of its own with its params, metrics and
files, and registered under its model name; the run is named for what ran
(:func:`what_ran`: model, method, frequency, data end), which is also the
version's description, and the registered model carries a description of what
it is for. A domain whose new versions must
pass a gate gives each one alias ``challenger``; the gate (a blocking asset
check) moves ``champion`` to it, and serving loads ``models:/NAME@champion``.

Every function takes the tracking URI (``sqlite:///...`` locally, a server URL
in a deployment), which is the registry too. Logging needs MLflow's fluent API:
it is pointed at the store for the call and left as it was. Nothing here reads
the environment (callers set ``MLFLOW_DISABLE_TELEMETRY``), and looking a model
up never creates a local store.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BASELINE_FILE", "CHALLENGER", "CHAMPION", "METHOD_TAG", "RegisteredVersion", "aliased", "artifact_bytes",
    "graph_digest", "load_onnx", "log_onnx_model", "method_of", "register_baseline", "resolve", "run_params",
    "log_run_texts", "set_alias", "set_version_tags", "store_exists", "version_tags", "versions", "what_ran",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
#: MLflow's limit on a param value was 500 characters; longer values are cut, not refused.
PARAM_CHARS = 500


@dataclass(frozen=True)
class RegisteredVersion:
    """One registered model version and the run that logged it."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def graph_digest(onnx_model) -> str:
    """SHA-256 of the serialized graph: equal digests mean the same model, whatever run logged it."""
    return hashlib.sha256(onnx_model.graph.SerializeToString()).hexdigest()


def what_ran(model: str, *what: object, data_end: object = None) -> str:
    """A run's name that says what ran: ``hotspot_lgbm lightgbm week h3r9 data-end 2017-12-31``.

    ``model`` is the registered model (or what the run scores), ``what`` the method and its
    frequency, horizon or resolution (``None`` and empty parts are left out), ``data_end`` the
    last day of the data the run saw (a date, a timestamp or ISO text; its day is kept).
    """
    parts = [str(model), *(str(w) for w in what if w is not None and str(w) != "")]
    if data_end is not None:
        day = data_end.date() if hasattr(data_end, "date") and callable(data_end.date) else data_end
        parts += ["data-end", str(day)[:10]]
    return " ".join(parts)


def store_exists(tracking_uri: str) -> bool:
    """False for a local SQLite store that was never created (it then holds no model); True otherwise."""
    return not tracking_uri.startswith("sqlite:///") or Path(tracking_uri.removeprefix("sqlite:///")).is_file()


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


#: What ``mlflow.set_tracking_uri`` / ``set_registry_uri`` also write into the environment.
_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def point_mlflow(tracking_uri: str, registry_uri: str | None = None):
    """Point MLflow's fluent API at a store (and registry), process-wide, without exporting it; return ``mlflow``.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into ``os.environ``, and the
    settings read that variable as the operator's choice of store: the next definitions built in
    the same process (a test session, a code server) would register in whichever store was used
    last. The variables are put back as they were; MLflow keeps the URIs in its own state.
    """
    import os

    import mlflow

    saved = {k: os.environ.get(k) for k in _MLFLOW_ENV}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return mlflow


@contextlib.contextmanager
def _fluent(tracking_uri: str) -> Iterator:
    """MLflow's fluent API pointed at ``tracking_uri`` (store and registry), restored on exit."""
    import mlflow

    previous, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    point_mlflow(tracking_uri)
    try:
        yield mlflow
    finally:
        point_mlflow(previous, previous_registry)


def log_onnx_model(
    tracking_uri: str,
    *,
    name: str,
    onnx_model,
    experiment: str,
    artifact_location: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, object] | None = None,
    metrics: Mapping[str, float | None] | None = None,
    tags: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
    tables: Mapping[str, object] | None = None,
    figures: Mapping[str, object] | None = None,
    files: Mapping[str, bytes] | None = None,
    input_example: np.ndarray | None = None,
    output_example: np.ndarray | None = None,
    alias: str | None = None,
    save_as_external_data: bool = True,
    description: str | None = None,
) -> RegisteredVersion:
    """Log an ONNX model with what explains it in a new run, register it as ``name``, optionally alias it.

    Parameters
    ----------
    tracking_uri : str
        MLflow store, e.g. ``sqlite:///home/mlflow/mlflow.db`` or ``http://mlflow:5000``.
    name : str
        Registered model name; a new version is created.
    onnx_model : onnx.ModelProto
        The model, logged as MLflow's ``onnx`` flavour under ``model``.
    experiment : str
        Experiment of the run, created with ``artifact_location`` when missing.
    params, metrics, tags : mappings
        Run params (values as text, cut to :data:`PARAM_CHARS`), metrics (``None`` and
        non-finite values are left out) and tags (set on the run and on the model version).
    texts, tables, figures, files : mappings of artifact path to content
        Text, ``pandas.DataFrame`` (written as CSV), matplotlib figures (PNG) and bytes,
        logged in the run beside the model.
    input_example, output_example : numpy arrays, optional
        An input example (float32) and, with it, the model's output on it: the model's
        signature is inferred from the pair.
    alias : str, optional
        Alias to point at the new version (e.g. :data:`CHALLENGER`).
    save_as_external_data : bool
        MLflow's option: large tensors in files beside the graph.
    run_name, description : str, optional
        The run's name (:func:`what_ran`), also the new version's description; the
        registered model's description (what the model is for), set at every registration.

    Returns
    -------
    RegisteredVersion
    """
    if not name:
        raise ValueError("name must be a non-empty registered-model name")
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(
        experiment, artifact_location=artifact_location)
    with _fluent(tracking_uri) as mlflow, mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        if params:
            mlflow.log_params({k: str(v)[:PARAM_CHARS] for k, v in params.items()})
        finite = {k: float(v) for k, v in (metrics or {}).items() if v is not None and np.isfinite(v)}
        if finite:
            mlflow.log_metrics(finite)
        for path, df in (tables or {}).items():
            mlflow.log_text(df.to_csv(index=False), path)
        for path, fig in (figures or {}).items():
            mlflow.log_figure(fig, path)
        for path, text in (texts or {}).items():
            mlflow.log_text(text, path)
        for path, data in (files or {}).items():
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / Path(path).name
                local.write_bytes(data)
                mlflow.log_artifact(str(local), str(Path(path).parent) if Path(path).parent != Path(".") else None)
        if tags:
            mlflow.set_tags(dict(tags))
        if description:  # the run page's Description: what the model is for (MLflow's note tag)
            mlflow.set_tag("mlflow.note.content", description)
        example = {}
        if input_example is not None:
            from mlflow.models import infer_signature

            X = np.asarray(input_example, dtype=np.float32)
            example["input_example"] = X
            if output_example is not None:
                example["signature"] = infer_signature(X, np.asarray(output_example, dtype=np.float32).reshape(-1, 1))
        info = mlflow.onnx.log_model(onnx_model, name="model", registered_model_name=name,
                                     save_as_external_data=save_as_external_data, **example)
    version = info.registered_model_version
    if version is None:
        logged = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        version = max(int(v.version) for v in logged)
    for k, v in (tags or {}).items():
        client.set_model_version_tag(name, str(version), k, str(v))
    if description:
        client.update_registered_model(name, description=description)
    if run_name:
        client.update_model_version(name, str(version), description=run_name)
    registered = RegisteredVersion(name, str(version), run.info.run_id)
    if alias:
        set_alias(tracking_uri, registered, alias)
    return registered


def aliased(tracking_uri: str, name: str, alias: str) -> RegisteredVersion | None:
    """The version ``alias`` points at, or ``None`` when the store, the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    if not store_exists(tracking_uri):
        return None
    try:
        mv = _client(tracking_uri).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return RegisteredVersion(name, str(mv.version), mv.run_id)


def set_alias(tracking_uri: str, version: RegisteredVersion, alias: str = CHAMPION) -> None:
    """Point ``alias`` of ``version.name`` at ``version`` (moving it from wherever it pointed)."""
    _client(tracking_uri).set_registered_model_alias(version.name, alias, version.version)


def versions(tracking_uri: str, name: str) -> list[int]:
    """Every registered version number of ``name``, ascending (none when the store does not exist)."""
    if not store_exists(tracking_uri):
        return []
    return sorted(int(v.version) for v in _client(tracking_uri).search_model_versions(f"name = '{name}'"))


def resolve(tracking_uri: str, ref: RegisteredVersion | str) -> RegisteredVersion:
    """The version behind ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (a version is returned as is).

    Raises
    ------
    ValueError
        ``ref`` is not one of those URIs.
    LookupError
        No such alias or version in the store.
    """
    if isinstance(ref, RegisteredVersion):
        return ref
    body = ref.removeprefix("models:/") if isinstance(ref, str) else ""
    if not body or body == ref or ("@" not in body and "/" not in body):
        raise ValueError(f"expected models:/NAME@ALIAS or models:/NAME/VERSION, got {ref!r}")
    if "@" in body:
        name, alias = body.split("@", 1)
        found = aliased(tracking_uri, name, alias)
        if found is None:
            raise LookupError(f"no registered model {name!r} with alias {alias!r} in {tracking_uri}: "
                              f"materialise the asset that registers it first")
        return found
    from mlflow.exceptions import MlflowException

    name, number = body.rsplit("/", 1)
    try:
        if not store_exists(tracking_uri):
            raise MlflowException(f"no store at {tracking_uri}")
        if number == "latest":  # as MLflow reads models:/NAME/latest
            numbers = versions(tracking_uri, name)
            if not numbers:
                raise MlflowException("it has no version")
            number = str(numbers[-1])
        mv = _client(tracking_uri).get_model_version(name, number)
    except MlflowException as exc:
        raise LookupError(f"no version {number!r} of registered model {name!r} in {tracking_uri}: {exc}") from None
    return RegisteredVersion(name, str(mv.version), mv.run_id)


def load_onnx(tracking_uri: str, ref: RegisteredVersion | str):
    """``(onnx.ModelProto, RegisteredVersion)`` of a version, ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    The alias is resolved once, so the model and the version returned belong together even
    when the alias moves meanwhile.
    """
    import mlflow.onnx

    version = resolve(tracking_uri, ref)
    with _fluent(tracking_uri):  # MLflow reads models:/ URIs through the process's registry
        model = mlflow.onnx.load_model(version.uri)
    return model, version


def artifact_bytes(tracking_uri: str, version: RegisteredVersion, path: str) -> bytes:
    """The content of a file logged in ``version``'s run (e.g. ``feature_spec.json``)."""
    with tempfile.TemporaryDirectory() as tmp:
        return Path(_client(tracking_uri).download_artifacts(version.run_id, path, tmp)).read_bytes()


def run_params(tracking_uri: str, version: RegisteredVersion) -> dict[str, str]:
    """The params logged in ``version``'s run."""
    return dict(_client(tracking_uri).get_run(version.run_id).data.params)


#: Version tag naming the method a registered version serves (``learned`` or a baseline's name).
METHOD_TAG = "method"
#: Run artifact of a registered baseline: its method, parameters and resolution (no graph: it is refitted
#: on the incidents before each period it scores).
BASELINE_FILE = "baseline/baseline.json"


def register_baseline(
    tracking_uri: str,
    *,
    name: str,
    method: str,
    params: Mapping[str, object],
    experiment: str,
    artifact_location: str | None = None,
    run_name: str | None = None,
    metrics: Mapping[str, float | None] | None = None,
    tags: Mapping[str, str] | None = None,
    alias: str | None = None,
) -> RegisteredVersion:
    """Register a baseline forecaster as a version of ``name``, as a model is registered.

    A baseline has no trained graph: the version's run holds :data:`BASELINE_FILE`
    (``{"method", "params"}``) and the version carries the tag ``method=<method>``,
    so a champion alias can point at it and serving refits it on the incidents
    before each period (:func:`models.hotspots.serving.load_hotspot_scorer`).
    """
    import json

    if not name or not method:
        raise ValueError("name and method must be non-empty")
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(
        experiment, artifact_location=artifact_location)
    all_tags = {**(tags or {}), METHOD_TAG: method}
    with _fluent(tracking_uri) as mlflow, mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params({"method": method, **{k: str(v)[:PARAM_CHARS] for k, v in params.items()}})
        finite = {k: float(v) for k, v in (metrics or {}).items() if v is not None and np.isfinite(v)}
        if finite:
            mlflow.log_metrics(finite)
        mlflow.set_tags(all_tags)
        mlflow.log_text(json.dumps({"method": method, "params": dict(params)}, sort_keys=True, default=str),
                        BASELINE_FILE)
        source = f"{run.info.artifact_uri}/{Path(BASELINE_FILE).parent}"
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    mv = client.create_model_version(name, source=source, run_id=run.info.run_id, tags=all_tags)
    registered = RegisteredVersion(name, str(mv.version), run.info.run_id)
    if alias:
        set_alias(tracking_uri, registered, alias)
    return registered


def version_tags(tracking_uri: str, version: RegisteredVersion) -> dict[str, str]:
    """The tags of a registered version."""
    return dict(_client(tracking_uri).get_model_version(version.name, version.version).tags)


def set_version_tags(tracking_uri: str, version: RegisteredVersion, tags: Mapping[str, object]) -> None:
    """Set tags on a registered version (e.g. the gate's decision on the version it promoted)."""
    client = _client(tracking_uri)
    for k, v in tags.items():
        client.set_model_version_tag(version.name, version.version, k, str(v))


def method_of(tracking_uri: str, version: RegisteredVersion) -> str:
    """The method a version serves: its :data:`METHOD_TAG`, ``learned`` for versions registered before it."""
    return version_tags(tracking_uri, version).get(METHOD_TAG, "learned")


def log_run_texts(tracking_uri: str, run_id: str, texts: Mapping[str, str]) -> None:
    """Add text artifacts (path -> content) to an existing run (a model card written after registration)."""
    client = _client(tracking_uri)
    for path, text in texts.items():
        client.log_text(run_id, text, path)
