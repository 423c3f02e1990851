"""Checks on the fusion tables: nothing located is lost, nothing is counted twice."""

from __future__ import annotations

import dagster as dg
import pyarrow.compute as pc

from orchestration.resources.lakehouse import Lakehouse


@dg.asset_check(
    asset="events", name="events_reconcile", blocking=True,
    description=("Event ids are unique and every located silver row is one event: incidents, transactions and "
                 "posts with coordinates, CDR rows whose serving cell is a located cell site, resolved place "
                 "mentions of posts (gold/osint_mentions). Compares "
                 "running tallies (count and an order-free digest of the ids) kept from the tables' change "
                 "feeds, so a night costs what changed (orchestration/fusion/reconcile.py)."),
)
def events_reconcile(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    from orchestration.fusion.reconcile import reconcile_events

    r = reconcile_events(lakehouse)
    rows = []
    for origin, (expected, _) in r.expected.items():
        ok = r.reconciles(origin)
        rows.append(f"| {origin} | {expected:,} | {r.present[origin][0]:,} | {'yes' if ok else '**no**'} |")
    passed = r.unique and all(r.reconciles(o) for o in r.expected)
    table = "| origin | located silver rows | events | reconciles (count and ids) |\n|---|---|---|---|\n" + "\n".join(rows)
    return dg.AssetCheckResult(passed=bool(passed), metadata={
        "reconcile": dg.MetadataValue.md(table), "unique_ids": dg.MetadataValue.bool(r.unique),
        "duplicate_ids": dg.MetadataValue.int(r.duplicates), "modes": dg.MetadataValue.json(r.modes)})


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
