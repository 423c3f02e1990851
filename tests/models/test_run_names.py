"""MLflow runs are named for what ran (model, method, frequency, data end) and registered models carry a description
(models/registry.py ``what_ran``, ``log_onnx_model(description=...)``), for each model the project registers."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from models.registry import what_ran

onnx = pytest.importorskip("onnx")
pytest.importorskip("mlflow")


@pytest.mark.parametrize("args, kwargs, expected", [
    (("hotspot_lgbm", "lightgbm", "week", "h3r9"), {"data_end": dt.date(2017, 12, 31)},
     "hotspot_lgbm lightgbm week h3r9 data-end 2017-12-31"),
    (("anomaly_phones", "isolation_forest", "phone_features"),
     {"data_end": pd.Timestamp("2024-03-31 23:59:59", tz="UTC")}, "anomaly_phones isolation_forest phone_features "
                                                                  "data-end 2024-03-31"),
    (("spike_alerts", None, "", "negbin-fdr"), {"data_end": "2024-03-31"}, "spike_alerts negbin-fdr data-end 2024-03-31"),
    (("crimefusion-yolo", "yolo11n"), {}, "crimefusion-yolo yolo11n"),  # no data end: images have none
])
def test_what_ran(args, kwargs, expected):
    assert what_ran(*args, **kwargs) == expected


def test_hotspot_run_name_says_model_period_cells_and_data_end():
    from jobs.grid.params import CellFeatureParams
    from models.hotspots.serving import FeatureSpec
    from models.hotspots.training import TrainedHotspotModel

    def fitted(freq, resolution, origin):
        return TrainedHotspotModel(model=None, onnx_model=None, parity=None,
                                   spec=FeatureSpec(("roll_52",), CellFeatureParams(resolution=resolution, freq=freq)),
                                   trained_to=pd.Timestamp("2017-06-05", tz="UTC"), origin=pd.Timestamp(origin, tz="UTC"))

    # origin: the week after the table's last week (Monday 2017-12-25), so the data end on Sunday 2017-12-31
    assert fitted("W", 9, "2018-01-01").run_name("hotspot_lgbm") == "hotspot_lgbm lightgbm week h3r9 data-end 2017-12-31"
    assert fitted("D", 8, "2018-01-01").run_name("m") == "m lightgbm day h3r8 data-end 2017-12-31"


def test_entity_models_are_named_and_described(monkeypatch):
    import models.registry as registry
    from models.anomalies.champion import DESCRIPTIONS, register_challenger
    from models.anomalies.scoring import ENTITY_MODELS

    calls = []
    monkeypatch.setattr(registry, "log_onnx_model", lambda uri, **kw: calls.append(kw))
    fitted = SimpleNamespace(detector=SimpleNamespace(threshold_=0.5), onnx_model=None, quality={},
                             parity={"max_abs_diff_score": 0.0, "max_abs_diff_contributions": 0.0,
                                     "rows_mismatched": 0})
    for spec in ENTITY_MODELS:
        register_challenger("sqlite:///unused.db", spec, fitted, experiment="anomalies", params={},
                            data_end=pd.Timestamp("2024-03-31 22:00", tz="UTC"))
    assert [c["run_name"] for c in calls] == ["anomaly_phones isolation_forest phone_features data-end 2024-03-31",
                                              "anomaly_accounts ecod account_features data-end 2024-03-31"]
    assert [c["description"] for c in calls] == [DESCRIPTIONS["phone"], DESCRIPTIONS["account"]]
    assert "Isolation Forest" in DESCRIPTIONS["phone"] and "ECOD" in DESCRIPTIONS["account"]


def test_yolo_run_name():
    from vision.train import training_run_name

    assert training_run_name("crimefusion-yolo", model="yolo11n.yaml", epochs=30, imgsz=320,
                             data="/data/synthetic/data.yaml") == "crimefusion-yolo yolo11n 30-epochs imgsz-320 data-synthetic"


def test_registration_sets_the_run_name_and_descriptions(tmp_path):
    """On a real local store: the run's name, the version's description (the same words) and the model's."""
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient
    from onnx import TensorProto, helper

    from models.registry import log_onnx_model

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    name = what_ran("m", "identity", "week", data_end=dt.date(2017, 12, 31))
    v = log_onnx_model(uri, name="m", onnx_model=model, experiment="exp", artifact_location=str(tmp_path / "a"),
                       run_name=name, description="What m is for.", save_as_external_data=False)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.get_run(v.run_id).info.run_name == "m identity week data-end 2017-12-31"
    assert client.get_model_version("m", v.version).description == name
    assert client.get_registered_model("m").description == "What m is for."
