"""Count series: binning, zero-filling, spans, time zones."""

import pandas as pd
import pyarrow as pa
import pytest

from jobs.anomalies.timeseries import count_series


def _events(rows):
    keys, times = zip(*rows)
    return pa.table({"k": list(keys), "t": pa.array(pd.to_datetime(list(times), utc=True), pa.timestamp("us", tz="UTC"))})


CASES = [
    # (rows, kwargs, expected {(key, period_start): count})
    (
        [("a", "2024-01-01 10:00"), ("a", "2024-01-03 23:00"), ("b", "2024-01-02 01:00")],
        {"freq": "day"},
        {("a", "2024-01-01"): 1, ("a", "2024-01-02"): 0, ("a", "2024-01-03"): 1,
         ("b", "2024-01-01"): 0, ("b", "2024-01-02"): 1, ("b", "2024-01-03"): 0},
    ),
    (
        [("a", "2024-01-01 10:00"), ("a", "2024-01-03 23:00"), ("b", "2024-01-02 01:00")],
        {"freq": "day", "span": "per_series"},
        {("a", "2024-01-01"): 1, ("a", "2024-01-02"): 0, ("a", "2024-01-03"): 1, ("b", "2024-01-02"): 1},
    ),
    (
        [("a", "2024-01-01 10:10"), ("a", "2024-01-01 10:50"), ("a", "2024-01-01 12:00")],
        {"freq": "hour"},
        {("a", "2024-01-01 10:00"): 2, ("a", "2024-01-01 11:00"): 0, ("a", "2024-01-01 12:00"): 1},
    ),
    # Chicago is UTC-6 in January: 03:00 UTC on the 2nd is still the 1st locally.
    (
        [("a", "2024-01-02 03:00"), ("a", "2024-01-02 07:00")],
        {"freq": "day", "tz": "America/Chicago"},
        {("a", "2024-01-01 06:00"): 1, ("a", "2024-01-02 06:00"): 1},
    ),
]


@pytest.mark.parametrize(("rows", "kwargs", "expected"), CASES)
def test_count_series_table(rows, kwargs, expected):
    out = count_series(_events(rows), keys=["k"], time_col="t", **kwargs).to_pandas()
    got = {(r.k, r.period_start): r.count for r in out.itertuples()}
    assert got == {(k, pd.Timestamp(t, tz="UTC")): c for (k, t), c in expected.items()}
    assert (out["period_end"] > out["period_start"]).all()


def test_multi_key_and_explicit_range():
    t = pa.table(
        {
            "d": ["1", "1", "2"],
            "cat": ["x", "y", "x"],
            "t": pa.array(pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03"], utc=True), pa.timestamp("us", tz="UTC")),
        }
    )
    out = count_series(t, keys=["d", "cat"], time_col="t", start="2024-01-01", end="2024-01-05")
    assert out.num_rows == 3 * 5
    assert set(out["series_key"].to_pylist()) == {"1|x", "1|y", "2|x"}
    assert sum(out["count"].to_pylist()) == 3


def test_dst_day_is_23_hours():
    t = _events([("a", "2024-03-09 12:00"), ("a", "2024-03-11 12:00")])
    out = count_series(t, keys=["k"], time_col="t", tz="America/Chicago").to_pandas()
    lengths = (out["period_end"] - out["period_start"]).dt.total_seconds() / 3600
    assert lengths.tolist() == [24, 23, 24]


def test_empty_and_bad_input():
    empty = _events([("a", "2024-01-01")]).slice(0, 0)
    assert count_series(empty, keys=["k"], time_col="t").num_rows == 0
    with pytest.raises(ValueError, match="not in table"):
        count_series(empty, keys=["nope"], time_col="t")
    with pytest.raises(ValueError, match="freq"):
        count_series(empty, keys=["k"], time_col="t", freq="week")
