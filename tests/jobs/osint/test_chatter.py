"""Chatter spikes and announcements on a tiny planted feed: a burst of shooting talk in one area on one day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from jobs.osint.chatter import announcements, chatter_spikes, topic_rows
from jobs.osint.gazetteer import build_gazetteer, tagged_places
from jobs.osint.mentions import extract_mentions
from jobs.osint.topics import find_topics
from jobs.osint.text import fold

TZ = "America/Chicago"
PLACES = pa.table({"place_name": ["Humboldt Park", "Englewood"], "lon": [-87.72, -87.64], "lat": [41.90, 41.78]})
AREAS = pa.table({"area_id": ["14", "7"], "geometry": [shapely.to_wkb(shapely.box(-87.8, 41.85, -87.6, 41.95)),
                                                       shapely.to_wkb(shapely.box(-87.8, 41.70, -87.6, 41.85))]})
START = datetime(2017, 11, 1, 18, tzinfo=timezone.utc)
BURST_DAY = 20


def _feed(burst_size: int = 40, seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    texts, times = [], []
    for day in range(35):
        quiet = rng.poisson(3)
        burst = burst_size if day == BURST_DAY else 0
        for k in range(quiet + burst):
            place = "Englewood" if (burst and k >= quiet) else ("Humboldt Park", "Englewood")[k % 2]
            texts.append(f"heard shots near {place}" if k % 3 == 0 or burst else f"coffee in {place}")
            times.append(START + timedelta(days=day, minutes=int(rng.integers(0, 300))))
    texts.append("Pull up Saturday night in Humboldt Park")  # posted Tue 5 Dec 2017, 12:00 local
    times.append(datetime(2017, 12, 5, 18, tzinfo=timezone.utc))
    return pa.table({"post_id": [f"p{i}" for i in range(len(texts))], "text": texts,
                     "posted_at": pa.array(times, pa.timestamp("us", tz="UTC"))})


def _mentions(burst_size: int = 40):
    return extract_mentions(_feed(burst_size), build_gazetteer([tagged_places(PLACES)], boundaries=AREAS), tz=TZ, key=None)


def test_topics_in_english_and_spanish():
    assert [t[2] for t in find_topics(fold("Balazos cerca, mucha policía; shots fired and a glock"))] == [
        "violence", "police", "violence", "weapons"]
    assert find_topics(fold("Sunset over the lake")) == []


def test_burst_day_alerts_in_its_area_and_the_city():
    alerts = chatter_spikes(_mentions(), tz=TZ)
    burst_day = pd.Timestamp((START + timedelta(days=BURST_DAY)).astimezone(ZoneInfo(TZ)).date(), tz=TZ)
    found = {(a, t) for a, t, s in zip(alerts["area"].to_pylist(), alerts["topic"].to_pylist(),
                                       alerts["period_start"].to_pylist()) if pd.Timestamp(s) == burst_day}
    assert found == {("city", "violence"), ("7", "violence")}  # Englewood is in 7
    assert len(found) == alerts.num_rows  # no other day alerts
    assert pc.all(pc.less_equal(alerts["q_value"], 0.05)).as_py()


def test_quiet_feed_has_no_spike():
    assert chatter_spikes(_mentions(burst_size=0), tz=TZ).num_rows == 0


def test_announcement_names_the_place_and_the_future_time():
    ann = announcements(_mentions()).to_pylist()
    assert len(ann) == 1
    a = ann[0]
    assert a["place_name"] == "Humboldt Park" and a["announced_local"] == "2017-12-09T21:00:00-06:00"
    assert a["period_start"] > a["posted_at"]


def test_topic_rows_count_each_post_once_per_topic():
    rows = topic_rows(_mentions())
    keys = list(zip(rows["post_id"].to_pylist(), rows["area"].to_pylist(), rows["topic"].to_pylist()))
    assert len(keys) == len(set(keys))
