import datetime as dt

import pyarrow as pa
import pytest

from jobs.localtime import local_dates, local_days

UTC = dt.timezone.utc
TS = pa.timestamp("us", tz="UTC")


def test_local_days_count_days_in_the_zone():
    ts = pa.chunked_array([pa.array([dt.datetime(2024, 1, 2, 3, tzinfo=UTC)], TS)])
    utc, chicago = local_days(ts, "UTC"), local_days(ts, "America/Chicago")
    assert utc[0] - chicago[0] == 1  # 03:00 UTC is still the evening before in Chicago


@pytest.mark.parametrize("instant, zone, day", [
    ("2018-01-01T05:59:00", "America/Chicago", "2017-12-31"),   # CST: UTC-6
    ("2018-01-01T06:00:00", "America/Chicago", "2018-01-01"),
    ("2017-07-01T04:59:00", "America/Chicago", "2017-06-30"),   # CDT: UTC-5
    ("2017-07-01T05:00:00", "America/Chicago", "2017-07-01"),
    ("2019-01-01T07:59:00", "America/Los_Angeles", "2018-12-31"),
    ("2019-01-01T00:00:00", "Asia/Kolkata", "2019-01-01"),       # UTC+5:30
    ("2018-12-31T18:29:00", "Asia/Kolkata", "2018-12-31"),
    ("2018-12-31T18:30:00", "Asia/Kolkata", "2019-01-01"),
    ("1969-12-31T23:00:00", "UTC", "1969-12-31"),                # before the epoch: floor, not truncation
])
def test_local_dates_table(instant, zone, day):
    ts = pa.array([dt.datetime.fromisoformat(instant).replace(tzinfo=UTC)], TS)
    dates, zones = local_dates(ts, pa.array(["feed"]), {"feed": zone})
    assert dates.to_pylist() == [dt.date.fromisoformat(day)]
    assert zones.to_pylist() == [zone]


def test_local_dates_mix_zones_keep_nulls_and_default_unknown_keys():
    ts = pa.chunked_array([pa.array([dt.datetime(2018, 1, 1, 3, tzinfo=UTC), None,
                                     dt.datetime(2018, 1, 1, 3, tzinfo=UTC)], TS)])
    dates, zones = local_dates(ts, pa.array(["chicago", "chicago", "other"]), {"chicago": "America/Chicago"})
    assert dates.to_pylist() == [dt.date(2017, 12, 31), None, dt.date(2018, 1, 1)]
    assert zones.to_pylist() == ["America/Chicago", "America/Chicago", "UTC"]
    empty, _ = local_dates(pa.array([], TS), pa.array([], pa.string()), {})
    assert len(empty) == 0


def test_local_dates_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 timestamps but 1 keys"):
        local_dates(pa.array([None, None], TS), pa.array(["a"]), {})
