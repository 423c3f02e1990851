"""Exponentially decayed counts in cell_features: hand-computed values and no look-ahead."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.grid.cell_features import cell_features
from jobs.grid.params import CellFeatureParams as P

CENTRE = h3.latlng_to_cell(41.85, -87.65, 9)
CELLS = sorted(h3.grid_disk(CENTRE, 1))
MONDAY = pd.Timestamp("2024-01-01", tz="UTC")


def _events(weeks: list[int], cell=CENTRE):
    t = [MONDAY + pd.Timedelta(weeks=w, hours=12) for w in weeks]
    lat, lon = h3.cell_to_latlng(cell)
    return pa.table({
        "occurred_at": pa.array(pd.DatetimeIndex(t).floor("us"), pa.timestamp("us", tz="UTC")),
        "h3": [h3.latlng_to_cell(lat, lon, 12)] * len(t), "lon": [lon] * len(t), "lat": [lat] * len(t),
    })


def _decay(table, week, name="decay_2"):
    df = table.to_pandas()
    row = df[(df["h3"] == CENTRE) & (df["period_start"] == MONDAY + pd.Timedelta(weeks=week))]
    return float(row[name].iloc[0])


def test_decay_matches_hand_computation():
    # one incident in week 0, two in week 2; half-life 2 weeks
    f = cell_features(_events([0, 2, 2]), pa.array(CELLS), P(windows=(1,), decay_half_lives=(2,)),
                      start=MONDAY, end=MONDAY + pd.Timedelta(weeks=5))
    assert _decay(f, 0) == 0.0
    assert _decay(f, 1) == pytest.approx(1.0)
    assert _decay(f, 3) == pytest.approx(0.5 ** (2 / 2) + 2.0)
    assert _decay(f, 5) == pytest.approx(0.5 ** (4 / 2) + 2 * 0.5 ** (2 / 2))
    assert "kde_decay_2" in f.column_names
    assert _decay(f, 3, "kde_decay_2") > 0


def test_decay_ignores_the_period_itself_and_later():
    a = cell_features(_events([0, 1]), pa.array(CELLS), P(windows=(1,), decay_half_lives=(4,)),
                      start=MONDAY + pd.Timedelta(weeks=1), end=MONDAY + pd.Timedelta(weeks=1))
    b = cell_features(_events([0, 1, 1, 1, 2]), pa.array(CELLS), P(windows=(1,), decay_half_lives=(4,)),
                      start=MONDAY + pd.Timedelta(weeks=1), end=MONDAY + pd.Timedelta(weeks=1))
    assert _decay(a, 1, "decay_4") == _decay(b, 1, "decay_4") == pytest.approx(1.0)


def test_decay_rejects_non_positive_half_life():
    with pytest.raises(ValueError, match="decay_half_lives"):
        cell_features(_events([0]), pa.array(CELLS), P(windows=(1,), decay_half_lives=(0,)))
