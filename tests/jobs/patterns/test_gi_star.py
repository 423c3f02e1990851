"""Tests of the Getis-Ord Gi* kernel on H3 cells."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.patterns.gi_star import CLASS_LABELS, gi_star, kring_neighbors
from jobs.patterns.schemas import GI_STAR_SCHEMA
from tests.helpers import data_path

CENTER = h3.latlng_to_cell(41.88, -87.63, 8)


def table(cells, counts):
    return pa.table({"h3": pa.array(cells, pa.string()), "count": pa.array(counts, pa.float64())})


def test_hand_computed_z_three_cells():
    # Three mutually adjacent cells plus a far one: for the centre cell with k=1
    # among {c, n1, n2, far}: W=3, n=4, x=(4,1,1,0) -> z by the Ord-Getis formula.
    c = CENTER
    n1, n2 = sorted(set(h3.grid_ring(c, 1)))[:2]
    far = h3.grid_ring(c, 5)[0]
    out = gi_star(table([c, n1, n2, far], [4, 1, 1, 0]), k=1, nperm=99, seed=0).to_pandas().set_index("h3")
    x = np.array([4.0, 1, 1, 0])
    n, mean, s = 4, x.mean(), np.sqrt((x**2).mean() - x.mean() ** 2)
    wi = out.loc[c, "n_neighbors"]
    # c's ring holds n1 and n2; whether n1/n2 touch each other does not matter for c
    assert wi == 3
    expected = (x[:3].sum() - mean * wi) / (s * np.sqrt((n * wi - wi**2) / (n - 1)))
    assert out.loc[c, "gi_z"] == pytest.approx(expected)
    assert out.loc[far, "n_neighbors"] == 1


def test_zero_cells_from_study_area_and_validation():
    area = h3.grid_disk(CENTER, 2)
    res = gi_star(table([CENTER], [10]), study_area=area, k=1, nperm=49, seed=1)
    assert res.schema == GI_STAR_SCHEMA
    assert res.num_rows == len(area)
    assert sorted(res.column("h3").to_pylist()) == res.column("h3").to_pylist()
    counts = dict(zip(res.column("h3").to_pylist(), res.column("count").to_pylist(), strict=True))
    assert counts[CENTER] == 10 and sum(counts.values()) == 10
    with pytest.raises(ValueError, match="outside study_area"):
        gi_star(table([h3.grid_ring(CENTER, 4)[0]], [1]), study_area=area)


@pytest.mark.parametrize(
    ("tbl", "kwargs", "message"),
    [
        (pa.table({"cell": ["x"], "count": [1]}), {}, "missing column 'h3'"),
        (table(["not-a-cell", CENTER, CENTER], [1, 2, 3]), {}, "row 0"),
        (table([CENTER, CENTER, h3.grid_ring(CENTER, 1)[0]], [1, 2, 3]), {}, "more than once"),
        (table(list(h3.grid_disk(CENTER, 1))[:3], [1, -2, 3]), {}, "non-negative"),
        (table(list(h3.grid_disk(CENTER, 1))[:3], [1, 2, 3]), {"k": 0}, "k must be"),
        (table(list(h3.grid_disk(CENTER, 1))[:3], [1, 2, 3]), {"nperm": 0}, "nperm"),
        (table([CENTER, h3.cell_to_parent(CENTER, 7), h3.grid_ring(CENTER, 1)[0]], [1, 2, 3]), {}, "one H3 resolution"),
    ],
)
def test_invalid_inputs(tbl, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gi_star(tbl, **kwargs)


def test_planted_hot_and_cold_spots_classified():
    area = list(h3.grid_disk(CENTER, 8))
    rng = np.random.default_rng(4)
    counts = {c: float(rng.poisson(5)) for c in area}
    hot = h3.grid_ring(CENTER, 4)[0]
    for c in h3.grid_disk(hot, 1):
        counts[c] = 40.0
    cold = h3.grid_ring(CENTER, 4)[9]
    for c in h3.grid_disk(cold, 2):
        counts[c] = 0.0
    tbl = table(list(counts), list(counts.values()))
    res = gi_star(tbl, k=1, nperm=999, seed=3).to_pandas().set_index("h3")
    # 999 permutations floor p_sim at 0.002; with BH over 217 cells the hot centre reaches 95 %
    assert res.loc[hot, "class"] >= 2 and res.loc[hot, "label"].startswith("Hot Spot")
    by_norm = gi_star(tbl, k=1, nperm=99, seed=3, inference="norm").to_pandas().set_index("h3")
    assert by_norm.loc[hot, "class"] == 3 and by_norm.loc[hot, "label"] == CLASS_LABELS[3]
    assert res.loc[cold, "gi_z"] < -2 and res.loc[cold, "class"] < 0
    assert res.loc[cold, "label"].startswith("Cold Spot")
    # FDR control keeps the quiet background mostly not significant
    background = res.drop(index=list(h3.grid_disk(hot, 2)) + list(h3.grid_disk(cold, 3)))
    assert (background["class"] == 0).mean() > 0.9
    assert ((res["p_fdr"] >= res["p_sim"]) | np.isclose(res["p_fdr"], res["p_sim"])).all()
    assert set(res["class"].unique()) <= set(CLASS_LABELS)


def test_seeded_p_values_reproducible():
    area = list(h3.grid_disk(CENTER, 4))
    counts = np.random.default_rng(9).poisson(3, len(area))
    a = gi_star(table(area, counts), nperm=99, seed=5)
    b = gi_star(table(area, counts), nperm=99, seed=5)
    assert a.equals(b)


def test_permutation_p_tracks_normal_p():
    # On a skewed count field the two inferences differ in detail, but rank cells alike.
    area = list(h3.grid_disk(CENTER, 10))
    rng = np.random.default_rng(12)
    lam = np.exp(rng.normal(1.0, 0.8, len(area)))
    res = gi_star(table(area, rng.poisson(lam)), k=2, nperm=999, seed=2).to_pandas()
    rho = res["p_sim"].rank().corr(res["p_norm"].rank())
    assert rho > 0.8
    assert (res["p_sim"] >= 2 / 1000).all() and (res["p_sim"] <= 1).all()


@pytest.fixture(scope="module")
def chicago_counts():
    df = pd.read_csv(data_path("chicago/aggravated_assaults_2010_2017.csv.gz"), usecols=["date", "longitude", "latitude"])
    df = df[df["date"].str.startswith("2017")]
    cells = [h3.latlng_to_cell(lat, lon, 8) for lat, lon in zip(df["latitude"], df["longitude"], strict=True)]
    counts = pd.Series(cells).value_counts()
    area = sorted(set().union(*(h3.grid_disk(c, 1) for c in counts.index)))
    return counts, area


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:The weights matrix is not fully connected")
@pytest.mark.parametrize("k", [1, 2])
def test_z_scores_match_pysal_esda(chicago_counts, k):
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    counts, area = chicago_counts
    res = gi_star(table(list(counts.index), counts.to_numpy()), study_area=area, k=k, nperm=9, seed=1)
    cells = res.column("h3").to_pylist()
    y = np.asarray(res.column("count").to_numpy(), dtype=float)
    w = kring_neighbors(cells, k).tocoo()
    neighbors = {i: [] for i in range(len(cells))}
    for i, j in zip(w.row, w.col, strict=True):
        if i != j:
            neighbors[int(i)].append(int(j))
    wobj = libpysal.weights.W(neighbors, silence_warnings=True)
    g = esda.G_Local(y, wobj, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(res.column("gi_z").to_numpy(zero_copy_only=False), g.Zs, rtol=1e-9, atol=1e-9)
