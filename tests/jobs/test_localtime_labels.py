"""Weeks and shifts as people read them: local dates, wall-clock times across daylight saving."""

from __future__ import annotations

import pandas as pd
import pytest

from jobs.localtime import day_label, local_week, span_label, wall_time, week_label


@pytest.mark.parametrize("week, tz, label", [
    ("2018-01-01", "America/Chicago", "week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)"),
    (pd.Timestamp("2018-01-01", tz="UTC"), "America/Chicago",
     "week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)"),  # not Sunday 31 Dec, where 00:00 UTC falls
    ("2017-12-25", "Asia/Tokyo", "week of Mon 25 Dec 2017 – Sun 31 Dec 2017 (Asia/Tokyo)"),
    ("2018-01-01", "UTC", "week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (UTC)"),
])
def test_week_label(week, tz, label):
    assert week_label(week, tz) == label


def test_local_week_rejects_an_unknown_zone():
    with pytest.raises(Exception, match="Mars"):
        local_week("2018-01-01", "Mars/Olympus")


@pytest.mark.parametrize("day, hours, tz, utc", [
    ("2018-01-01", 6, "America/Chicago", "2018-01-01 12:00"),   # CST, UTC-6
    ("2018-03-11", 6, "America/Chicago", "2018-03-11 11:00"),   # DST began at 02:00: CDT, UTC-5
    ("2018-03-11", 2.5, "America/Chicago", "2018-03-11 08:00"),  # 02:30 does not exist: 03:00 CDT
    ("2018-11-04", 1.5, "America/Chicago", "2018-11-04 06:30"),  # 01:30 twice: the first (CDT)
])
def test_wall_time(day, hours, tz, utc):
    assert wall_time(day, hours, tz) == pd.Timestamp(utc, tz="UTC")


def test_span_and_day_labels():
    start = wall_time("2018-01-07", 22, "America/Chicago")
    assert span_label(start, 8) == "Sun 7 Jan 22:00–06:00"
    assert day_label("2018-01-01", year=True) == "Mon 1 Jan 2018"
