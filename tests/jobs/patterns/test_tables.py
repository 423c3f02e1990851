"""Gold rows of the pattern analyses: the Knox long table, the look-back window, local days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from jobs.patterns.near_repeat import knox_test
from jobs.patterns.tables import knox_rows, last_days
from jobs.patterns.schemas import NEAR_REPEAT_SCHEMA

UTC = dt.timezone.utc


def test_knox_rows_one_per_band_pair():
    res = knox_test([0, 0, 10, 300], [0, 0.5, 0, 0], [0, 0, 5, 9], sds=[0, 1, 100, np.inf], tds=[0, 1, np.inf],
                    nrep=9, seed=1)
    t = knox_rows(res, source="s", category="c", seed=1, method="manhattan", metric_crs="EPSG:32616", tz="UTC",
                  window_start=None, window_end=None, incidents_version=3)
    assert t.schema.equals(NEAR_REPEAT_SCHEMA) and t.num_rows == 3 * 2
    assert list(zip(t["s_lo"].to_pylist(), t["t_lo"].to_pylist()))[:3] == [(0, 0), (0, 1), (1, 0)]
    assert t["observed"].to_pylist() == res.observed.ravel().tolist() and sum(t["observed"].to_pylist()) == res.n_pairs


@pytest.mark.parametrize(("days", "kept", "start"), [(None, 3, "2024-01-01"), (0, 3, "2024-01-01"), (5, 2, "2024-01-05")])
def test_last_days(days, kept, start):
    t = pa.table({"occurred_at": pa.array([dt.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 8, 10)],
                                          pa.timestamp("us", tz="UTC"))})
    rows, s, e = last_days(t, days)
    assert rows.num_rows == kept and s == dt.datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert e == dt.datetime(2024, 1, 10, tzinfo=UTC)
    assert last_days(t.slice(0, 0), days)[0].num_rows == 0
