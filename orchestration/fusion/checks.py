"""Checks on the fusion tables: nothing located is lost, nothing is counted twice."""

from __future__ import annotations

import dagster as dg
import pyarrow.compute as pc

from orchestration.resources.lakehouse import Lakehouse


def _located(lakehouse: Lakehouse, table: str) -> int:
    t = lakehouse.read("silver", table, columns=["lon", "lat"])
    return int(pc.sum(pc.and_(pc.is_valid(t["lon"]), pc.is_valid(t["lat"]))).as_py() or 0)


@dg.asset_check(
    asset="events", name="events_reconcile", blocking=True,
    description=("Event ids are unique and every located silver row is one event: incidents, transactions and "
                 "posts with coordinates, CDR rows whose serving cell is a known cell site."),
)
def events_reconcile(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    ev = lakehouse.read("gold", "events", columns=["event_id", "origin"])
    unique = pc.count_distinct(ev["event_id"]).as_py() == ev.num_rows
    per = {r["origin"]: r["origin_count"] for r in ev.group_by("origin").aggregate([("origin", "count")]).to_pylist()}
    rows, passed = [], unique
    for origin in ("incidents", "transactions", "osint_posts", "cdr_events"):
        if not lakehouse.exists("silver", origin):
            continue
        if origin == "cdr_events":
            if not lakehouse.exists("silver", "cell_sites"):
                continue
            cells = lakehouse.read("silver", "cell_sites", columns=["cell_id"])["cell_id"]
            cdr = lakehouse.read("silver", "cdr_events", columns=["cell_id"])["cell_id"]
            expected = int(pc.sum(pc.is_in(cdr, value_set=cells.combine_chunks())).as_py() or 0)
        else:
            expected = _located(lakehouse, origin)
        ok = per.get(origin, 0) == expected
        passed &= ok
        rows.append(f"| {origin} | {expected:,} | {per.get(origin, 0):,} | {'yes' if ok else '**no**'} |")
    table = "| origin | located silver rows | events | reconciles |\n|---|---|---|---|\n" + "\n".join(rows)
    return dg.AssetCheckResult(passed=bool(passed), metadata={"reconcile": dg.MetadataValue.md(table),
                                                              "unique_ids": dg.MetadataValue.bool(bool(unique))})


@dg.asset_check(
    asset="incident_context", name="incident_context_keys", blocking=True,
    description="Each (incident, relation, record) appears once and names a silver incident.",
)
def incident_context_keys(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    t = lakehouse.read("gold", "incident_context", columns=["incident_id", "relation", "record_id"])
    if t.num_rows == 0:
        return dg.AssetCheckResult(passed=True, metadata={"rows": dg.MetadataValue.int(0)})
    keys = pc.binary_join_element_wise(t["incident_id"], t["relation"], t["record_id"], "\x1f")
    dupes = t.num_rows - pc.count_distinct(keys).as_py()
    ids = lakehouse.read("silver", "incidents", columns=["incident_id"])["incident_id"].combine_chunks()
    unknown = int(pc.sum(pc.invert(pc.is_in(t["incident_id"], value_set=ids))).as_py() or 0)
    return dg.AssetCheckResult(passed=dupes == 0 and unknown == 0, metadata={
        "rows": dg.MetadataValue.int(t.num_rows), "duplicates": dg.MetadataValue.int(dupes),
        "unknown_incidents": dg.MetadataValue.int(unknown)})


@dg.asset_check(
    asset="entity_links", name="entity_links_endpoints_known", blocking=True,
    description="Every link joins two typed entity ids of a known kind, with confidence in [0, 1].",
)
def entity_links_endpoints_known(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    from jobs.fusion.schemas import ENTITY_KINDS, LINK_TYPES

    t = lakehouse.read("gold", "entity_links", columns=["src", "dst", "link_type", "confidence"])
    kinds = set()
    for c in ("src", "dst"):
        kinds |= {v.split(":", 1)[0] for v in pc.unique(pc.utf8_slice_codeunits(t[c], 0, 8)).to_pylist()}
    bad_kinds = {k for k in kinds if k not in ENTITY_KINDS}
    bad_types = set(pc.unique(t["link_type"]).to_pylist()) - set(LINK_TYPES)
    conf = pc.min_max(t["confidence"]).as_py() if t.num_rows else {"min": 0, "max": 0}
    passed = not bad_kinds and not bad_types and 0 <= conf["min"] and conf["max"] <= 1
    return dg.AssetCheckResult(passed=passed, metadata={"unknown_kinds": dg.MetadataValue.json(sorted(bad_kinds)),
                                                        "unknown_link_types": dg.MetadataValue.json(sorted(bad_types))})
