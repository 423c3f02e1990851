"""Hand-computable cases for hit rate, PAI, PEI and PEI*."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation.metrics import flag_top_cells, hotspot_metrics

SCORES = np.array([5, 4, 3, 2, 1, 0, 0, 0, 0, 0.0])
COUNTS = np.array([0, 2, 1, 0, 0, 3, 0, 0, 0, 0.0])
AREAS = np.ones(10)


@pytest.mark.parametrize(
    "coverage, hit, pai, pei, pei_star",
    [
        (0.1, 0.0, 0.0, 0.0, 0.0),
        (0.2, 2 / 6, (2 / 6) / 0.2, 2 / 5, 1 / 2),  # best 2 cells hold 3+2; 2 crimes fit in 1 cell
        (0.3, 3 / 6, (3 / 6) / 0.3, 3 / 6, 1 / 3),
        (1.0, 1.0, 1.0, 1.0, 3 / 10),  # the 6 crimes sit in 3 of 10 cells
    ],
)
def test_metrics_by_hand(coverage, hit, pai, pei, pei_star):
    m = hotspot_metrics(SCORES, COUNTS, AREAS, coverages=(coverage,)).iloc[0]
    assert m["hit_rate"] == pytest.approx(hit)
    assert m["pai"] == pytest.approx(pai)
    assert m["pei"] == pytest.approx(pei)
    assert m["pei_star"] == pytest.approx(pei_star)


def test_ties_broken_by_key_deterministically():
    scores = np.zeros(4)
    mask = flag_top_cells(scores, np.ones(4), 0.5, tie_key=np.array([30, 10, 40, 20]))
    assert mask.tolist() == [False, True, False, True]
    assert flag_top_cells(scores, np.ones(4), 0.5).tolist() == [True, True, False, False]


def test_area_budget_uses_real_areas():
    # The top cell is half the area: 25% coverage cannot take it.
    mask = flag_top_cells(np.array([3.0, 2.0, 1.0]), np.array([2.0, 1.0, 1.0]), 0.25)
    assert mask.tolist() == [False, False, False]
    mask = flag_top_cells(np.array([3.0, 2.0, 1.0]), np.array([2.0, 1.0, 1.0]), 0.5)
    assert mask.tolist() == [True, False, False]


def test_no_crimes_gives_nan_not_error():
    m = hotspot_metrics(SCORES, np.zeros(10), AREAS, coverages=(0.2,)).iloc[0]
    assert np.isnan(m["hit_rate"]) and np.isnan(m["pei"])


@pytest.mark.parametrize("bad", [dict(coverages=(0.0,)), dict(coverages=(1.5,))])
def test_bad_coverage(bad):
    with pytest.raises(ValueError):
        hotspot_metrics(SCORES, COUNTS, AREAS, **bad)


def test_nan_scores_rejected():
    with pytest.raises(ValueError, match="NaN"):
        hotspot_metrics(np.full(10, np.nan), COUNTS, AREAS)


@pytest.mark.parametrize("score, trailing, bound, expected", [
    (9.44, 9.44, 10.0, 0.0),         # no better than trailing counts
    (10.0, 9.44, 10.0, 1.0),         # reaches the bound
    (9.72, 9.44, 10.0, 0.5),
    (9.0, 9.44, 10.0, -0.44 / 0.56),  # worse than trailing counts: negative
    (9.5, 10.0, 9.0, np.nan),        # bound below trailing counts: no gap to close
    (9.5, 9.5, 9.5, np.nan),
    (np.nan, 9.0, 10.0, np.nan),
])
def test_gap_closed(score, trailing, bound, expected):
    from models.evaluation.metrics import gap_closed

    got = gap_closed(score, trailing, bound)
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected)
