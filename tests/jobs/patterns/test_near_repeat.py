"""Tests of the Knox near repeat kernel: hand-computed cases, brute force, Near Repeat Calculator."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.patterns.near_repeat import band_labels, knox_test, parse_band_edges, to_day_numbers
from tests.helpers import data_path

INF = math.inf


# --- hand-computed cases --------------------------------------------------------

# (id, points [(x, y, day)], sds, tds, method, expected observed table)
HAND_CASES = [
    ("edge_belongs_to_upper_band", [(0, 0, 0), (1, 0, 1)], [0, 1, INF], [0, 1, INF], "euclidean", [[0, 0], [0, 1]]),
    ("just_below_edge", [(0, 0, 0), (0.999, 0, 0)], [0, 1, INF], [0, 1, INF], "euclidean", [[1, 0], [0, 0]]),
    ("euclidean_diagonal", [(0, 0, 0), (0.6, 0.6, 3)], [0, 1, INF], [0, 1, INF], "euclidean", [[0, 1], [0, 0]]),
    ("manhattan_diagonal", [(0, 0, 0), (0.6, 0.6, 3)], [0, 1, INF], [0, 1, INF], "manhattan", [[0, 0], [0, 1]]),
    (
        "four_events_three_bands",
        # AB: d=0.5, dt=0 | AC, BC: d~3, dt=2 | AD, BD, CD: d>=7, dt>=8
        [(0, 0, 0), (0, 0.5, 0), (3, 0, 2), (10, 0, 10)],
        [0, 1, 5, INF],
        [0, 1, 3, INF],
        "euclidean",
        [[1, 0, 0], [0, 2, 0], [0, 0, 3]],
    ),
    ("single_bands", [(0, 0, 0), (5, 5, 5), (9, 9, 9)], [0, INF], [0, INF], "manhattan", [[3]]),
    ("same_place_same_day", [(2, 2, 7), (2, 2, 7), (2, 2, 7)], [0, 1, INF], [0, 1, INF], "euclidean", [[3, 0], [0, 0]]),
]


@pytest.mark.parametrize(("points", "sds", "tds", "method", "expected"), [c[1:] for c in HAND_CASES], ids=[c[0] for c in HAND_CASES])
def test_observed_table_hand_cases(points, sds, tds, method, expected):
    x, y, d = (np.array(v, dtype=float) for v in zip(*points, strict=True))
    res = knox_test(x, y, d.astype(int), sds=sds, tds=tds, method=method, nrep=5, seed=0)
    np.testing.assert_array_equal(res.observed, np.array(expected))
    assert res.observed.sum() == res.n_pairs == len(points) * (len(points) - 1) // 2


def test_expected_and_p_value_three_events():
    # A and B are 0.5 apart, C is far. Dates {0, 0, 5}: after shuffling, the AB
    # pair has lag 0 exactly when C draws day 5, probability 1/3.
    res = knox_test([0, 0, 10], [0, 0.5, 0], [0, 0, 5], sds=[0, 1, INF], tds=[0, 1, INF], nrep=3000, seed=42)
    np.testing.assert_array_equal(res.observed, [[1, 0], [0, 2]])
    np.testing.assert_allclose(res.expected, [[1 / 3, 2 / 3], [2 / 3, 4 / 3]], atol=0.03)
    assert res.p_value[0, 0] == pytest.approx((1 + round(res.expected[0, 0] * 3000)) / 3001)
    np.testing.assert_allclose(res.knox_ratio[0, 0], 3.0, rtol=0.1)


def test_seed_reproducible_and_dates_as_datetimes():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 500, 60), rng.uniform(0, 500, 60)
    days = rng.integers(0, 30, 60)
    dates = np.datetime64("2020-01-01") + days.astype("timedelta64[D]")
    a = knox_test(x, y, days, sds="0,50,100,inf", tds="0,2,7,inf", nrep=30, seed=7)
    b = knox_test(x, y, dates, sds=[0, 50, 100, INF], tds=[0, 2, 7, INF], nrep=30, seed=7)
    np.testing.assert_array_equal(a.expected, b.expected)
    np.testing.assert_array_equal(a.p_value, b.p_value)
    c = knox_test(x, y, days, sds="0,50,100,inf", tds="0,2,7,inf", nrep=30, seed=8)
    assert not np.array_equal(a.expected, c.expected)


# --- fast path against an O(n^2) brute force ----------------------------------------


def brute_table(x, y, days, sds, tds, method):
    iu = np.triu_indices(len(x), 1)
    dx, dy = np.subtract.outer(x, x)[iu], np.subtract.outer(y, y)[iu]
    d = np.abs(dx) + np.abs(dy) if method == "manhattan" else np.hypot(dx, dy)
    dt = np.abs(np.subtract.outer(days, days)[iu])
    si = np.searchsorted(sds, d, side="right") - 1
    ti = np.searchsorted(tds, dt, side="right") - 1
    out = np.zeros((len(sds) - 1, len(tds) - 1), dtype=np.int64)
    np.add.at(out, (si, ti), 1)
    return out


@pytest.mark.parametrize("method", ["euclidean", "manhattan"])
@pytest.mark.parametrize(
    ("sds", "tds"),
    [([0, 1, 200, 400, INF], [0, 1, 2, 3, INF]), ([0, 75.5, INF], [0, 2.5, 14, 30, INF]), ([0, 30, 90, INF], [*range(13), INF])],
    ids=["nrc_defaults", "fractional_edges", "many_temporal_bands"],
)
def test_fast_path_equals_brute_force(method, sds, tds):
    rng = np.random.default_rng(11)
    n = 400
    x, y = rng.uniform(0, 2000, n), rng.uniform(0, 2000, n)
    # repeated locations and clustered dates, as in real crime data
    x[:40], y[:40] = x[40:80], y[40:80]
    days = rng.integers(0, 60, n)
    nrep, seed = 15, 5
    res = knox_test(x, y, days, sds=sds, tds=tds, method=method, nrep=nrep, seed=seed)
    s, t = np.array(sds, dtype=float), np.array(tds, dtype=float)
    obs = brute_table(x, y, days, s, t, method)
    np.testing.assert_array_equal(res.observed, obs)
    perm_rng = np.random.default_rng(seed)
    perms = np.stack([brute_table(x, y, days[perm_rng.permutation(n)], s, t, method) for _ in range(nrep)])
    np.testing.assert_allclose(res.expected, perms.mean(axis=0))
    np.testing.assert_allclose(res.p_value, (1 + (perms >= obs).sum(axis=0)) / (1 + nrep))


# --- input validation ---------------------------------------------------------------

BAD_EDGES = [
    ("0,200,100,inf", "strictly increasing"),
    ("1,200,inf", "first edge must be 0"),
    ("0,200,400", "last edge must be inf"),
    ("0,abc,inf", "not a number"),
    ("0", "at least two edges"),
]


@pytest.mark.parametrize(("edges", "message"), BAD_EDGES)
def test_bad_edges_raise(edges, message):
    with pytest.raises(ValueError, match=message):
        parse_band_edges(edges, name="sds")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "chebyshev"}, "method"),
        ({"nrep": 0}, "nrep"),
        ({"x": [0.0, np.nan, 1.0]}, "position 1"),
        ({"dates": [0, 1.5, 2]}, "not a whole number"),
        ({"dates": [0, 1]}, "same length"),
    ],
)
def test_bad_inputs_raise(kwargs, message):
    args = {"x": [0.0, 1.0, 2.0], "y": [0.0, 0.0, 0.0], "dates": [0, 1, 2]} | kwargs
    with pytest.raises(ValueError, match=message):
        knox_test(args.pop("x"), args.pop("y"), args.pop("dates"), **args)


def test_to_day_numbers_and_labels():
    np.testing.assert_array_equal(to_day_numbers(np.array(["2016-01-02T23:59", "2016-01-01"], dtype="datetime64[m]")), [16802, 16801])
    assert band_labels([0, 1, 200, INF], "m") == ["[0, 1) m", "[1, 200) m", ">= 200 m"]


def test_to_dict_is_json_ready():
    import json

    res = knox_test([0, 0, 10], [0, 0.5, 0], [0, 0, 5], sds=[0, 1, INF], tds=[0, 1, INF], nrep=3, seed=1)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["sds"] == [0, 1, "inf"] and d["tds"] == [0, 1, "inf"]
    assert d["observed"] == [[1, 0], [0, 2]]
    assert len(d["knox_ratio"]) == 2 and len(d["p_value"][0]) == 2


# --- reference: Near Repeat Calculator 1.3 on 522 Chicago arsons ---------------------------

ARSON_SDS = [0, 1, 200, 400, 600, INF]  # what NRC computed for its labels "Same location ... More than 600"
ARSON_TDS = [0, 1, 2, 3, INF]  # and for "0 to 1, 2 to 2, 3 to 3, More than 3" days


def parse_nrc_verbose(path: Path) -> dict[str, np.ndarray]:
    """Tables and per-cell permutation means from a Near Repeat Calculator verbose CSV."""
    rows = list(csv.reader(path.read_text(encoding="latin-1").splitlines()))
    tables: dict[str, np.ndarray] = {}
    titles = {
        "Observed over mean expected frequencies": "ratio",
        "Statistical significant table": "p_value",
        "Observed frequencies distribution": "observed",
    }
    for k, row in enumerate(rows):
        if row and row[0].strip() in titles:
            body = []
            for r in rows[k + 3 :]:
                if not r or not r[0].strip().isdigit():
                    break
                cells = r[2:]
                ncol = len([c for c in rows[k + 1][2:] if c.strip()])
                body.append([float(c) if c.strip() else 0.0 for c in cells[:ncol]])
            tables[titles[row[0].strip()]] = np.array(body)
    shape = tables["observed"].shape
    means = np.full(shape, np.nan)
    cell = None
    for row in rows:
        if row and (m := re.match(r"Row (\d+) Column (\d+)", row[0].strip())):
            cell = (int(m.group(1)) - 1, int(m.group(2)) - 1)
        elif row and row[0].strip() == "Mean" and cell is not None:
            means[cell] = float(row[1])
    tables["mean_expected"] = means
    return tables


@pytest.fixture(scope="module")
def arson():
    df = pd.read_csv(data_path("near_repeat/chicago_arson.csv"), header=None, names=["x", "y", "date"])
    nrc = parse_nrc_verbose(data_path("near_repeat/chicago_arson_NRC_verbose.csv"))
    return df, nrc


@pytest.mark.integration
def test_arson_observed_matches_near_repeat_calculator(arson):
    df, nrc = arson
    res = knox_test(df.x, df.y, pd.to_datetime(df.date).values, sds=ARSON_SDS, tds=ARSON_TDS, method="manhattan", nrep=1, seed=1)
    assert nrc["observed"].shape == res.observed.shape
    assert nrc["observed"].sum() == res.n_pairs == 135_981
    diff = np.abs(res.observed - nrc["observed"]).sum()
    assert diff <= 4
    # every disagreement is a pair within 1 m of a finite band edge (NRC's rounding)
    xy = df[["x", "y"]].to_numpy()
    iu = np.triu_indices(len(df), 1)
    d = (np.abs(xy[:, None, :] - xy[None, :, :]).sum(-1))[iu]
    edges = np.array(ARSON_SDS[1:-1])
    near_edge = (np.abs(d[:, None] - edges[None, :]) < 1).any(axis=1).sum()
    assert diff / 2 <= near_edge


@pytest.mark.integration
def test_arson_ratios_within_monte_carlo_noise(arson):
    df, nrc = arson
    nrep = 999
    res = knox_test(df.x, df.y, pd.to_datetime(df.date).values, sds=ARSON_SDS, tds=ARSON_TDS, method="manhattan", nrep=nrep, seed=2019)
    nrc_mean, nrc_nrep = nrc["mean_expected"], 99
    assert not np.isnan(nrc_mean).any()
    # NRC's ratio is its observed over its mean: check the parse agrees with its ratio table
    with np.errstate(divide="ignore", invalid="ignore"):
        nrc_ratio = np.where(nrc_mean > 0, nrc["observed"] / nrc_mean, 0.0)
    np.testing.assert_allclose(nrc_ratio, nrc["ratio"], atol=0.0015)
    # The two permutation means estimate the same quantity: agree within 4 standard
    # errors, plus one per pair that the two tools put in different spatial bands
    # (a moved pair shifts its rows' expected counts by at most 1 each).
    se = np.sqrt(res.expected_sd**2 / nrep + res.expected_sd**2 / nrc_nrep)
    moved = np.abs(res.observed.sum(axis=1) - nrc["observed"].sum(axis=1))[:, None]
    tol = 4 * se + moved + 1e-9
    assert (np.abs(res.expected - nrc_mean) <= tol).all(), (res.expected, nrc_mean)
    # Knox ratios, e.g. NRC's 74.25 for [1, 200) m x [0, 1) day: NRC's lies in the
    # interval our observed and expected counts allow.
    d_obs = np.abs(res.observed - nrc["observed"])
    both = (res.observed > 0) & (nrc["observed"] > 0)
    low = (res.observed - d_obs) / (res.expected + tol)
    high = (res.observed + d_obs) / np.maximum(res.expected - tol, 1e-12)
    rounding = 5e-4  # NRC prints its ratio table to 3 decimals
    assert ((nrc["ratio"] >= low - rounding) & (nrc["ratio"] <= high + rounding))[both].all(), (res.knox_ratio, nrc["ratio"])
    assert nrc["ratio"][1, 0] == pytest.approx(74.25) and res.knox_ratio[1, 0] > 20
    # The near repeat signal the calculator reports is significant here too.
    strong = nrc["p_value"] <= 0.01
    assert (res.p_value[strong & (nrc["observed"] > 1)] <= 0.01).all()
