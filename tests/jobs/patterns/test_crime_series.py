"""Tests of series-linking kernels: blocking, pair features, clustering, matching."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pyarrow as pa
import pytest

from jobs.patterns.crime_series import (SERIES_FEATURES, candidate_pairs, cluster_series, feature_matrix, match_series,
                                        metric_xy, pair_features)
from jobs.patterns.schemas import SERIES_SCHEMA

T0 = dt.datetime(2017, 5, 1, 12, tzinfo=dt.timezone.utc)
LAT0, LON0 = 41.88, -87.63
M_LAT = 1 / 111_132.0  # degrees per metre north (approx.)


def table(rows):
    """rows: (id, days, north_m, east_m, category, location_type, mo, weapon, offenders)."""
    m_lon = 1 / (111_320.0 * np.cos(np.radians(LAT0)))
    return pa.table({
        "incident_id": [r[0] for r in rows],
        "occurred_at": pa.array([T0 + dt.timedelta(days=r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
        "lon": [LON0 + r[3] * m_lon for r in rows],
        "lat": [LAT0 + r[2] * M_LAT for r in rows],
        "category": [r[4] for r in rows],
        "location_type": [r[5] for r in rows],
        "mo_text": [r[6] for r in rows],
        "weapon": [r[7] for r in rows],
        "offender_ids": pa.array([r[8] for r in rows], pa.list_(pa.string())),
    })


MO1 = "Offender walked up from behind in the alley, struck the victim with a metal pipe and fled on foot."
MO2 = "Offender pulled up in a car at the gas pump, fired shots with a handgun and fled eastbound."
ROWS = [
    ("a", 0.0, 0, 0, "assault", "street", MO1, "blunt object", ["P1"]),
    ("b", 2.5, 300, 400, "assault", "street", MO1, "blunt object", ["P1", "P2"]),
    ("c", 1.0, 0, 0, "assault", "residence", MO2, "handgun", None),
    ("d", 0.0, 0, 0, "robbery", None, None, None, None),
]

FEATURE_CASES = [
    # pair, distance_m, days, same_cat, same_loc, mo_sim, same_weapon, shared_offender
    ((0, 1), 500.0, 2.5, 1, 1, 1.0, 1, 1),
    ((0, 2), 0.0, 1.0, 1, 0, None, 0, 0),
    ((0, 3), 0.0, 0.0, 0, 0, 0.0, 0, 0),  # nulls never match
    ((2, 3), 0.0, 1.0, 0, 0, 0.0, 0, 0),
]


@pytest.mark.parametrize("pair,dist,days,cat,loc,mo,weapon,shared", FEATURE_CASES)
def test_pair_features(pair, dist, days, cat, loc, mo, weapon, shared):
    f = pair_features(table(ROWS), [pair[0]], [pair[1]]).to_pylist()[0]
    assert f["distance_m"] == pytest.approx(dist, abs=3.0)
    assert f["days_apart"] == pytest.approx(days)
    assert (f["same_category"], f["same_location_type"], f["same_weapon"], f["shared_offender"]) == (cat, loc, weapon, shared)
    if mo is None:
        assert 0.0 < f["mo_similarity"] < 0.5  # different narratives share a few words
    else:
        assert f["mo_similarity"] == pytest.approx(mo)
    assert f["incident_id_i"] == ROWS[pair[0]][0]


def test_feature_matrix_order():
    f = pair_features(table(ROWS), [0, 1], [1, 2])
    X = feature_matrix(f)
    assert X.shape == (2, len(SERIES_FEATURES))
    assert X[0, SERIES_FEATURES.index("days_apart")] == pytest.approx(2.5)


def test_candidate_pairs_equal_brute_force():
    rng = np.random.default_rng(3)
    n = 300
    rows = [(f"i{k}", float(rng.uniform(0, 200)), float(rng.uniform(0, 8000)), float(rng.uniform(0, 8000)),
             str(rng.choice(["assault", "robbery"])), "street", "x", "knife", None) for k in range(n)]
    t = table(rows)
    i, j = candidate_pairs(t, max_distance_m=1500, max_days=30)
    x, y, _ = metric_xy(t["lon"].to_numpy(), t["lat"].to_numpy())
    days = np.array([r[1] for r in rows])
    cats = [r[4] for r in rows]
    brute = {(a, b) for a, b in itertools.combinations(range(n), 2)
             if cats[a] == cats[b] and np.hypot(x[a] - x[b], y[a] - y[b]) <= 1500 and abs(days[a] - days[b]) <= 30}
    assert set(zip(i.tolist(), j.tolist())) == brute
    assert len(brute) < n * (n - 1) // 2 // 5
    # without blocking, cross-category pairs come in too
    i2, _ = candidate_pairs(t, max_distance_m=1500, max_days=30, block_by=None)
    assert len(i2) > len(i)


def test_cluster_series_components_and_confidence():
    ids = ["e", "d", "c", "b", "a"]
    out = cluster_series(ids, [0, 1, 3, 2], [1, 2, 4, 4], [0.9, 0.7, 0.6, 0.2], threshold=0.5)
    assert out.schema == SERIES_SCHEMA
    rows = {r["incident_id"]: r for r in out.to_pylist()}
    assert set(rows) == {"e", "d", "c", "b", "a"}
    assert rows["e"]["series_id"] == rows["d"]["series_id"] == rows["c"]["series_id"]
    assert rows["b"]["series_id"] == rows["a"]["series_id"] != rows["e"]["series_id"]
    assert rows["d"]["confidence"] == pytest.approx(0.8) and rows["c"]["series_size"] == 3
    # ids come from the smallest member, so reordering the input keeps them
    again = cluster_series(ids[::-1], [4, 3, 1, 2], [3, 2, 0, 0], [0.9, 0.7, 0.6, 0.2], threshold=0.5)
    assert sorted(again["series_id"].to_pylist()) == sorted(out["series_id"].to_pylist())


def test_cluster_series_min_size_and_threshold():
    assert cluster_series(["a", "b"], [0], [1], [0.4], threshold=0.5).num_rows == 0
    assert cluster_series(["a", "b", "c"], [0, 1], [1, 2], [0.9, 0.9], min_size=4).num_rows == 0
    with pytest.raises(ValueError):
        cluster_series(["a", "b"], [0], [1], [0.4, 0.5])


class MoOnly:
    """A stand-in pairwise model: the MO similarity is the probability."""

    def predict_proba(self, X):
        p = np.asarray(X)[:, SERIES_FEATURES.index("mo_similarity")]
        return np.column_stack([1 - p, p])


def test_match_series_ranks_the_matching_series_first():
    known = table(ROWS)
    series = pa.table({"incident_id": ["a", "b", "c"], "series_id": ["S1", "S1", "S2"]})
    new = {"occurred_at": "2017-05-05T20:00:00+00:00", "lon": LON0, "lat": LAT0, "mo_text": MO1,
           "weapon": "blunt object", "category": "assault"}
    out = match_series(new, known, series, MoOnly(), top=5).to_pylist()
    assert [r["series_id"] for r in out] == ["S1", "S2"]
    assert out[0]["score"] == pytest.approx(1.0) and out[0]["same_weapon"] and out[0]["n_members"] == 2
    assert out[0]["best_incident_id"] in ("a", "b") and out[0]["nearest_m"] == pytest.approx(0, abs=3)
    assert len(match_series(new, known, series, MoOnly(), top=1)) == 1


@pytest.mark.parametrize("new,err", [
    ({"lon": 1.0, "lat": 2.0}, "occurred_at"),
    ({"occurred_at": "yesterday", "lon": 1.0, "lat": 2.0}, "ISO"),
    ({"occurred_at": "2017-01-01", "lon": "x", "lat": 2.0}, "numbers"),
])
def test_match_series_rejects_bad_input(new, err):
    series = pa.table({"incident_id": ["a"], "series_id": ["S1"]})
    with pytest.raises(ValueError, match=err):
        match_series(new, table(ROWS), series, MoOnly())


def test_missing_columns_are_reported():
    with pytest.raises(ValueError, match="lacks"):
        candidate_pairs(table(ROWS).drop_columns(["lon"]))
    with pytest.raises(ValueError, match="block_by"):
        candidate_pairs(table(ROWS), block_by="nope")
