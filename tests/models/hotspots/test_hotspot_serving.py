"""The default (stacked, monotone) learned model, its feature spec, ONNX serving and the MLflow registry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.hotspots.learned import STACK_FEATURES, LearnedForecaster, stacked_model
from models.hotspots.serving import FeatureSpec, OnnxHotspotScorer

_spec = importlib.util.spec_from_file_location("hotspot_models", Path(__file__).with_name("test_hotspot_models.py"))
_m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m)
CELLS, CELLS_T, ORIGIN, _events, _weekly_history = _m.CELLS, _m.CELLS_T, _m.ORIGIN, _m._events, _m._weekly_history


@pytest.fixture(scope="module")
def stacked():
    model = stacked_model(n_valid_periods=8, max_estimators=40, n_jobs=1, zero_fraction=1.0)
    return LearnedForecaster(freq="W", burn_in_periods=8, train_periods=60, model=model).fit(
        _weekly_history(), CELLS_T, origin=ORIGIN)


def test_default_learned_model_is_the_monotone_stack(stacked):
    assert tuple(stacked.model_.feature_names_) == STACK_FEATURES
    default = LearnedForecaster(freq="W", burn_in_periods=8, train_periods=60).fit(
        _weekly_history(), CELLS_T, origin=ORIGIN)
    assert tuple(default.model_.feature_names_) == STACK_FEATURES and default.model_.monotone
    assert "decay_52" in default.features_for([ORIGIN]).column_names
    with pytest.raises(ValueError, match="not columns"):
        stacked_model(features=("no_such_feature",)).fit(stacked.features_for([ORIGIN]).append_column(
            "target", stacked.features_for([ORIGIN]).column("roll_52")))


@pytest.mark.parametrize("cell", [3, 7, 20])
def test_more_recent_crime_never_lowers_risk(stacked, cell):
    extra = _events([CELLS[cell]] * 3, [ORIGIN - pd.Timedelta(days=d) for d in (1, 2, 9)])
    before = stacked.predict(ORIGIN, "W")
    after = LearnedForecaster(freq="W", burn_in_periods=8, train_periods=60, model=stacked.model).fit(
        _weekly_history(), CELLS_T, origin=ORIGIN).update(extra).predict(ORIGIN, "W")
    assert after[cell] >= before[cell] - 1e-9


def test_feature_spec_round_trip_and_onnx_scorer_match_native(stacked):
    spec = FeatureSpec.of(stacked)
    again = FeatureSpec.from_json(spec.to_json())
    assert again.feature_names == spec.feature_names and again.resolution == 9
    scorer = OnnxHotspotScorer(stacked.model_.to_onnx(), again)
    weeks = [ORIGIN - pd.Timedelta(weeks=1), ORIGIN]
    got = scorer.predict_many(_weekly_history(), CELLS_T, weeks)
    np.testing.assert_allclose(got, stacked.predict_many(weeks, "W"), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="grid"):
        scorer.predict_many(_weekly_history(), CELLS_T, [ORIGIN + pd.Timedelta(days=2)])
    with pytest.raises(ValueError, match="lacks"):
        FeatureSpec.from_json('{"feature_names": []}')


def test_registry_logs_and_loads_by_alias(stacked, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    from models.hotspots.serving import SPEC_FILE, load_hotspot_model
    from models.registry import CHALLENGER, aliased, graph_digest, log_onnx_model, set_alias

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    onnx_model = stacked.model_.to_onnx()
    X = stacked.features_for([ORIGIN]).select(list(STACK_FEATURES)).to_pandas().to_numpy(np.float32)[:3]
    v = log_onnx_model(uri, experiment="t", artifact_location=str(tmp_path / "art"), name="m", onnx_model=onnx_model,
                       texts={SPEC_FILE: FeatureSpec.of(stacked).to_json()}, alias=CHALLENGER,
                       input_example=X, output_example=stacked.model_.predict(X), params={"a": 1},
                       metrics={"pai": 2.0}, tags={"k": "v"})
    assert aliased(uri, "m", CHALLENGER) == v and aliased(uri, "m", "champion") is None
    set_alias(uri, v)
    model, spec, got = load_hotspot_model(uri, "models:/m@champion")
    assert got == v and graph_digest(model) == graph_digest(onnx_model)
    assert spec == FeatureSpec.from_json(FeatureSpec.of(stacked).to_json())
    with pytest.raises(LookupError, match="alias"):
        load_hotspot_model(uri, "models:/m@nobody")


#: A feature spec as models registered before ``CellFeatureParams`` logged it (freq and resolution beside the rest).
LEGACY_SPEC = (
    '{"feature_names": ["decay_13", "decay_52", "decay_104", "kde_decay_13", "kde_decay_52", "kde_decay_104", '
    '"roll_52", "ring_roll_52", "rate_all", "ring_rate_all", "kde_intensity"], "feature_params": {"categories": [], '
    '"decay_half_lives": [13, 52, 104], "location_types": [], "max_categories": 0, "max_location_types": 0, '
    '"resolution": 9, "windows": [1, 4, 13, 52]}, "freq": "W", "resolution": 9}'
)


def test_specs_logged_before_the_params_record_still_load_and_score_the_same(stacked):
    from models.hotspots.learned import default_feature_params

    spec = FeatureSpec.from_json(LEGACY_SPEC)
    assert spec.feature_params == default_feature_params("W").replace(categories=(), location_types=())
    assert spec.freq == "W" and spec.resolution == 9 and spec.feature_names == STACK_FEATURES
    got = OnnxHotspotScorer(stacked.model_.to_onnx(), spec).predict_many(_weekly_history(), CELLS_T, [ORIGIN])
    np.testing.assert_allclose(got, stacked.predict_many([ORIGIN], "W"), rtol=1e-4, atol=1e-6)
    # the new spec is complete: the bandwidth the kernel chose, the forecaster's grid anchor
    own = FeatureSpec.of(stacked).feature_params
    assert own.kernel_bandwidth_m is not None and own.anchor == ORIGIN
