"""Colour classes and their legend labels, value formatting, ranks (table-driven)."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.maps.cells import PALETTE, colour_classes, format_value, rank_of


@pytest.mark.parametrize("value, text", [
    (0.0, "0"), (0.0167, "0.017"), (0.0763, "0.076"), (0.19277, "0.19"), (0.5, "0.5"), (1.0, "1"),
    (12.34, "12"), (0.00009, "0.00009"), (float("nan"), "n/a"),
])
def test_format_value(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize("values, breaks, labels", [
    # 1..100: the quantiles of the positive values, five classes, open ends
    (np.arange(1, 101, dtype=float), (50.5, 80.2, 95.05, 99.01),
     ("under 50", "50 – 80", "80 – 95", "95 – 99", "99 or more")),
    # equal values: one break, two classes (the lower one empty)
    (np.full(10, 0.2), (0.2,), ("under 0.2", "0.2 or more")),
    # nothing expected anywhere: one class, no breaks
    (np.zeros(4), (), ("above 0",)),
    # breaks too close for two figures get more
    (np.array([0.0761] * 51 + [0.0763] * 30 + [0.0765] * 15 + [0.0767] * 5), None,
     ("under 0.0761", "0.0761 – 0.0763", "0.0763 – 0.0765", "0.0765 – 0.0767", "0.0767 or more")),
])
def test_classes_state_their_values(values, breaks, labels):
    cc = colour_classes(values)
    if breaks is not None:
        np.testing.assert_allclose(cc.breaks, breaks, rtol=1e-3)
    assert cc.labels == labels
    assert cc.colours == PALETTE[len(PALETTE) - len(labels):]  # the top class is always the darkest
    assert sum(cc.counts) + cc.n_zero == len(values)


def test_zero_cells_are_not_shaded_and_classes_follow_values():
    values = np.array([0.0, 0.01, 0.5, 2.0, 0.0])
    cc = colour_classes(values)
    assert cc.n_zero == 2 and cc.cls[0] == 0 and cc.colour_of(0) is None
    assert list(cc.cls[[1, 2, 3]]) == sorted(cc.cls[[1, 2, 3]])  # more expected, never a lighter class
    rows = cc.legend_rows()
    assert rows[0][0] == PALETTE[-1] and all(n > 0 for _, _, n in rows)  # darkest first, empty classes left out


def test_rank_matches_forecast_table_order():
    ids = ["c", "a", "b", "d"]
    assert rank_of(ids, np.array([1.0, 2.0, 1.0, 0.0])).tolist() == [3, 1, 2, 4]  # ties by cell id
