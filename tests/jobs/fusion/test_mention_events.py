"""Resolved place mentions of post texts (gold ``osint_mentions``) as events of kind ``osint_mention``."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from jobs.fusion.events import build_events, changed_slice, events_from, mention_events
from jobs.fusion.schemas import EVENTS
from jobs.osint.mentions import OSINT_MENTIONS

POSTED = datetime(2017, 12, 6, 15, tzinfo=timezone.utc)
NAMED = datetime(2017, 12, 7, 3, tzinfo=timezone.utc)


def mention(post: str, kind: str, start: int, end: int, *, lon=None, lat=None, district=None, time_at=None,
            score=1.0) -> dict:
    return dict(post_id=post, posted_at=POSTED, kind=kind, subkind=None, span_start=start, span_end=end, text=None,
                value=None, place_name=None, lon=lon, lat=lat, h3=None, district=district, time_at=time_at,
                score=score, method="exact", language="en")


POSTS = pa.table({"post_id": ["feed:1", "feed:2", "feed:3"], "source": ["feed"] * 3, "author": ["a1", "a2", "a3"],
                  "mentions": [["b1"], None, []]})

# (case, mention rows, expected (event_id, occurred_at, location_basis, district, entity_ids) rows)
CASES = [
    ("a place and a time the post names",
     [mention("feed:1", "place", 0, 5, lon=-87.7, lat=41.9, district="14"),
      mention("feed:1", "time", 20, 27, time_at=NAMED)],
     [("osint_mentions:feed:1@0-5", NAMED, "named_place_time", "14", ["handle:a1", "handle:b1"])]),
    ("no time named: when it was posted",
     [mention("feed:2", "place", 3, 9, lon=-87.6, lat=41.8, district="9")],
     [("osint_mentions:feed:2@3-9", POSTED, "named_place", "9", ["handle:a2"])]),
    ("two places, two times: each place takes the time nearest it in the text",
     [mention("feed:1", "place", 0, 5, lon=-87.7, lat=41.9), mention("feed:1", "time", 8, 12, time_at=NAMED),
      mention("feed:1", "place", 40, 46, lon=-87.6, lat=41.8), mention("feed:1", "time", 50, 55, time_at=POSTED)],
     [("osint_mentions:feed:1@0-5", NAMED, "named_place_time", None, ["handle:a1", "handle:b1"]),
      ("osint_mentions:feed:1@40-46", POSTED, "named_place_time", None, ["handle:a1", "handle:b1"])]),
    ("an ambiguous alias (score shared by two places), an unlocated place, a topic: no event",
     [mention("feed:2", "place", 0, 4, lon=-87.6, lat=41.8, score=0.5), mention("feed:2", "place", 6, 9),
      mention("feed:2", "topic", 10, 15)],
     []),
    ("a post no longer in silver: no event",
     [mention("feed:9", "place", 0, 4, lon=-87.6, lat=41.8)],
     []),
]


@pytest.mark.parametrize("case,rows,expected", CASES, ids=[c[0] for c in CASES])
def test_mention_events(case, rows, expected):
    ev = mention_events(pa.Table.from_pylist(rows, schema=OSINT_MENTIONS), POSTS)
    assert ev.schema == EVENTS
    got = [(r["event_id"], r["occurred_at"], r["location_basis"], r["district"], r["entity_ids"])
           for r in ev.sort_by("event_id").to_pylist()]
    assert got == expected
    assert set(ev["kind"].to_pylist()) <= {"osint_mention"} and set(ev["origin"].to_pylist()) <= {"osint_mentions"}
    assert all(len(h) == 15 for h in ev["h3"].to_pylist())  # res 12 cell of the place's point


def test_mention_events_in_the_fused_table_and_their_ids_are_stable():
    rows = CASES[0][1] + CASES[1][1]
    mentions = pa.Table.from_pylist(rows, schema=OSINT_MENTIONS)
    posts = POSTS.append_column("posted_at", pa.array([POSTED] * 3, pa.timestamp("us", tz="UTC"))) \
        .append_column("lon", pa.array([-87.65, None, None], pa.float64())) \
        .append_column("lat", pa.array([41.85, None, None], pa.float64()))
    fused = build_events({"osint_posts": posts, "osint_mentions": mentions}, ctx=None)
    assert fused["event_id"].to_pylist() == ["osint_mentions:feed:1@0-5", "osint_mentions:feed:2@3-9",
                                             "osint_posts:feed:1"]
    again = build_events({"osint_posts": posts, "osint_mentions": mentions.take([1, 0, 2])}, ctx=None)
    assert again.equals(fused)
    with pytest.raises(ValueError, match="need the posts"):
        events_from("osint_mentions", mentions, ctx=None)


def test_changed_slice_writes_only_what_changed():
    old = mention_events(pa.Table.from_pylist(CASES[0][1] + CASES[1][1], schema=OSINT_MENTIONS), POSTS)
    gone, fresh = changed_slice(old, old)
    assert len(gone) == 0 and fresh.num_rows == 0
    # a new post's place, a moved place (same span, other point) and a withdrawn mention
    new_rows = [mention("feed:1", "place", 0, 5, lon=-87.71, lat=41.9, district="14"),
                mention("feed:1", "time", 20, 27, time_at=NAMED),
                mention("feed:3", "place", 0, 4, lon=-87.5, lat=41.7)]
    new = mention_events(pa.Table.from_pylist(new_rows, schema=OSINT_MENTIONS), POSTS)
    gone, fresh = changed_slice(old, new)
    assert gone.to_pylist() == ["osint_mentions:feed:1@0-5", "osint_mentions:feed:2@3-9"]
    assert sorted(fresh["event_id"].to_pylist()) == ["osint_mentions:feed:1@0-5", "osint_mentions:feed:3@0-4"]


def test_mention_events_are_incident_context(sd):
    from jobs.fusion.context import ContextSettings, context_from_records

    inc = pa.table({"incident_id": ["i1"], "occurred_at": pa.array([NAMED], pa.timestamp("us", tz="UTC")),
                    "lon": [-87.7], "lat": [41.9]})
    rows = [mention("feed:1", "place", 0, 5, lon=-87.7, lat=41.905), mention("feed:1", "time", 20, 27, time_at=NAMED),
            mention("feed:2", "place", 0, 5, lon=-87.7, lat=41.905),  # posted 12 h before the incident: outside
            mention("feed:3", "place", 0, 5, lon=-87.6, lat=41.9)]   # named at posting time, 8 km away
    ev = mention_events(pa.Table.from_pylist(rows, schema=OSINT_MENTIONS), POSTS)
    out = context_from_records(inc, mentions=ev, ctx=sd, settings=ContextSettings())
    assert [(r["relation"], r["record_id"], r["entity_id"], r["dt_s"]) for r in out.to_pylist()] == [
        ("osint_mention", "osint_mentions:feed:1@0-5", "handle:a1", 0)]
    assert out["distance_m"][0].as_py() == pytest.approx(556, abs=2)  # 0.005 degrees of latitude
    assert out["confidence"][0].as_py() == pytest.approx(0.5 * (1 - 556 / 1000), abs=0.01)  # a named place: halved
