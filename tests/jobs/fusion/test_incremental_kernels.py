"""Pure helpers behind the incremental fusion assets: context windows, moved places, change signs, fuzzy links."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from jobs.fusion.context import ContextSettings, moved_places
from jobs.fusion.context_windows import (context_windows, epoch_us, incidents_reached, reached_ranges, time_clusters,
                                         widest_window)
from jobs.fusion.export import window_days, window_start
from jobs.fusion.names import fuzzy_same_as_links, with_fuzzy_links
from jobs.fusion.schemas import ENTITY_LINKS, MATCHES
from jobs.fusion.tally import change_signs

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
S = 1_000_000


def incidents(hours: list[float]) -> pa.Table:
    return pa.table({"incident_id": pa.array([f"i{k}" for k in range(len(hours))], pa.string()),
                     "occurred_at": pa.array([T0 + dt.timedelta(hours=h) for h in hours], pa.timestamp("us", tz="UTC"))})


@pytest.mark.parametrize("times, gap, expected", [
    ([], 10, []),
    ([5], 10, [(5, 5)]),
    ([30 * S, 0, 10 * S], 10, [(0, 10 * S), (30 * S, 30 * S)]),   # sorted first; 20 s apart is a new cluster
    ([0, 10 * S, 20 * S], 10, [(0, 20 * S)]),                    # within the gap: one cluster
])
def test_time_clusters(times, gap, expected):
    assert time_clusters(np.array(times, np.int64), gap) == expected


def test_widest_window_and_epoch():
    s = ContextSettings(tower_before_s=10, post_before_s=20, camera_after_s=99999)
    assert widest_window(s) == (max(20, s.txn_before_s, s.camera_before_s, s.mention_before_s), 99999)
    assert epoch_us(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc)) == S


def test_reached_ranges_and_incidents_reached():
    s = ContextSettings(tower_before_s=3600, tower_after_s=1800, txn_before_s=0, txn_after_s=0, post_before_s=0,
                        post_after_s=0, place_after_s=0, camera_before_s=0, camera_after_s=0, mention_before_s=0,
                        mention_after_s=0)
    candidate = pa.array([T0 + dt.timedelta(hours=10)], pa.timestamp("us", tz="UTC"))
    (lo, hi), = reached_ranges(candidate, s)
    assert (lo, hi) == (epoch_us(T0) + 10 * 3600 * S - 1800 * S, epoch_us(T0) + 11 * 3600 * S)
    scope = incidents([0, 9.4, 9.6, 10.5, 11.1])
    chosen = incidents_reached(scope, ["i0"], [(lo, hi)])
    assert chosen["incident_id"].to_pylist() == ["i0", "i2", "i3"]  # changed itself, or inside the reach


def test_context_windows_groups_apart():
    s = ContextSettings(tower_before_s=3600, tower_after_s=3600, txn_before_s=0, txn_after_s=0, post_before_s=0,
                        post_after_s=0, place_after_s=0, camera_before_s=0, camera_after_s=0, mention_before_s=0,
                        mention_after_s=0)
    groups = context_windows(incidents([5, 0, 1, 3.5]), s)   # windows of 0 and 1 overlap; 3.5 and 5 are 1.5 h apart
    assert [g["incident_id"].to_pylist() for g, _, _ in groups] == [["i1", "i2"], ["i3", "i0"]]
    assert groups[0][1:] == (T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=2))
    assert context_windows(incidents([]), s) == []


def test_moved_places():
    old = pa.table({"place_name": ["a", "b", "c"], "lon": [1.0, 2.0, 3.0], "lat": [0.0, 0.0, 0.0]})
    new = pa.table({"place_name": ["a", "b", "d"], "lon": [1.0, 2.5, 4.0], "lat": [0.0, 0.0, 0.0]})
    assert moved_places(old, new) == ["b", "c", "d"]
    assert moved_places(old, None) == ["a", "b", "c"]


def test_change_signs():
    kinds = pa.array(["insert", "delete", "update_preimage", "update_postimage"])
    assert change_signs(kinds).to_pylist() == [1, -1, -1, 1]


def test_fuzzy_same_as_links_keeps_best_known_pair():
    m1 = pa.table({"person_id_a": ["p1", "p1"], "person_id_b": ["p2", "p9"], "score": [0.9, 0.99],
                   "evidence": ["e1", "e9"]}, schema=MATCHES)
    m2 = pa.table({"person_id_a": ["p1"], "person_id_b": ["p2"], "score": [0.95], "evidence": ["e2"]}, schema=MATCHES)
    links = fuzzy_same_as_links([m1, m2], {"p1", "p2"})  # p9 is not in silver
    assert links.schema == ENTITY_LINKS
    assert links.select(["src", "dst", "confidence", "evidence"]).to_pylist() == [
        {"src": "person:p1", "dst": "person:p2", "confidence": 0.95, "evidence": "e2"}]
    assert fuzzy_same_as_links([], {"p1"}).num_rows == 0


def test_with_fuzzy_links_adds_only_new_pairs_sorted():
    def links(rows):
        n = len(rows)
        return pa.table({"src": [r[0] for r in rows], "dst": [r[1] for r in rows], "link_type": [r[2] for r in rows],
                         "n_evidence": [1] * n, "first_seen": pa.nulls(n, ENTITY_LINKS.field("first_seen").type),
                         "last_seen": pa.nulls(n, ENTITY_LINKS.field("last_seen").type), "evidence": ["x"] * n,
                         "confidence": [1.0] * n}, schema=ENTITY_LINKS)

    base = links([("phone:1", "phone:2", "called"), ("person:a", "person:b", "same-as")])
    fuzzy = links([("person:a", "person:b", "same-as"), ("person:a", "person:c", "same-as")])
    out = with_fuzzy_links(base, fuzzy)
    assert [(r["link_type"], r["src"], r["dst"]) for r in out.to_pylist()] == [
        ("called", "phone:1", "phone:2"), ("same-as", "person:a", "person:b"), ("same-as", "person:a", "person:c")]
    assert with_fuzzy_links(base, fuzzy.slice(0, 0)) is base


def test_export_window():
    latest = dt.datetime(2026, 3, 10, 17, 5, tzinfo=dt.timezone.utc)
    first = window_start(latest, 3)
    assert first == dt.datetime(2026, 3, 8, tzinfo=dt.timezone.utc)
    assert window_days(first, 3)[-1] == dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc)
    assert window_start(None, 3) is None
