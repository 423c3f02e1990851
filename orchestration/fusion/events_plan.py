"""Incremental ``gold/events``: apply the silver tables' changes since the last build.

Rule (what a late or corrected record invalidates): an event is a function of
one silver row (plus, for incidents, its enrichment row; for CDRs, its cell
site; for every origin, the district boundaries). So

- a silver row inserted, replaced or deleted since the last build (its table's
  change data feed, :mod:`orchestration.lakehouse.changes`) replaces or
  removes exactly its own event, whatever its date: a late file adds events
  in old weeks, a corrected one replaces its rows' events, a withdrawn one
  removes them;
- a changed enrichment row re-derives its incident's event;
- a change of ``silver/cell_sites`` rebuilds the CDR events, a change of
  ``silver/detections`` the detection events (their ids come from several
  columns), and a change of ``reference/police_districts`` everything;
- ``gold/osint_mentions`` is rewritten whole by its asset, so its change feed
  would name every row: when it or ``silver/osint_posts`` (the mention events'
  feed and handles) moved, the mention events are rebuilt from the whole table
  and compared with those present (:func:`jobs.fusion.events.changed_slice`):
  only new, changed or gone mentions are written, so a new post adds exactly
  its mention events. A mentions table that appears later is such a refresh;
- with no watermark yet, or a feed that cannot say what changed, the whole
  table is rebuilt (:func:`plan_events` returns ``None``).

Writes are idempotent: the events of every changed key are deleted first,
then the present rows' events appended; the watermarks move last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.events import GOLD_ORIGINS, changed_slice, event_ids
from jobs.schemas import ID_FIELD
from orchestration.fusion.merges import delete_matching
from orchestration.lakehouse import changes
from orchestration.resources.lakehouse import sql_literal

CONSUMER = "gold/events"
#: Tables an event also depends on (not origins of events themselves).
CONTEXT = (("silver", "cell_sites"), ("silver", "incident_enrichment"), ("reference", "police_districts"))


@dataclass
class EventsPlan:
    """What an incremental build of ``gold/events`` has to do."""

    versions: dict[str, int]                                   # input -> version this build reads
    rows: dict[str, pa.Table] = field(default_factory=dict)    # origin -> present rows of changed keys
    removed: dict[str, pa.Array] = field(default_factory=dict)  # origin -> keys whose old events go
    rebuild: set[str] = field(default_factory=set)             # origins rebuilt as a whole slice
    refresh: set[str] = field(default_factory=set)             # origins rebuilt whole, only differences written

    @property
    def empty(self) -> bool:
        return not self.rebuild and not self.refresh and not any(t.num_rows for t in self.rows.values()) \
            and not any(len(k) for k in self.removed.values())


def origin_layer(origin: str) -> str:
    """The lake layer an events origin is read from."""
    return "gold" if origin in GOLD_ORIGINS else "silver"


def present_origins(lake) -> list[str]:
    """The events origins whose table exists (mention events also need the posts they come from)."""
    from jobs.fusion.events import ORIGINS

    out = [o for o in ORIGINS if lake.exists(origin_layer(o), o)]
    return [o for o in out if o not in GOLD_ORIGINS or "osint_posts" in out]


def mention_posts(lake) -> pa.Table:
    """The columns of ``silver/osint_posts`` the mention events take from their post."""
    from jobs.fusion.events import MENTION_POST_COLUMNS

    return lake.read("silver", "osint_posts", columns=MENTION_POST_COLUMNS)


def input_versions(lake, origins: list[str]) -> dict[str, int]:
    out = {f"{origin_layer(o)}/{o}": lake.version(origin_layer(o), o) for o in origins}
    for layer, name in CONTEXT:
        if lake.exists(layer, name):
            out[f"{layer}/{name}"] = lake.version(layer, name)
    return out


def plan_events(lake, origins: list[str]) -> EventsPlan | None:
    """The changes to apply, or ``None`` when the table must be rebuilt in full."""
    if not lake.exists("gold", "events"):
        return None
    marks = changes.watermarks(lake, CONSUMER)
    now = input_versions(lake, origins)
    new_gold = {k for k in set(now) - set(marks) if k.split("/", 1)[1] in GOLD_ORIGINS}
    districts = "reference/police_districts"
    if set(now) - new_gold != set(marks) or now.get(districts) != marks.get(districts):
        return None  # a new input, or other district boundaries: every event may change
    plan = EventsPlan(versions=now)
    enrichment_ids = None
    if "silver/incident_enrichment" in now and now["silver/incident_enrichment"] != marks["silver/incident_enrichment"]:
        feed = changes.changes(lake, "silver", "incident_enrichment", marks["silver/incident_enrichment"])
        if feed is None:
            return None
        _, enrichment_ids = changes.net_changes(feed, "incident_id")
    cells_changed = now.get("silver/cell_sites") != marks.get("silver/cell_sites")
    for origin in origins:
        key = f"{origin_layer(origin)}/{origin}"
        if origin in GOLD_ORIGINS:  # posts feed the mention events their source and handles
            posts = "silver/osint_posts"
            if key in new_gold or now[key] != marks[key] or now.get(posts) != marks.get(posts):
                plan.refresh.add(origin)
            continue
        if origin == "detections" or (origin == "cdr_events" and cells_changed):
            if now[key] != marks[key] or origin == "cdr_events":
                plan.rebuild.add(origin)
            continue
        extra = enrichment_ids if origin == "incidents" and enrichment_ids is not None and len(enrichment_ids) else None
        if now[key] == marks[key] and extra is None:
            continue
        feed = changes.changes(lake, "silver", origin, marks[key])
        if feed is None:
            return None
        id_field = ID_FIELD[origin]
        present, touched = changes.net_changes(feed, id_field)
        if extra is not None:  # incidents whose enrichment changed: their present rows, from silver
            more = pc.filter(extra, pc.invert(pc.is_in(extra, value_set=touched)))
            if len(more):
                rows = lake.read("silver", origin, filters=[(id_field, "in", more.to_pylist())])
                present = pa.concat_tables([present, rows.select(present.column_names).cast(present.schema)]) \
                    if present.num_rows else rows
                touched = pa.concat_arrays([touched, more])
        plan.rows[origin] = present
        if changes.has_removals(feed) or extra is not None:
            plan.removed[origin] = touched
    return plan


def apply_plan(lake, plan: EventsPlan, build) -> dict[str, int]:
    """Delete the changed keys' events, append the new ones; ``build(origin, rows)`` makes events
    (``rows`` ``None``: the origin's whole table).

    Returns counts (``appended``, ``deleted_keys``, ``rebuilt_origins``).
    """
    doomed = [event_ids(o, k) for o, k in plan.removed.items() if len(k)]
    refreshed = []
    for origin in sorted(plan.refresh):
        old = lake.read("gold", "events", filters=[("origin", "=", origin)])
        gone, fresh = changed_slice(old, build(origin, None))
        doomed += [gone] if len(gone) else []
        refreshed.append(fresh)
    if doomed:
        delete_matching(lake, "gold", "events", "event_id", pa.concat_arrays(doomed))
    for origin in sorted(plan.rebuild):
        lake.delete("gold", "events", f"origin = {sql_literal(origin)}")
    parts = [build(o, t) for o, t in plan.rows.items() if t.num_rows]
    parts += [build(o, None) for o in sorted(plan.rebuild)] + refreshed
    parts = [p for p in parts if p is not None and p.num_rows]
    appended = 0
    if parts:
        table = pa.concat_tables(parts)
        lake.append("gold", "events", table)
        appended = table.num_rows
    changes.save_watermarks(lake, CONSUMER, plan.versions)
    return {"appended": appended, "deleted_keys": sum(len(d) for d in doomed), "rebuilt_origins": len(plan.rebuild),
            "refreshed_origins": len(plan.refresh)}


def after_full_build(lake, origins: list[str], versions: dict[str, int]) -> None:
    """Turn the inputs' change feeds on and record the versions a full build read.

    Enabling a feed is a commit of its own with no row change, so the next
    incremental build reads from the version after ``versions`` without
    missing anything.
    """
    versions = dict(versions)
    inputs = [("silver", o) for o in origins if o not in GOLD_ORIGINS]  # gold mentions are compared, not followed
    inputs += [(layer, name) for layer, name in CONTEXT if layer == "silver"]
    for layer, name in inputs:
        key = f"{layer}/{name}"
        if not changes.enable_change_feed(lake, layer, name) and key in versions \
                and lake.version(layer, name) == versions[key] + 1:
            versions[key] += 1  # the enabling commit alone came after the build: it changed no row
    changes.save_watermarks(lake, CONSUMER, versions)
