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


def _feed(burst_size: int = 40, seed: int = 3, burst_day: int = BURST_DAY) -> pa.Table:
    rng = np.random.default_rng(seed)
    texts, times = [], []
    for day in range(35):
        quiet = rng.poisson(3)
        burst = burst_size if day == burst_day else 0
        for k in range(quiet + burst):
            place = "Englewood" if (burst and k >= quiet) else ("Humboldt Park", "Englewood")[k % 2]
            texts.append(f"heard shots near {place}" if k % 3 == 0 or burst else f"coffee in {place}")
            times.append(START + timedelta(days=day, minutes=int(rng.integers(0, 300))))
    texts.append("Pull up Saturday night in Humboldt Park")  # posted Tue 5 Dec 2017, 12:00 local
    times.append(datetime(2017, 12, 5, 18, tzinfo=timezone.utc))
    return pa.table({"post_id": [f"p{i}" for i in range(len(texts))], "text": texts,
                     "posted_at": pa.array(times, pa.timestamp("us", tz="UTC"))})


def _mentions(burst_size: int = 40, burst_day: int = BURST_DAY):
    return extract_mentions(_feed(burst_size, burst_day=burst_day),
                            build_gazetteer([tagged_places(PLACES)], boundaries=AREAS), tz=TZ, key=None)


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


def test_a_burst_on_the_last_day_of_a_short_feed_alerts():
    """Five weeks of posts get no trend: fitted, a trend rose to meet the last day's burst and hid it."""
    last = pd.Timestamp((START + timedelta(days=34)).astimezone(ZoneInfo(TZ)).date(), tz=TZ)
    mentions = _mentions(burst_size=6, burst_day=34)

    def on_last_day(alerts):
        return {a for a, s in zip(alerts["area"].to_pylist(), alerts["period_start"].to_pylist())
                if pd.Timestamp(s) == last}

    assert on_last_day(chatter_spikes(mentions, tz=TZ)) == {"7", "city"}
    assert on_last_day(chatter_spikes(mentions, tz=TZ, trend=True)) == set()


def test_burst_scores_count_area_and_city_alerts_against_planted_bursts():
    from jobs.osint.chatter import CHATTER_ALERTS, burst_scores

    day = datetime(2017, 12, 2).date()
    midnight = pd.Timestamp(day, tz=TZ).tz_convert("UTC")
    truth = pa.table({"burst_id": ["b1", "b2"], "topic": ["violence", "drugs"], "day": [day, day],
                      "post_ids": [["p1", "p2", "p3"], ["p4", "p5"]]})
    mentions = pa.table({"post_id": ["synthetic_osint:p1", "synthetic_osint:p2", "synthetic_osint:p3",
                                     "synthetic_osint:p4", "synthetic_osint:p5", "synthetic_osint:p9"],
                         "kind": ["place"] * 6, "district": ["7", "7", "14", "3", "3", "9"]})
    rows = [("spike", "7", "violence", midnight), ("spike", "7", "police", midnight),  # both right: b1's area, day
            ("spike", "9", "violence", midnight),  # wrong: nothing planted in 9
            ("spike", "city", "violence", midnight), ("announcement", "9", None, midnight)]
    alerts = pa.Table.from_pylist([dict(zip(["alert_type", "area", "topic", "period_start"], r)) for r in rows],
                                  schema=pa.schema([CHATTER_ALERTS.field(c) for c in
                                                    ["alert_type", "area", "topic", "period_start"]]))
    s = burst_scores(alerts, truth, mentions, tz=TZ)
    assert (s["bursts"], s["found"], s["recall"]) == (2, 1, 0.5)  # b2 (drugs in 3) raised nothing
    assert (s["alerts"], s["right"]) == (3, 2) and abs(s["precision"] - 2 / 3) < 1e-12
    assert s["city_recall"] == 0.5 and s["city_precision"] == 1.0
