"""The one model registry (models/registry.py) on a real local MLflow store (SQLite + artifact folder), no mocks.

Hotspots, anomalies and vision all log, promote and load through it; their own tests cover the domain
files (feature spec, native detector, YOLO cache), these the registry's contract.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("mlflow")


def _times(k: float):
    """A one-op ONNX graph ``y = k * x`` (float32, ``[N, 2]``): tiny, and its digest differs per ``k``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"])], f"times_{k}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[numpy_helper.from_array(np.array(k, dtype=np.float32), "k")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.asarray(x, dtype=np.float32)})[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding model ``m``: v1 (``y = 2x``, alias challenger) and v2 (``y = 3x``, no alias)."""
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    from models.registry import CHALLENGER, log_onnx_model

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    v1 = log_onnx_model(uri, name="m", onnx_model=_times(2.0), experiment="exp",
                        artifact_location=str(root / "artifacts"), run_name="first",
                        params={"long": "x" * 600, "n": 3}, metrics={"auc": 0.9, "nan": float("nan"), "none": None},
                        tags={"origin": "2017-12-25"}, texts={"spec.json": '{"a": 1}'},
                        files={"native/detector.pkl": b"\x00pickled"}, alias=CHALLENGER)
    v2 = log_onnx_model(uri, name="m", onnx_model=_times(3.0), experiment="exp", save_as_external_data=False,
                        input_example=np.ones((2, 2), np.float32), output_example=np.full(2, 3.0))
    after = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    return uri, root, v1, v2, before, after


def test_log_registers_new_versions_with_their_run(store):
    from mlflow.tracking import MlflowClient

    from models.registry import artifact_bytes, run_params, versions

    uri, root, v1, v2, _, _ = store
    assert (v1.name, v1.version, v1.uri) == ("m", "1", "models:/m/1")
    assert (v2.version, v2.uri) == ("2", "models:/m/2") and v1.run_id != v2.run_id
    assert versions(uri, "m") == [1, 2] and versions(uri, "nothing") == []
    params = run_params(uri, v1)
    assert params["n"] == "3" and params["long"] == "x" * 500  # cut to MLflow's old 500-character limit
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(v1.run_id)
    assert run.data.metrics == {"auc": 0.9}  # NaN and None are not metrics
    assert run.data.tags["origin"] == "2017-12-25" and run.info.run_name == "first"
    assert client.get_model_version("m", "1").tags == {"origin": "2017-12-25"}
    assert artifact_bytes(uri, v1, "spec.json") == b'{"a": 1}'
    assert artifact_bytes(uri, v1, "native/detector.pkl") == b"\x00pickled"
    assert run.info.artifact_uri.startswith(str(root / "artifacts"))  # the new experiment's artifact location


def test_logging_leaves_the_process_mlflow_target_alone(store):
    *_, before, after = store
    assert after == before


def test_aliases_challenger_champion_and_moves(store):
    from models.registry import CHALLENGER, CHAMPION, RegisteredVersion, aliased, set_alias

    uri, _, v1, v2, _, _ = store
    assert aliased(uri, "m", CHALLENGER) == v1
    assert aliased(uri, "m", "nobody") is None and aliased(uri, "no-such-model", CHAMPION) is None
    set_alias(uri, v1)  # champion by default
    assert aliased(uri, "m", CHAMPION) == v1
    set_alias(uri, v2, CHAMPION)
    assert aliased(uri, "m", CHAMPION) == v2 and aliased(uri, "m", CHALLENGER) == v1
    assert isinstance(aliased(uri, "m", CHAMPION), RegisteredVersion)


@pytest.mark.parametrize("ref, version", [("models:/m@challenger", "1"), ("models:/m/1", "1"), ("models:/m/2", "2"),
                                          ("models:/m/latest", "2")])
def test_resolve_and_load_onnx_by_alias_or_version(store, ref, version):
    from models.registry import graph_digest, load_onnx, resolve

    uri, *_ = store
    assert resolve(uri, ref).version == version
    model, got = load_onnx(uri, ref)
    assert got.version == version
    k = {"1": 2.0, "2": 3.0}[version]
    assert graph_digest(model) == graph_digest(_times(k))
    np.testing.assert_allclose(_run(model, [[1.0, -2.0]]), [[k, -2.0 * k]])


@pytest.mark.parametrize("ref, error, match", [
    ("models:/m@nobody", LookupError, "alias 'nobody'"),
    ("models:/m/9", LookupError, "version '9'"),
    ("models:/no-such-model/latest", LookupError, "no-such-model"),
    ("m@champion", ValueError, "models:/NAME@ALIAS"),
    ("models:/m", ValueError, "models:/NAME@ALIAS"),
])
def test_bad_references_say_what_is_missing(store, ref, error, match):
    from models.registry import load_onnx

    uri, *_ = store
    with pytest.raises(error, match=match):
        load_onnx(uri, ref)


def test_a_missing_local_store_has_no_model_and_is_not_created(tmp_path):
    from models.registry import aliased, resolve, store_exists, versions

    uri = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    assert not store_exists(uri)
    assert aliased(uri, "m", "champion") is None and versions(uri, "m") == []
    with pytest.raises(LookupError):
        resolve(uri, "models:/m/1")
    assert not (tmp_path / "none").exists()
    assert store_exists("http://mlflow:5000")


def test_graph_digest_names_the_graph_not_the_run():
    from models.registry import graph_digest

    assert graph_digest(_times(2.0)) == graph_digest(_times(2.0)) != graph_digest(_times(3.0))


def test_a_baseline_registers_like_a_model_and_serves_by_alias(store, tmp_path):
    """A baseline champion: a version with tag method and its parameters, loadable as a scorer by alias."""
    import datetime as dt

    import h3
    import pyarrow as pa

    from models.hotspots.serving import BaselineScorer, load_hotspot_scorer
    from models.registry import (CHAMPION, METHOD_TAG, aliased, method_of, register_baseline, set_version_tags,
                                 version_tags)

    uri, root, v1, v2, *_ = store
    base = register_baseline(uri, name="hot", method="kde", params={"bandwidth_m": 250.0, "window_days": 90,
                                                                   "resolution": 8, "freq": "W"},
                             experiment="exp", run_name="baseline kde", metrics={"gate_pai_1pct": 9.4},
                             tags={"won_by": "PAI@1% 9.40; vs challenger +0.31"}, alias=CHAMPION)
    assert base.version == "1" and aliased(uri, "hot", CHAMPION) == base
    assert method_of(uri, base) == "kde" and method_of(uri, v1) == "learned"  # untagged: an old learned version
    assert version_tags(uri, base)[METHOD_TAG] == "kde"
    set_version_tags(uri, base, {"gate_decision": "promoted"})
    assert version_tags(uri, base)["gate_decision"] == "promoted"
    scorer, version, method = load_hotspot_scorer(uri, f"models:/hot@{CHAMPION}")
    assert isinstance(scorer, BaselineScorer) and version == base and method == "kde"
    assert (scorer.method, scorer.params, scorer.resolution, scorer.freq) == \
        ("kde", {"bandwidth_m": 250.0, "window_days": 90}, 8, "W")
    # it scores: the one cell with past crime ranks first
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(41.88, -87.63, 8), 1))
    t = [dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=5 * i) for i in range(20)]
    inc = pa.table({"occurred_at": pa.array(t, pa.timestamp("us", tz="UTC")), "h3": [cells[3]] * 20,
                    "lon": [h3.cell_to_latlng(cells[3])[1]] * 20, "lat": [h3.cell_to_latlng(cells[3])[0]] * 20})
    cells_t = pa.table({"h3": cells, "area_km2": [h3.cell_area(c, "km^2") for c in cells]})
    scores = scorer.predict_many(inc, cells_t, [dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc)])
    assert scores.shape == (1, len(cells)) and int(scores[0].argmax()) == 3
    with pytest.raises(ValueError, match="resolution"):
        scorer.predict_many(inc, pa.table({"h3": [h3.cell_to_parent(cells[0], 7)], "area_km2": [1.0]}),
                            [dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc)])
    with pytest.raises(ValueError, match="non-empty"):
        register_baseline(uri, name="hot", method="", params={}, experiment="exp")


def test_using_a_store_does_not_export_it_to_the_environment(tmp_path, monkeypatch):
    """mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI; the settings read that variable as the operator's
    store, so definitions built later in the same process registered in the last store used."""
    import os

    import mlflow

    from models.registry import log_onnx_model, point_mlflow
    from orchestration.resources.tracking import default_tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    (tmp_path / "a").mkdir()
    log_onnx_model(uri, name="times", onnx_model=_times(2.0), experiment="e",
                   artifact_location=(tmp_path / "art").as_uri())
    default_tracking(tmp_path / "home").setup()
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert default_tracking(tmp_path / "other").tracking_uri.endswith(str(tmp_path / "other" / "mlflow" / "mlflow.db"))
    assert mlflow.get_tracking_uri() == default_tracking(tmp_path / "home").tracking_uri  # MLflow still points there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")  # the operator's choice stays
    point_mlflow(uri)
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mlflow.internal:5000"
