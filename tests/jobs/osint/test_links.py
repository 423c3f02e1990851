"""Post-incident links on tiny planted cases: the right incident ranks first, far posts get none, the
report/announce sign, scores in [0, 1], no raw identifier copied out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from jobs.ask.semantic import embed
from jobs.osint.links import OSINT_INCIDENT_LINKS, LinkSettings, link_posts, link_scores, score

UTC = pa.timestamp("us", tz="UTC")
T0 = datetime(2017, 12, 6, 3, tzinfo=timezone.utc)
HERE = (-87.720, 41.900)


def _incidents() -> pa.Table:
    rows = [  # id, lon, lat, hours after T0
        ("c:near_now", HERE[0] + 0.001, HERE[1], 0.0),
        ("c:2km_now", HERE[0] + 0.024, HERE[1], 0.5),
        ("c:near_3_days_ago", HERE[0], HERE[1] + 0.001, -72.0),
        ("c:20km_now", HERE[0] + 0.24, HERE[1], 0.0),
    ]
    return pa.table({"incident_id": [r[0] for r in rows], "lon": [r[1] for r in rows], "lat": [r[2] for r in rows],
                     "occurred_at": pa.array([T0 + timedelta(hours=r[3]) for r in rows], UTC),
                     "category": ["aggravated_assault"] * 4, "location_type": ["street", "residence", "street", "bar"],
                     "mo_text": [None] * 4})


def _posts(texts, posted_h, geo=None) -> pa.Table:
    n = len(texts)
    geo = geo or [(None, None)] * n
    return pa.table({"post_id": [f"feed:{i}" for i in range(n)], "text": texts,
                     "posted_at": pa.array([T0 + timedelta(hours=h) for h in posted_h], UTC),
                     "lon": pa.array([g[0] for g in geo], pa.float64()),
                     "lat": pa.array([g[1] for g in geo], pa.float64())})


def _mentions(rows) -> pa.Table:
    """rows: (post_id, kind, lon, lat, hours after T0 of a named time)"""
    return pa.table({"post_id": [r[0] for r in rows], "kind": [r[1] for r in rows],
                     "lon": pa.array([r[2] for r in rows], pa.float64()),
                     "lat": pa.array([r[3] for r in rows], pa.float64()),
                     "time_at": pa.array([None if r[4] is None else T0 + timedelta(hours=r[4]) for r in rows], UTC)})


def test_a_report_links_the_incident_nearby_and_just_before():
    posts = _posts(["Just heard shots near Humboldt Park, cops everywhere"], [2.0])
    links = link_posts(_mentions([("feed:0", "place", *HERE, None)]), posts, _incidents(), embed=embed)
    assert links.schema == OSINT_INCIDENT_LINKS
    ids = links["incident_id"].to_pylist()
    assert ids[0] == "c:near_now" and links["rank"].to_pylist()[0] == 1
    assert "c:20km_now" not in ids and "c:near_3_days_ago" not in ids  # too far in space, in time
    assert set(ids) == {"c:near_now", "c:2km_now"}
    assert links["relation"].to_pylist() == ["report", "report"]
    assert links["time_gap_h"].to_pylist()[0] == pytest.approx(2.0)
    assert links["distance_m"].to_pylist()[0] == pytest.approx(83, abs=2)  # 0.001° of longitude at 41.9°N
    s = links["score"].to_numpy()
    assert np.all((s >= 0) & (s <= 1)) and s[0] > s[1]


def test_an_announcement_links_the_incident_at_the_time_it_names():
    # posted two days before, naming a time an hour after the incident: an announcement (negative gap)
    posts = _posts(["Pull up Saturday night in Humboldt Park"], [-48.0])
    m = _mentions([("feed:0", "place", *HERE, None), ("feed:0", "time", None, None, 1.0)])
    links = link_posts(m, posts, _incidents(), embed=embed)
    first = links.slice(0, 1).to_pylist()[0]
    assert first["incident_id"] == "c:near_now" and first["relation"] == "announce"
    assert first["time_gap_h"] == pytest.approx(-48.0)


def test_a_post_far_away_or_long_after_gets_no_link():
    far = (HERE[0] + 0.6, HERE[1])  # 50 km
    posts = _posts(["shots near the lake", "shots near Humboldt Park", "shots, cops everywhere"], [2.0, 40.0, 2.0],
                   geo=[(None, None), (None, None), far])
    m = _mentions([("feed:0", "place", *far, None), ("feed:1", "place", *HERE, None)])
    assert link_posts(m, posts, _incidents(), embed=embed).num_rows == 0


def test_the_geotag_places_a_post_naming_no_place():
    posts = _posts(["Ambulance and like 5 squad cars on my block"], [1.0], geo=[HERE])
    links = link_posts(_mentions([]), posts, _incidents(), embed=embed)
    assert links["incident_id"].to_pylist()[0] == "c:near_now"


def test_k_keeps_the_best_incidents_of_each_post():
    posts = _posts(["shots near Humboldt Park"], [2.0])
    links = link_posts(_mentions([("feed:0", "place", *HERE, None)]), posts, _incidents(), embed=embed,
                       settings=LinkSettings(k=1))
    assert links["incident_id"].to_pylist() == ["c:near_now"] and links["rank"].to_pylist() == [1]


def test_no_raw_identifier_is_copied_out():
    posts = _posts(["call 312-555-0199 or @big_mike, shots near Humboldt Park"], [2.0])
    links = link_posts(_mentions([("feed:0", "place", *HERE, None)]), posts, _incidents(), embed=embed)
    assert links.num_rows and set(links.column_names) == set(OSINT_INCIDENT_LINKS.names)
    cells = [str(v) for col in links.columns for v in col.to_pylist()]
    assert not any("555" in c or "big_mike" in c for c in cells)


def test_the_score_is_monotone_and_bounded():
    base = score([0.2], [500.0], [2.0])[0]
    assert score([0.4], [500.0], [2.0])[0] > base > score([0.2], [900.0], [2.0])[0]
    assert base > score([0.2], [500.0], [5.0])[0]
    s = score(np.linspace(-1, 1, 50), np.linspace(0, 1e5, 50), np.linspace(0, 1e3, 50))
    assert np.all((s >= 0) & (s <= 1))


def test_link_scores_counts_pairs_over_the_threshold():
    links = pa.table({"post_id": ["feed:1", "feed:2", "feed:3"], "incident_id": ["a", "b", "c"],
                      "score": [0.9, 0.8, 0.1]})
    truth = pa.table({"post_id": ["1", "3"], "incident_id": ["a", "c"]})
    s = link_scores(links, truth, 0.5)
    assert (s["precision"], s["recall"]) == (0.5, 0.5)


@pytest.mark.parametrize("field,value", [("max_distance_m", 0.0), ("k", 0), ("threshold", 1.5)])
def test_settings_are_checked(field, value):
    with pytest.raises(ValueError, match=field):
        LinkSettings(**{field: value})


def test_the_join_in_small_chunks_gives_the_same_links():
    posts = _posts(["shots near Humboldt Park", "fight on my block"], [2.0, 1.0], geo=[(None, None), HERE])
    m = _mentions([("feed:0", "place", *HERE, None)])
    whole = link_posts(m, posts, _incidents(), embed=embed)
    assert whole.num_rows == 4
    assert link_posts(m, posts, _incidents(), embed=embed, settings=LinkSettings(chunk_pairs=1)).equals(whole)
