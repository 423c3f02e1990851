"""Behaviour of the pairwise series-linkage model on planted synthetic series."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pytest

from jobs.patterns.crime_series import SERIES_FEATURES
from jobs.synth.incidents import from_crimemapping
from models.crime_series.linkage import (
    MIN_HELDOUT_AUC,
    SeriesLinkageModel,
    label_pairs,
    series_folds,
    synthetic_series,
    train_linkage,
)
from tests.helpers import data_path

NAME = "chicago/aggravated_assaults_2010_2017.csv.gz"


@pytest.fixture(scope="module")
def planted():
    raw = pv.read_csv(data_path(NAME), convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)
    return synthetic_series(inc.slice(inc.num_rows - 8_000), seed=11, n_series=60, days=60)


@pytest.mark.parametrize("method", ["logistic", pytest.param("gbm", marks=pytest.mark.slow)])
def test_heldout_auc_on_planted_series(planted, method):
    enriched, truth = planted
    if method == "gbm":  # the slower family on a smaller share of pairs
        report = train_linkage(enriched, truth, method=method, seed=1, max_distance_m=2500, max_days=30)
    else:
        report = train_linkage(enriched, truth, method=method, seed=1)
    assert report.heldout_auc >= MIN_HELDOUT_AUC, report.summary()
    assert report.n_test_series >= 5
    assert report.test_cluster_scores["f1"] >= 0.7
    if method == "logistic":
        assert report.blocking_recall == 1.0  # series lie within 3 km and the window


def test_split_keeps_each_series_on_one_side(planted):
    enriched, truth = planted
    ids = enriched["incident_id"].to_pylist()
    test = series_folds(ids, truth, test_fraction=0.3, seed=4)
    side = {}
    pos = {v: k for k, v in enumerate(ids)}
    for iid, sid in zip(truth["incident_id"].to_pylist(), truth["series_id"].to_pylist()):
        side.setdefault(sid, set()).add(bool(test[pos[iid]]))
    assert all(len(s) == 1 for s in side.values())
    assert 0 < np.mean([next(iter(s)) for s in side.values()]) < 1


def test_label_pairs():
    truth = pa.table({"incident_id": ["a", "b", "c"], "series_id": ["S1", "S1", "S2"]})
    assert label_pairs(["a", "b", "c", "d"], [0, 0, 2], [1, 2, 3], truth).tolist() == [1, 0, 0]


def _toy(seed=0, n=400):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    X = np.column_stack([
        np.where(y, rng.uniform(0, 800, n), rng.uniform(0, 3000, n)),
        np.where(y, rng.uniform(0, 10, n), rng.uniform(0, 90, n)),
        np.ones(n), rng.integers(0, 2, n),
        np.where(y, rng.uniform(0.5, 1, n), rng.uniform(0, 0.6, n)),
        np.where(y, 1, rng.integers(0, 2, n)), np.zeros(n),
    ])
    return X, y.astype(int)


@pytest.mark.parametrize("method", ["logistic", "gbm"])
def test_direction_closer_and_more_similar_never_lowers_probability(method):
    X, y = _toy()
    model = SeriesLinkageModel(method=method, max_iter=50).fit(X, y)
    base = np.array([[1500.0, 30.0, 1, 0, 0.3, 0, 0]])
    p0 = model.predict_proba(base)[0, 1]
    for col, value in [("distance_m", 200.0), ("days_apart", 2.0), ("mo_similarity", 0.9), ("same_weapon", 1)]:
        moved = base.copy()
        moved[0, SERIES_FEATURES.index(col)] = value
        assert model.predict_proba(moved)[0, 1] >= p0, col
    assert model.predict(X).shape == (len(X),)


def test_invalid_inputs():
    X, y = _toy()
    with pytest.raises(ValueError, match="both classes"):
        SeriesLinkageModel().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="columns"):
        SeriesLinkageModel().fit(X[:, :3], y)
    with pytest.raises(ValueError, match="method"):
        SeriesLinkageModel(method="svm").fit(X, y)
