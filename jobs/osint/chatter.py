"""Gold ``chatter_alerts``: spikes of crime chatter per area and day, and announcements.

- **spikes**: posts naming a topic (:mod:`jobs.osint.topics`) are counted per local day
  and per area (the district of the first place the post names, and ``city`` for all of
  the feed's posts), one series per (area, topic); each day is tested against the
  series' seasonal baseline with false-discovery-rate control by the project's spike
  kernel (:func:`jobs.anomalies.spikes.detect_spikes`: robust negative-binomial
  baseline with a weekday effect, and a trend once the posts span
  :data:`TREND_MIN_DAYS`; Benjamini-Hochberg across all series and days);
- **announcements**: posts that name a place and a time after they were posted ("Pull up
  Saturday night in Austin"), one row per post with its first place and first future time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CITY = "city"
#: days of posts a series needs before its baseline gets a trend: over a few weeks a trend is the
#: bursts themselves (a burst on the last days pulled the trend up and was expected, not alerted)
TREND_MIN_DAYS = 56

CHATTER_ALERTS = pa.schema([
    pa.field("alert_type", pa.string(), nullable=False),  # spike | announcement
    pa.field("area", pa.string()),  # district id, or "city"
    pa.field("topic", pa.string()),
    pa.field("period_start", pa.timestamp("us", tz="UTC"), nullable=False),  # spike day / announced time
    pa.field("period_end", pa.timestamp("us", tz="UTC")),
    pa.field("observed", pa.int64()), pa.field("expected", pa.float64()), pa.field("q_value", pa.float64()),
    pa.field("severity", pa.string()),
    pa.field("post_id", pa.string()), pa.field("posted_at", pa.timestamp("us", tz="UTC")),
    pa.field("place_name", pa.string()), pa.field("lon", pa.float64()), pa.field("lat", pa.float64()),
    pa.field("h3", pa.string()), pa.field("announced_local", pa.string()),
])


def _first(mentions: pa.Table, kind: str, columns: list[str]) -> pa.Table:
    """The first mention of ``kind`` of each post (mentions are sorted by post and position)."""
    t = mentions.filter(pc.equal(mentions["kind"], kind)).select(["post_id", *columns])
    if not t.num_rows:
        return t
    ids = t["post_id"].to_numpy(zero_copy_only=False)
    keep = np.ones(len(ids), dtype=bool)
    keep[1:] = ids[1:] != ids[:-1]
    return t.filter(pa.array(keep))


def topic_rows(mentions: pa.Table) -> pa.Table:
    """``post_id, posted_at, area, topic``: each post once per topic it names, in the city and in its area."""
    topics = mentions.filter(pc.equal(mentions["kind"], "topic")).select(["post_id", "posted_at", "subkind"])
    topics = topics.group_by(["post_id", "posted_at", "subkind"]).aggregate([]).rename_columns(
        ["post_id", "posted_at", "topic"])
    areas = _first(mentions, "place", ["district"])
    local = topics.join(areas, "post_id", join_type="left outer")
    local = local.filter(pc.is_valid(local["district"])).rename_columns(
        ["area" if c == "district" else c for c in local.column_names])
    city = topics.append_column("area", pa.array([CITY] * topics.num_rows, pa.string()))
    cols = ["post_id", "posted_at", "area", "topic"]
    return pa.concat_tables([city.select(cols), local.select(cols)], promote_options="permissive")


def chatter_spikes(mentions: pa.Table, *, tz: str, start=None, end=None, **spike_settings) -> pa.Table:
    """Days whose topic chatter in an area exceeds its seasonal baseline (:data:`CHATTER_ALERTS` rows).

    ``start``/``end``: the span the series cover (default: the posts'); ``spike_settings``: fields of
    :class:`jobs.anomalies.spikes.SpikeParams` (``fdr_alpha``, ``min_observed``...).
    """
    from jobs.anomalies.spikes import detect_spikes
    from jobs.anomalies.timeseries import count_series

    rows = topic_rows(mentions)
    if not rows.num_rows:
        return CHATTER_ALERTS.empty_table()
    series = count_series(rows, keys=["area", "topic"], time_col="posted_at", freq="day", tz=tz, start=start, end=end)
    days = pc.count_distinct(series["period_start"]).as_py()
    spikes = detect_spikes(series, freq="day", tz=tz,
                           **{"only_alerts": True, "trend": days >= TREND_MIN_DAYS, **spike_settings})
    if not spikes.num_rows:
        return CHATTER_ALERTS.empty_table()
    area_topic = [k.split("|", 1) for k in spikes["series_key"].to_pylist()]
    n = spikes.num_rows
    nulls = {f.name: pa.nulls(n, f.type) for f in CHATTER_ALERTS}
    return pa.table({**nulls,
                     "alert_type": pa.array(["spike"] * n, pa.string()),
                     "area": pa.array([a for a, _ in area_topic], pa.string()),
                     "topic": pa.array([t for _, t in area_topic], pa.string()),
                     "period_start": spikes["window_start"], "period_end": spikes["window_end"],
                     "observed": spikes["observed"], "expected": spikes["expected"], "q_value": spikes["q_value"],
                     "severity": spikes["severity"]}, schema=CHATTER_ALERTS)


def announcements(mentions: pa.Table) -> pa.Table:
    """Posts naming a place and a time after they were posted (:data:`CHATTER_ALERTS` rows)."""
    times = mentions.filter(pc.equal(mentions["kind"], "time"))
    times = times.filter(pc.greater(times["time_at"], times["posted_at"]))
    times = _first(times, "time", ["posted_at", "time_at", "value"])
    places = _first(mentions, "place", ["district", "place_name", "lon", "lat", "h3"])
    t = times.join(places, "post_id", join_type="inner").sort_by([("time_at", "ascending"), ("post_id", "ascending")])
    n = t.num_rows
    nulls = {f.name: pa.nulls(n, f.type) for f in CHATTER_ALERTS}
    return pa.table({**nulls,
                     "alert_type": pa.array(["announcement"] * n, pa.string()), "area": t["district"],
                     "period_start": t["time_at"], "post_id": t["post_id"], "posted_at": t["posted_at"],
                     "place_name": t["place_name"], "lon": t["lon"], "lat": t["lat"], "h3": t["h3"],
                     "announced_local": t["value"]}, schema=CHATTER_ALERTS)


def burst_scores(alerts: pa.Table, truth: pa.Table, mentions: pa.Table, *, tz: str) -> dict[str, float]:
    """Recall and precision of the spike alerts against planted chatter bursts (``truth/osint_bursts``).

    A burst's area is the district its posts' place mentions resolve to most often (the area
    the spikes count it in). It is found when a spike alert names its area, its topic and its
    local day. An area alert (not ``city``) is right when a burst was planted in its area on its
    day, whatever the topic (a burst about shootings may also raise police chatter). City
    alerts are scored the same way on day and topic alone.
    """
    import pandas as pd

    spikes = alerts.filter(pc.equal(alerts["alert_type"], "spike")).to_pandas()
    spikes["day"] = spikes["period_start"].dt.tz_convert(tz).dt.date
    places = mentions.filter(pc.and_(pc.equal(mentions["kind"], "place"), pc.is_valid(mentions["district"])))
    district = places.select(["post_id", "district"]).to_pandas()
    district["post_id"] = district["post_id"].str.split(":", n=1).str[-1]  # the feed prefix silver adds
    rows = [(b["burst_id"], pid, b["topic"], b["day"]) for b in truth.to_pylist() for pid in b["post_ids"]]
    posts = pd.DataFrame(rows, columns=["burst_id", "post_id", "topic", "day"]).merge(district, on="post_id")
    bursts = (posts.groupby(["burst_id", "topic", "day"])["district"].agg(lambda s: s.mode().iloc[0])
              .rename("area").reset_index())
    area = spikes[spikes["area"] != CITY]
    city = spikes[spikes["area"] == CITY]
    found = bursts.merge(area, on=["area", "topic", "day"]).burst_id.nunique()
    city_found = bursts.merge(city.drop(columns="area"), on=["topic", "day"]).burst_id.nunique()
    right = area.merge(bursts[["area", "day"]].drop_duplicates(), on=["area", "day"]).shape[0]
    city_right = city.merge(bursts[["topic", "day"]].drop_duplicates(), on=["topic", "day"]).shape[0]
    n = truth.num_rows
    return {"bursts": n, "found": found, "recall": found / n if n else float("nan"),
            "alerts": len(area), "right": right, "precision": right / len(area) if len(area) else float("nan"),
            "city_recall": city_found / n if n else float("nan"), "city_alerts": len(city),
            "city_precision": city_right / len(city) if len(city) else float("nan")}
