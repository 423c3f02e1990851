"""Fusion kernels: events, tower dumps and distance joins, person matching, planted co-locations."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

from jobs.fusion.arrow_ops import list_of
from jobs.fusion.context import ContextSettings, incident_context, nearby_candidates, tower_candidates
from jobs.fusion.entities import entities, entity_links, person_matches
from jobs.fusion.events import build_events
from jobs.fusion.schemas import ENTITY_LINKS, EVENTS, INCIDENT_CONTEXT

UTC = dt.timezone.utc
T0 = dt.datetime(2017, 12, 10, 20, 0, tzinfo=UTC)
#: Thresholds on the planted co-locations (truth/colocations, role colocated), see docs/fusion.md
MIN_DUMP_RECALL = 0.95
MIN_FLAG_RECALL = 0.9
MIN_FLAG_PRECISION_AT_PLANTED = 0.6


@pytest.mark.parametrize("parts, expected", [
    ([("phone", ["a", "b"]), ("phone", ["b", None])], [["phone:a", "phone:b"], ["phone:b"]]),
    ([("handle", ["x", None]), ("handle", pa.array([["y", "x"], None], pa.list_(pa.string())))],
     [["handle:x", "handle:y"], []]),
    ([("account", [None, ""])], [[], []]),
])
def test_list_of_entity_ids(parts, expected):
    cols = [(k, v if isinstance(v, pa.Array) else pa.array(v, pa.string())) for k, v in parts]
    assert list_of(2, cols).to_pylist() == expected


def _sector(lon, lat, r=0.01):
    return shapely.to_wkb(shapely.Polygon([(lon, lat), (lon - r, lat + r), (lon + r, lat + r)]))


def _tiny():
    inc = pa.table({"incident_id": ["i1"], "occurred_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
                    "lon": [-87.60], "lat": [41.805], "source": ["t"], "category": ["robbery"]})
    cells = pa.table({"cell_id": ["c1", "c2"], "lon": [-87.60, -87.70], "lat": [41.80, 41.80],
                      "geometry": [_sector(-87.60, 41.80), _sector(-87.70, 41.80)], "h3": [None, None],
                      "range_m": [1500.0, 1500.0]})
    ts = lambda m: T0 + dt.timedelta(minutes=m)  # noqa: E731
    cdr = pa.table({
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "caller": ["A", "A", "C", "A", "D"], "callee": ["B", "B", "A", "B", "E"],
        "start_time": pa.array([ts(-30), ts(-30), ts(-10), ts(-300), ts(-5)], pa.timestamp("us", tz="UTC")),
        "kind": ["voice"] * 5, "direction": ["out", "in", "out", "out", "out"],
        "cell_id": ["c1", "c1", "c1", "c1", "c2"], "imei": ["d1", "d2", "d3", "d1", "d4"], "source": ["s"] * 5})
    txns = pa.table({"txn_id": ["t1", "t2", "t3"], "account": ["x", "y", "z"], "counterparty": [None, None, None],
                     "occurred_at": pa.array([ts(10), ts(10), ts(600)], pa.timestamp("us", tz="UTC")),
                     "channel": ["atm"] * 3, "lon": [-87.6012, -87.62, -87.6001], "lat": [41.805, 41.805, 41.805],
                     "source": ["s"] * 3})
    return inc, cells, cdr, txns


def test_tower_dump_and_distance_join_by_hand(sd):
    inc, cells, cdr, txns = _tiny()
    out = incident_context(inc, tower=tower_candidates(cdr, cells), nearby=nearby_candidates(transactions=txns),
                           cell_sites=cells, ctx=sd, settings=ContextSettings())
    assert out.schema == INCIDENT_CONTEXT
    rows = {(r["relation"], r["record_id"]): r for r in out.to_pylist()}
    # c1 covers the incident; e4 is 5 h before (outside 3 h); e5 is on c2 which does not cover it
    assert set(rows) == {("tower_dump", "cdr_events:e1"), ("tower_dump", "cdr_events:e2"),
                         ("tower_dump", "cdr_events:e3"), ("transaction", "transactions:t1")}
    # e2 is B's MT record of A's call: served party B; A and B exchanged calls in the dump, C called A
    assert rows[("tower_dump", "cdr_events:e2")]["entity_id"] == "phone:B"
    assert rows[("tower_dump", "cdr_events:e1")]["contacts_present"] == 2  # A: B and C
    assert rows[("tower_dump", "cdr_events:e1")]["dt_s"] == -1800
    t1 = rows[("transaction", "transactions:t1")]
    assert t1["distance_m"] == pytest.approx(99.6, abs=1.0)  # 0.0012 deg of longitude at 41.8 N
    assert t1["entity_id"] == "account:x"


def test_events_locate_every_source(sd, small_world):
    w = small_world
    ev = build_events({"incidents": w["incidents"], "cdr_events": w["cdr_events"], "transactions": w["transactions"]},
                      ctx=sd, cell_sites=w["cell_sites"])
    assert ev.schema == EVENTS
    per = {r["origin"]: r["origin_count"] for r in ev.group_by("origin").aggregate([("origin", "count")]).to_pylist()}
    located_txn = int(pc.sum(pc.is_valid(w["transactions"]["lon"])).as_py())
    assert per == {"incidents": w["incidents"].num_rows, "cdr_events": w["cdr_events"].num_rows,
                   "transactions": located_txn}
    assert pc.count_distinct(ev["event_id"]).as_py() == ev.num_rows
    cdr = ev.filter(pc.equal(ev["origin"], "cdr_events")).slice(0, 50).to_pylist()
    sites = {r["cell_id"]: (r["lon"], r["lat"]) for r in w["cell_sites"].to_pylist()}
    assert all((r["lon"], r["lat"]) == sites[r["cell_id"]] for r in cdr)  # located at the serving cell site
    assert all(r["entity_ids"][0].startswith("phone:") and r["location_basis"] == "serving_cell" for r in cdr)
    assert all(len(r["h3"]) == 15 for r in cdr)


def test_planted_colocations_recall_precision(sd, small_world, capsys):
    w = small_world
    out = incident_context(w["incidents"], tower=tower_candidates(w["cdr_events"], w["cell_sites"]),
                           cell_sites=w["cell_sites"], ctx=sd)
    td = out.filter(pc.equal(out["relation"], "tower_dump")).to_pandas()
    truth = w["truth_colocations"].to_pandas()
    truth = truth[truth["role"] == "colocated"]
    planted = set(zip(truth["incident_id"], "phone:" + truth["msisdn"]))
    dumped = set(zip(td["incident_id"], td["entity_id"]))
    flagged_df = td[td["contacts_present"] >= 1]
    flagged = set(zip(flagged_df["incident_id"], flagged_df["entity_id"]))
    at_planted = {p for p in flagged if p[0] in set(truth["incident_id"])}
    recall = len(planted & dumped) / len(planted)
    flag_recall = len(planted & flagged) / len(planted)
    precision = len(planted & at_planted) / max(1, len(at_planted))
    with capsys.disabled():
        print(f"\nco-location: {len(planted)} planted pairs; dump recall {recall:.2f}; flagged recall {flag_recall:.2f}, "
              f"precision at planted incidents {precision:.2f}, over all incidents "
              f"{len(planted & flagged) / max(1, len(flagged)):.2f}")
    assert len(planted) >= 5
    assert recall >= MIN_DUMP_RECALL
    assert flag_recall >= MIN_FLAG_RECALL
    assert precision >= MIN_FLAG_PRECISION_AT_PLANTED


def _persons(rows):
    return pa.table({"person_id": [r[0] for r in rows], "name": [r[1] for r in rows],
                     "date_of_birth": pa.array([r[2] for r in rows], pa.date32()),
                     "phones": pa.array([r[3] for r in rows], pa.list_(pa.string())),
                     "accounts": pa.array([[] for _ in rows], pa.list_(pa.string()))})


D = dt.date


@pytest.mark.parametrize("a, b, score", [
    (("P1", "n1", D(1990, 5, 1), []), ("P2", "n1", D(1990, 5, 1), []), 0.99),          # same name and DOB
    (("P1", "n1", D(1990, 5, 1), ["x"]), ("P2", "n2", D(1990, 4, 30), ["x"]), 0.95),    # shared phone, DOB off by a day
    (("P1", "n1", D(1990, 5, 3), ["x"]), ("P2", "n2", D(1990, 3, 5), ["x"]), 0.95),     # day/month swapped
    (("P1", "n1", D(1990, 5, 1), []), ("P2", "n1", D(1970, 1, 1), []), 0.6),            # namesakes
    (("P1", "n1", D(1990, 5, 1), ["x"]), ("P2", "n2", D(1960, 1, 1), ["x"]), 0.5),      # household phone
    (("P1", "n1", D(1990, 5, 1), []), ("P2", "n2", D(1990, 5, 1), []), None),           # a birthday is no evidence
])
def test_person_matching_rules(a, b, score):
    m = person_matches(_persons([a, b]))
    assert (None if m.empty else float(m["score"].iloc[0])) == score


def test_links_and_entities(small_world):
    w = small_world
    cdr = w["cdr_events"].slice(0, 20_000)
    persons = _persons([("P1", "n1", D(1990, 5, 1), ["p"]), ("P2", "n2", D(1990, 5, 2), ["p"]),
                        ("P3", "n3", D(1990, 5, 1), [])])
    links = entity_links(cdr=cdr, persons=persons, transactions=w["transactions"])
    assert links.schema == ENTITY_LINKS
    types = set(links["link_type"].to_pylist())
    assert {"called", "uses", "transacted-with", "same-as"} <= types
    same = links.filter(pc.equal(links["link_type"], "same-as")).to_pylist()
    assert {("person:P1", "person:P2")} <= {(r["src"], r["dst"]) for r in same}
    # an IMEI with several SIMs links them
    uses = links.filter(pc.and_(pc.equal(links["link_type"], "uses"), pc.starts_with(links["dst"], "device:"))).to_pandas()
    shared = uses.groupby("dst")["src"].nunique()
    phone_same = {(r["src"], r["dst"]) for r in same if r["src"].startswith("phone:")}
    assert (shared > 1).sum() == 0 or phone_same
    # each called pair counted once although both parties' records exist
    ev = pa.table({"event_id": ["e"], "origin": ["cdr_events"], "occurred_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
                   "entity_ids": pa.array([["phone:zz"]], pa.list_(pa.string()))})
    ent = entities(ev, links, persons=persons)
    by = {r["entity_id"]: r for r in ent.to_pylist()}
    assert by["person:P2"]["cluster_id"] == by["person:P1"]["cluster_id"] == "person:P1"
    assert by["person:P3"]["cluster_id"] == "person:P3"
    assert by["phone:zz"]["n_records"] == 1


def test_settings_are_validated():
    with pytest.raises(ValueError, match="txn_radius_m"):
        ContextSettings(txn_radius_m=-1)
    with pytest.raises(ValueError, match="same_as_threshold"):
        entity_links(same_as_threshold=2)


def _detections():
    """cam1 films the _tiny incident (vehicle track 1 in two frames, a person, an untracked vehicle);
    cam2, 2 km away, a COCO ``car`` (track 3)."""
    ts = lambda m: T0 + dt.timedelta(minutes=m)  # noqa: E731
    return pa.table({
        "camera_id": ["cam1", "cam1", "cam1", "cam1", "cam2"],
        "source": ["clip.mp4"] * 4 + ["rtsp://x/1"],
        "frame_time": pa.array([ts(5), ts(6), ts(5), ts(7), ts(5)], pa.timestamp("us", tz="UTC")),
        "frame_index": pa.array([10, 40, 10, 70, 3], pa.int64()),
        "track_id": pa.array([1, 1, 2, None, 3], pa.int64()),
        "class_name": ["vehicle", "vehicle", "person", "vehicle", "car"],
        "lon": [-87.6003, -87.6004, -87.6003, -87.6003, -87.624], "lat": [41.805] * 5})


def test_vehicle_entities_and_seen_near_links(sd):
    inc, cells, cdr, _ = _tiny()
    det = _detections()
    ev = build_events({"detections": det}, ctx=sd)
    ids = {tuple(r["entity_ids"]) for r in ev.to_pylist()}
    v1, v3 = "vehicle:cam1:clip.mp4:t1", "vehicle:cam2:rtsp://x/1:t3"
    assert ids == {("camera:cam1", v1), ("camera:cam1",), ("camera:cam2", v3)}
    ctx = incident_context(inc, tower=tower_candidates(cdr, cells), nearby=nearby_candidates(detections=det),
                           cell_sites=cells, ctx=sd, settings=ContextSettings())
    links = entity_links(cdr=cdr, context=ctx, detections=det)
    near = {(r["src"], r["dst"]): r for r in links.filter(pc.equal(links["link_type"], "seen-near")).to_pylist()}
    # every tracked vehicle -> its camera; the untracked box and the person name no vehicle
    assert near[(v1, "camera:cam1")]["n_evidence"] == 2 and near[(v1, "camera:cam1")]["confidence"] == 1.0
    assert near[(v3, "camera:cam2")]["n_evidence"] == 1
    # v1 was filmed within 100 m / 30 min of i1, whose tower dump flags A, B and C (they called each other there);
    # v3 is 2 km away
    with_phones = {k for k in near if k[1] == v1 and k[0].startswith("phone:")}
    assert with_phones == {("phone:A", v1), ("phone:B", v1), ("phone:C", v1)}
    assert not any(k[1] == v3 and k[0].startswith("phone:") for k in near)
    assert near[("phone:A", v1)]["confidence"] == 0.5
    assert near[("phone:C", v1)]["first_seen"] == T0 - dt.timedelta(minutes=10)  # C's record e3 in the dump
    assert near[("phone:A", "phone:B")]["first_seen"] == T0 - dt.timedelta(minutes=30)
    ent = {r["entity_id"]: r for r in entities(ev, links).to_pylist()}
    assert ent[v1]["kind"] == "vehicle" and ent[v1]["n_records"] == 2 and ent[v1]["sources"] == ["detections", "entity_links"]
    assert {r["kind"] for r in ent.values()} == {"camera", "vehicle", "phone", "device"}
