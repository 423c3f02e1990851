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
- with no watermark yet, or a feed that cannot say what changed, the whole
  table is rebuilt (:func:`plan_events` returns ``None``).

Writes are idempotent: the events of every changed key are deleted first,
then the present rows' events appended; the watermarks move last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from jobs.schemas import ID_FIELD
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

    @property
    def empty(self) -> bool:
        return not self.rebuild and not any(t.num_rows for t in self.rows.values()) \
            and not any(len(k) for k in self.removed.values())


def input_versions(lake, origins: list[str]) -> dict[str, int]:
    out = {f"silver/{o}": lake.version("silver", o) for o in origins}
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
    if set(now) != set(marks) or now.get("reference/police_districts") != marks.get("reference/police_districts"):
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
        key = f"silver/{origin}"
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


def event_ids(origin: str, keys: pa.Array) -> pa.Array:
    """The ``event_id`` an origin's row key gets in ``gold/events``."""
    return pc.binary_join_element_wise(pa.scalar(f"{origin}:"), keys.cast(pa.string()), "")


def apply_plan(lake, plan: EventsPlan, build) -> dict[str, int]:
    """Delete the changed keys' events, append the new ones; ``build(origin, rows)`` makes events.

    Returns counts (``appended``, ``deleted_keys``, ``rebuilt_origins``).
    """
    doomed = [event_ids(o, k) for o, k in plan.removed.items() if len(k)]
    if doomed:
        ids = pa.table({"event_id": pa.concat_arrays(doomed)})
        (lake.table("gold", "events").merge(ids, predicate="t.event_id = s.event_id", source_alias="s",
                                            target_alias="t").when_matched_delete().execute())
    for origin in sorted(plan.rebuild):
        lake.delete("gold", "events", f"origin = {sql_literal(origin)}")
    parts = [build(o, t) for o, t in plan.rows.items() if t.num_rows]
    parts += [build(o, None) for o in sorted(plan.rebuild)]
    parts = [p for p in parts if p is not None and p.num_rows]
    appended = 0
    if parts:
        table = pa.concat_tables(parts)
        lake.append("gold", "events", table)
        appended = table.num_rows
    changes.save_watermarks(lake, CONSUMER, plan.versions)
    return {"appended": appended, "deleted_keys": sum(len(d) for d in doomed), "rebuilt_origins": len(plan.rebuild)}


def after_full_build(lake, origins: list[str], versions: dict[str, int]) -> None:
    """Turn the inputs' change feeds on and record the versions a full build read.

    Enabling a feed is a commit of its own with no row change, so the next
    incremental build reads from the version after ``versions`` without
    missing anything.
    """
    versions = dict(versions)
    inputs = [("silver", o) for o in origins] + [(layer, name) for layer, name in CONTEXT if layer == "silver"]
    for layer, name in inputs:
        key = f"{layer}/{name}"
        if not changes.enable_change_feed(lake, layer, name) and key in versions \
                and lake.version(layer, name) == versions[key] + 1:
            versions[key] += 1  # the enabling commit alone came after the build: it changed no row
    changes.save_watermarks(lake, CONSUMER, versions)


# -- mergeable partials: entity statistics and CDR link evidence -------------------------------------

STATS_CONSUMER = "gold/entity_stats"
LINKS_CONSUMER = "gold/cdr_link_partials"
EVENT_COLUMNS = ["event_id", "origin", "occurred_at", "entity_ids"]
CDR_COLUMNS = ["event_id", "caller", "callee", "start_time", "kind", "direction", "imei"]


def update_entity_stats(lake, *, spark_stats=None) -> dict:
    """Keep ``gold/entity_stats`` (per entity and origin: events, first, last) in step with ``gold/events``.

    Rule: events only added since the last run (a normal night, a late file)
    are summarised and merged in (counts add, first is the least, last the
    greatest), so the cost follows the new events; when events were removed
    or replaced (a correction, a withdrawn day) the entities those events
    named are recounted from ``gold/events`` (a scan of four columns) and
    their rows replaced. No watermark, or a feed that cannot say: rebuilt
    (``spark_stats(events_uri)``, when given, computes that rebuild on Spark).
    """
    from jobs.fusion.entities import entity_stats, reduce_entity_stats

    version, feed = changes.follow(lake, STATS_CONSUMER, "gold", "events", ("gold", "entity_stats"),
                                   columns=EVENT_COLUMNS)
    if feed is None:
        stats = spark_stats(lake.uri("gold", "events")) if spark_stats is not None else \
            entity_stats(lake.read("gold", "events", columns=EVENT_COLUMNS, version=version))
        lake.overwrite("gold", "entity_stats", reduce_entity_stats(stats))
        mode, n = "full", lake.count("gold", "events")
    elif not feed.num_rows:
        mode, n = "unchanged", 0
    elif not changes.has_removals(feed):
        present, _ = changes.net_changes(feed, "event_id")
        _merge_add(lake, "entity_stats", entity_stats(present.select(EVENT_COLUMNS)), ["entity_id", "origin"],
                   count="n_records", applied=changes.applied_marker(STATS_CONSUMER, "gold/events", version))
        mode, n = "merged", present.num_rows
    else:
        affected = pc.unique(pc.list_flatten(feed["entity_ids"]))
        events = _events_naming(lake, affected, version)
        fresh = entity_stats(events)
        fresh = fresh.filter(pc.is_in(fresh["entity_id"], value_set=affected))
        _replace_keys(lake, "entity_stats", "entity_id", affected, fresh)
        mode, n = "recounted", len(affected)
    changes.save_watermarks(lake, STATS_CONSUMER, {"gold/events": version})
    return {"mode": mode, "rows": n}


def update_cdr_link_partials(lake, *, spark_partials=None) -> dict:
    """Keep ``gold/cdr_link_partials`` (per called/uses pair: count, first, last, smallest record) in step with silver.

    Rule: CDRs only added since the last run are summarised and merged in;
    when CDRs were removed or replaced, every pair involving a phone of those
    rows is recomputed from ``silver/cdr_events`` (the rows of those phones)
    and its partial replaced. MO and MT records of one call are deduplicated
    within what is summarised together, as in a full build: an operator's two
    records of a call arrive in the same file. ``spark_partials(cdr_uri)``,
    when given, computes a full rebuild on Spark.
    """
    from jobs.fusion.entities import CDR_LINK_PARTIALS, cdr_link_increment, cdr_link_partials, reduce_cdr_partials

    if not lake.exists("silver", "cdr_events"):
        return {"mode": "none", "rows": 0}
    version, feed = changes.follow(lake, LINKS_CONSUMER, "silver", "cdr_events", ("gold", "cdr_link_partials"),
                                   columns=_present(lake, CDR_COLUMNS))
    if feed is None:
        if spark_partials is not None:
            partials = spark_partials(lake.uri("silver", "cdr_events"))
        else:
            cdr = lake.read("silver", "cdr_events", columns=_present(lake, CDR_COLUMNS), version=version)
            partials = cdr_link_partials(cdr)
        lake.overwrite("gold", "cdr_link_partials", reduce_cdr_partials(partials).cast(CDR_LINK_PARTIALS))
        mode, n = "full", lake.count("silver", "cdr_events")
    elif not feed.num_rows:
        mode, n = "unchanged", 0
    elif not changes.has_removals(feed):
        present, _ = changes.net_changes(feed, "event_id")
        rows = present.select(_present(lake, CDR_COLUMNS))
        increment = cdr_link_increment(rows, _same_calls(lake, rows, version))
        _merge_add(lake, "cdr_link_partials", reduce_cdr_partials(increment), ["link_type", "src", "dst"],
                   count="n_evidence", sample="sample",
                   applied=changes.applied_marker(LINKS_CONSUMER, "silver/cdr_events", version))
        mode, n = "merged", present.num_rows
    else:
        phones = pc.unique(pa.concat_arrays([pc.drop_null(feed["caller"].combine_chunks()),
                                             pc.drop_null(feed["callee"].combine_chunks())]))
        ds = lake.table("silver", "cdr_events", version).to_pyarrow_dataset()
        import pyarrow.dataset as pads

        expr = pads.field("caller").isin(phones) | pads.field("callee").isin(phones)
        rows = ds.to_table(filter=expr, columns=_present(lake, CDR_COLUMNS))
        fresh = reduce_cdr_partials(cdr_link_partials(rows)).cast(CDR_LINK_PARTIALS)
        refs = pc.binary_join_element_wise(pa.scalar("phone:"), phones.cast(pa.string()), "")
        mine = pc.or_(pc.is_in(fresh["src"], value_set=refs), pc.is_in(fresh["dst"], value_set=refs))
        _replace_pairs(lake, refs, fresh.filter(mine))
        mode, n = "recomputed", len(phones)
    changes.save_watermarks(lake, LINKS_CONSUMER, {"silver/cdr_events": version})
    return {"mode": mode, "rows": n}


#: Links of one record each, kept as mergeable partials (:data:`jobs.fusion.entities.LINK_PARTIALS`):
#: silver table -> (gold partials table, key, the column a pair's ``src`` comes from, its entity kind,
#: the columns read, the kernel in :mod:`jobs.fusion.entities`).
RECORD_LINKS = {
    "transactions": ("transaction_link_partials", "txn_id", "account", "account",
                     ["txn_id", "account", "counterparty", "occurred_at"], "transaction_link_partials"),
    "osint_posts": ("post_link_partials", "post_id", "author", "handle",
                    ["post_id", "author", "mentions", "posted_at"], "post_link_partials"),
}


def update_record_link_partials(lake, source: str) -> dict:
    """Keep ``gold/<source's partials>`` (per pair: count, first, last, smallest record) in step with silver.

    Rule: rows only added since the last run are summarised and merged in
    (counts add, least first, greatest last, smallest sample), so the cost
    follows the new rows; when rows were removed or replaced (a corrected
    receipt, a withdrawn day), every pair whose ``src`` is the account
    (transactions) or author (posts) of a changed row is recomputed from
    those entities' silver rows and replaced: a pair depends only on the
    rows of its ``src``. No watermark, or a feed that cannot say: rebuilt.
    """
    from jobs.fusion import entities as kernels
    from jobs.fusion._arrow import entity_ref

    table, key, src_column, kind, columns, kernel_name = RECORD_LINKS[source]
    if not lake.exists("silver", source):
        return {"mode": "none", "rows": 0}
    kernel = getattr(kernels, kernel_name)
    consumer = f"gold/{table}"
    cols = _present(lake, columns, source)
    version, feed = changes.follow(lake, consumer, "silver", source, ("gold", table), columns=cols)
    if feed is None:
        rows = lake.read("silver", source, columns=cols, version=version)
        lake.overwrite("gold", table, kernel(rows).cast(kernels.LINK_PARTIALS))
        mode, n = "full", rows.num_rows
    elif not feed.num_rows:
        mode, n = "unchanged", 0
    elif not changes.has_removals(feed):
        present, _ = changes.net_changes(feed, key)
        _merge_add(lake, table, kernel(present.select(cols)), ["link_type", "src", "dst"], count="n_evidence",
                   sample="sample", applied=changes.applied_marker(consumer, f"silver/{source}", version))
        mode, n = "merged", present.num_rows
    else:
        values = pc.unique(pc.drop_null(feed[src_column].combine_chunks()))
        rows = _rows_with(lake, source, version, src_column, values, cols) if len(values) else None
        fresh = kernel(rows) if rows is not None and rows.num_rows else kernels.LINK_PARTIALS.empty_table()
        refs = pc.drop_null(entity_ref(kind, values))
        _replace_pairs(lake, refs, fresh.cast(kernels.LINK_PARTIALS), table=table, sides=("src",))
        mode, n = "recomputed", len(values)
    changes.save_watermarks(lake, consumer, {f"silver/{source}": version})
    return {"mode": mode, "rows": n}


def _same_calls(lake, rows: pa.Table, version: int) -> pa.Table:
    """Silver CDR rows, other than ``rows``, of the same calls (parties, kind, start time): read by time range."""
    import pyarrow.dataset as pads

    if not rows.num_rows:
        return rows
    span = pc.min_max(rows["start_time"]).as_py()
    ds = lake.table("silver", "cdr_events", version).to_pyarrow_dataset()
    expr = ((pads.field("start_time") >= span["min"]) & (pads.field("start_time") <= span["max"])
            & ~pads.field("event_id").isin(rows["event_id"]))
    near = ds.to_table(filter=expr, columns=rows.column_names)
    if not near.num_rows:
        return near
    keys = ["caller", "callee", "kind", "start_time"]
    mine = rows.select(keys).group_by(keys).aggregate([])
    return near.join(mine, keys=keys, join_type="left semi")


def _rows_with(lake, name: str, version: int, column: str, values: pa.Array, columns: list[str]) -> pa.Table:
    """Silver rows whose ``column`` is one of ``values``, filtered batch by batch as they are read.

    Not a scan filter: files rewritten by a merge may store a column as
    ``string_view`` and Arrow's statistics pruning then fails to compare it.
    """
    ds = lake.table("silver", name, version).to_pyarrow_dataset()
    value_set = values.cast(pa.string())
    parts = []
    for batch in ds.to_batches(columns=columns):
        keep = pc.fill_null(pc.is_in(batch[column].cast(pa.string()), value_set=value_set), False)
        if pc.any(keep).as_py():
            parts.append(pa.Table.from_batches([batch.filter(keep)]))
    schema = pa.schema([ds.schema.field(c) for c in columns])
    return pa.concat_tables([p.cast(schema) for p in parts]) if parts else schema.empty_table()


def _present(lake, columns: list[str], name: str = "cdr_events") -> list[str]:
    have = set(pa.schema(lake.table("silver", name).schema().to_arrow()).names)
    return [c for c in columns if c in have]


def _events_naming(lake, entities: pa.Array, version: int) -> pa.Table:
    """Events (four columns) naming any of ``entities``: a scan, for the correction path only."""
    events = lake.read("gold", "events", columns=EVENT_COLUMNS, version=version)
    ids = events["entity_ids"].combine_chunks()
    hit = pc.is_in(pc.list_flatten(ids), value_set=entities)
    rows = pc.unique(pc.filter(pc.list_parent_indices(ids), hit))
    return events.take(rows)


def _merge_add(lake, name: str, partial: pa.Table, keys: list[str], *, count: str, sample: str | None = None,
               applied: dict[str, str]) -> None:
    """MERGE mergeable partials into a gold table: counts add, first is the least, last the greatest.

    Adding is not idempotent, so the commit carries ``applied``
    (:func:`~orchestration.lakehouse.changes.applied_marker`): a run killed
    before its watermark moves does not add the same changes again.
    """
    from deltalake.transaction import CommitProperties

    from orchestration.resources.lakehouse import plain_types

    if not partial.num_rows:
        return
    partial = plain_types(partial)
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    update = {
        count: f"t.{count} + s.{count}",
        "first_us": "CASE WHEN t.first_us IS NULL OR s.first_us < t.first_us THEN s.first_us ELSE t.first_us END",
        "last_us": "CASE WHEN t.last_us IS NULL OR s.last_us > t.last_us THEN s.last_us ELSE t.last_us END",
    }
    if sample:
        update[sample] = f"CASE WHEN s.{sample} < t.{sample} THEN s.{sample} ELSE t.{sample} END"
    (lake.table("gold", name).merge(partial, predicate=on, source_alias="s", target_alias="t",
                                    commit_properties=CommitProperties(custom_metadata=applied))
     .when_matched_update(update).when_not_matched_insert_all().execute())


def _replace_keys(lake, name: str, key: str, values: pa.Array, fresh: pa.Table) -> None:
    if len(values):
        doomed = pa.table({key: values.cast(pa.string())})
        (lake.table("gold", name).merge(doomed, predicate=f"t.{key} = s.{key}", source_alias="s", target_alias="t")
         .when_matched_delete().execute())
    if fresh.num_rows:
        lake.append("gold", name, fresh)


def _replace_pairs(lake, refs: pa.Array, fresh: pa.Table, *, table: str = "cdr_link_partials",
                   sides: tuple[str, ...] = ("src", "dst")) -> None:
    """Drop every partial touching one of ``refs`` (on ``sides``), then append the recomputed ones."""
    if len(refs):
        doomed = pa.table({"ref": refs.cast(pa.string())})
        for side in sides:
            (lake.table("gold", table).merge(doomed, predicate=f"t.{side} = s.ref", source_alias="s",
                                             target_alias="t").when_matched_delete().execute())
    if fresh.num_rows:
        lake.append("gold", table, fresh)


# -- incident context: incidents whose windows the changes reach --------------------------------------

#: Candidate tables of ``incident_context`` and the time column each is matched on.
CONTEXT_TIMES = {"cdr_events": "start_time", "transactions": "occurred_at", "osint_posts": "posted_at",
                 "detections": "frame_time"}


@dataclass
class ContextPlan:
    """Incidents whose context rows ``incident_context`` rebuilds, and the versions it read."""

    consumer: str
    versions: dict[str, int]
    incidents: pa.Table            # in scope, to rebuild
    removed: list[str]             # incident ids whose rows go (rebuilt or gone)


def context_consumer(settings, all_incidents: bool, crs: str) -> str:
    """Watermark key of ``incident_context``: a change of settings, scope or CRS is a new consumer.

    A new consumer has no watermark, so the table is rebuilt in full.
    """
    from dataclasses import asdict

    return changes.consumer_key("gold/incident_context", [asdict(settings), all_incidents, crs])


def changed_places(lake, places: pa.Table | None) -> list[str] | None:
    """Place names whose gazetteer location moved, appeared or went since the last run (``None``: unknown)."""
    if not lake.exists("gold", "place_gazetteer"):
        return None
    old = {n: (x, y) for n, x, y in zip(*(lake.read("gold", "place_gazetteer")[c].to_pylist()
                                          for c in ("place_name", "lon", "lat")))}
    new = {} if places is None else {n: (x, y) for n, x, y in zip(*(places[c].to_pylist()
                                                                   for c in ("place_name", "lon", "lat")))}
    return sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))


def plan_context(lake, consumer: str, scope: pa.Table, span: tuple | None, settings,
                 moved_places: list[str] | None = ()) -> ContextPlan | None:
    """Incidents to rebuild; ``None``: rebuild the table in full.

    Rule: an incident's context rows depend on the incident and on the
    candidate rows inside its window (the largest before/after over the
    relations). So the incidents rebuilt are those that changed, those whose
    occurred_at lies within a window of a changed candidate row (a late CDR,
    a corrected transaction), and those the scope gained (the CDR span grew).
    Posts naming a place whose gazetteer location moved (``moved_places``)
    count as changed candidates. A scope that shrank, changed cell sites, an
    unknown gazetteer, or a feed that cannot say: full.
    """
    if not lake.exists("gold", "incident_context") or moved_places is None:
        return None
    marks = changes.watermarks(lake, consumer)
    names = ["incidents", "cell_sites", *CONTEXT_TIMES]
    now = {f"silver/{n}": lake.version("silver", n) for n in names if lake.exists("silver", n)}
    if not marks or {k for k in marks if k.startswith("silver/")} != set(now) \
            or now.get("silver/cell_sites") != marks.get("silver/cell_sites"):
        return None
    versions = dict(now)
    if span is not None:
        versions["scope/start_us"], versions["scope/end_us"] = (epoch_us(span[0]), epoch_us(span[1]))
    old_span = (marks.get("scope/start_us"), marks.get("scope/end_us"))
    if span is not None and None not in old_span and (versions["scope/start_us"] > old_span[0]
                                                      or versions["scope/end_us"] < old_span[1]):
        return None  # the scope shrank: incidents left it
    if (span is None) != (None in old_span):
        return None
    before = max(settings.tower_before_s, settings.txn_before_s, settings.post_before_s, settings.place_before_s,
                 settings.camera_before_s)
    after = max(settings.tower_after_s, settings.txn_after_s, settings.post_after_s, settings.place_after_s,
                settings.camera_after_s)
    changed_ids: list[str] = []
    reach: list[tuple[int, int]] = []   # incident times (us) to rebuild: [lo, hi] ranges
    for name in ["incidents", *CONTEXT_TIMES]:
        key = f"silver/{name}"
        if key not in now or now[key] == marks[key]:
            continue
        feed = changes.changes(lake, "silver", name, marks[key], now[key],
                               columns=["incident_id"] if name == "incidents" else [CONTEXT_TIMES[name]])
        if feed is None:
            return None
        if name == "incidents":
            changed_ids += pc.unique(feed["incident_id"]).to_pylist()
            continue
        times = pc.drop_null(feed[CONTEXT_TIMES[name]].combine_chunks())
        for t in _clusters(_us_array(times), gap=before + after):
            reach.append((t[0] - after * 1_000_000, t[1] + before * 1_000_000))
    if moved_places and lake.exists("silver", "osint_posts"):  # posts naming a place that moved
        named = lake.read("silver", "osint_posts", columns=["posted_at"],
                          filters=[("place_name", "in", list(moved_places))])["posted_at"]
        for t in _clusters(_us_array(pc.drop_null(named.combine_chunks())), gap=before + after):
            reach.append((t[0] - after * 1_000_000, t[1] + before * 1_000_000))
    if span is not None and None not in old_span:  # incidents the grown scope gained
        if versions["scope/start_us"] < old_span[0]:
            reach.append((versions["scope/start_us"], old_span[0]))
        if versions["scope/end_us"] > old_span[1]:
            reach.append((old_span[1], versions["scope/end_us"]))
    t_us = _us_array(scope["occurred_at"])
    mask = pc.is_in(scope["incident_id"], value_set=pa.array(changed_ids, pa.string())).to_numpy(zero_copy_only=False)
    import numpy as np

    mask = np.asarray(mask, dtype=bool)
    for lo, hi in reach:
        mask |= (t_us >= lo) & (t_us <= hi)
    chosen = scope.filter(pa.array(mask))
    removed = sorted(set(changed_ids) | set(chosen["incident_id"].to_pylist()))
    return ContextPlan(consumer=consumer, versions=versions, incidents=chosen, removed=removed)


def context_windows(incidents: pa.Table, settings) -> list[tuple[pa.Table, object, object]]:
    """Incidents grouped so their windows do not overlap, each with the candidate time range it needs."""
    import datetime as _dt

    before = max(settings.tower_before_s, settings.txn_before_s, settings.post_before_s, settings.place_before_s,
                 settings.camera_before_s)
    after = max(settings.tower_after_s, settings.txn_after_s, settings.post_after_s, settings.place_after_s,
                settings.camera_after_s)
    if not incidents.num_rows:
        return []
    inc = incidents.sort_by("occurred_at")
    t = _us_array(inc["occurred_at"])
    out, start = [], 0
    import numpy as np

    cuts = list(np.flatnonzero(np.diff(t) > (before + after) * 1_000_000) + 1) + [len(t)]
    epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    for end in cuts:
        lo = epoch + _dt.timedelta(microseconds=int(t[start]) - before * 1_000_000)
        hi = epoch + _dt.timedelta(microseconds=int(t[end - 1]) + after * 1_000_000)
        out.append((inc.slice(start, end - start), lo, hi))
        start = end
    return out


def epoch_us(value) -> int:
    """A time-zone-aware datetime as microseconds since the epoch (how scope bounds are stored as watermarks)."""
    import datetime as _dt

    return int((value - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)) / _dt.timedelta(microseconds=1))


def _us_array(times) -> "np.ndarray":
    import numpy as np

    arr = times.combine_chunks() if hasattr(times, "combine_chunks") else times
    return np.asarray(pc.cast(arr.cast(pa.timestamp("us", tz="UTC")), pa.int64()).to_numpy(zero_copy_only=False))


def _clusters(t_us, gap: int) -> list[tuple[int, int]]:
    """Sorted times grouped where consecutive ones lie within ``gap`` seconds: [(first, last), ...]."""
    import numpy as np

    if not len(t_us):
        return []
    t = np.sort(t_us)
    cuts = list(np.flatnonzero(np.diff(t) > gap * 1_000_000) + 1) + [len(t)]
    out, start = [], 0
    for end in cuts:
        out.append((int(t[start]), int(t[end - 1])))
        start = end
    return out


def replace_incident_rows(lake, incident_ids: list[str], fresh: pa.Table) -> None:
    """Delete the context rows of ``incident_ids``, then append ``fresh`` (their rebuilt rows)."""
    if incident_ids:
        doomed = pa.table({"incident_id": pa.array(incident_ids, pa.string())})
        (lake.table("gold", "incident_context").merge(doomed, predicate="t.incident_id = s.incident_id",
                                                      source_alias="s", target_alias="t")
         .when_matched_delete().execute())
    if fresh.num_rows:
        lake.append("gold", "incident_context", fresh)


# -- events_reconcile: running tallies of the event ids silver implies and of those gold/events holds ---

RECONCILE_CONSUMER = "check/events_reconcile"
#: Origins the check reconciles and the silver columns that decide whether a row is an event.
RECONCILED = {"incidents": ["incident_id", "lon", "lat"], "transactions": ["txn_id", "lon", "lat"],
              "osint_posts": ["post_id", "lon", "lat"], "cdr_events": ["event_id", "cell_id"]}
_SIGN = {"insert": 1, "update_postimage": 1, "delete": -1, "update_preimage": -1}


@dataclass
class Reconciliation:
    """Per origin, the tally (:func:`jobs.fusion.tally.tally`) of the events silver implies and of those present."""

    expected: dict[str, tuple[int, int]]
    present: dict[str, tuple[int, int]]
    duplicates: int        # event ids seen more than once (full: in the table; incremental: among the changes)
    modes: dict[str, str]  # input -> full | incremental | unchanged

    @property
    def unique(self) -> bool:
        return self.duplicates == 0

    def reconciles(self, origin: str) -> bool:
        return self.expected.get(origin, (0, 0)) == self.present.get(origin, (0, 0))


def reconcile_events(lake) -> Reconciliation:
    """Tallies of the event ids located silver rows imply and of the ids ``gold/events`` holds, per origin.

    Rule: each side's tally is kept in ``control/watermarks`` (consumer
    ``check/events_reconcile``) with the versions it describes, in one
    append, so state and versions never disagree. A run adds the signed
    tally of what each input's change feed recorded since (inserted rows
    add, deleted rows subtract), so its cost follows the changes; without a
    tally, a feed that cannot say, or (for CDRs) other cell sites, that
    side is recounted from its table. Silver is read at the versions
    ``gold/events`` was last built from (its watermarks), so a refine
    committing meanwhile is not a false alarm. Equal tallies mean equal
    multisets of ids (up to a 2**-64 chance): no event missing, none twice,
    none extra. Nothing is written when no version moved.
    """
    from jobs.fusion.events import located_mask
    from jobs.fusion.tally import combine, tally

    changes.enable_change_feed(lake, "gold", "events")
    origins = [o for o in RECONCILED if lake.exists("silver", o)
               and (o != "cdr_events" or lake.exists("silver", "cell_sites"))]
    built = changes.watermarks(lake, CONSUMER)
    target = {f"silver/{o}": built.get(f"silver/{o}", lake.version("silver", o)) for o in origins}
    if "cdr_events" in origins:
        target["silver/cell_sites"] = built.get("silver/cell_sites", lake.version("silver", "cell_sites"))
    target["gold/events"] = lake.version("gold", "events")
    # a re-created table restarts its versions: its id tells it from the table the tallies describe
    target["gold/events#table"] = _table_id(lake, "gold", "events")
    state = changes.watermarks(lake, RECONCILE_CONSUMER)
    cells = None
    if "cdr_events" in origins:
        sites = lake.read("silver", "cell_sites", columns=["cell_id", "lon", "lat"], version=target["silver/cell_sites"])
        cells = sites.filter(located_mask(sites))["cell_id"].combine_chunks()

    def event_keys(origin: str, rows: pa.Table) -> tuple[pa.Array, pa.Array]:
        ok = pc.is_in(rows["cell_id"], value_set=cells) if origin == "cdr_events" else located_mask(rows)
        ok = pc.fill_null(ok, False)
        return event_ids(origin, pc.filter(rows[ID_FIELD[origin]], ok)), ok

    expected, present, modes, out = {}, {}, {}, dict(target)
    for origin in origins:
        key, mark = f"silver/{origin}", state.get(f"silver/{origin}")
        old = _stored_tally(state, "silver", origin)
        usable = old is not None and mark is not None and \
            (origin != "cdr_events" or state.get("silver/cell_sites") == target["silver/cell_sites"])
        feed = None
        if usable and mark == target[key]:
            expected[origin], modes[key] = old, "unchanged"
        else:
            if usable:
                feed = changes.changes(lake, "silver", origin, mark, target[key], columns=RECONCILED[origin])
            if feed is None:
                rows = lake.read("silver", origin, columns=RECONCILED[origin], version=target[key])
                expected[origin], modes[key] = tally(event_keys(origin, rows)[0]), "full"
            else:
                ids, ok = event_keys(origin, feed)
                signs = pc.filter(_signs(feed), ok).to_numpy(zero_copy_only=False)
                expected[origin], modes[key] = combine(old, tally(ids, signs)), "incremental"
        out.update(_tally_entries("silver", origin, expected[origin]))

    mark = state.get("gold/events")
    old = {o: _stored_tally(state, "events", o) for o in origins}
    usable = mark is not None and all(v is not None for v in old.values()) \
        and state.get("gold/events#table") == target["gold/events#table"]
    feed = None
    if usable and mark == target["gold/events"]:
        present, duplicates, modes["gold/events"] = old, 0, "unchanged"
    else:
        if usable:
            feed = changes.changes(lake, "gold", "events", mark, target["gold/events"], columns=["event_id", "origin"])
        if feed is None:
            ev = lake.read("gold", "events", columns=["event_id", "origin"], version=target["gold/events"])
            duplicates = ev.num_rows - pc.count_distinct(ev["event_id"]).as_py()
            for origin in origins:
                present[origin] = tally(pc.filter(ev["event_id"], pc.equal(ev["origin"], origin)))
            modes["gold/events"] = "full"
        else:
            signs = _signs(feed)
            net = pa.table({"event_id": feed["event_id"], "sign": signs}).group_by("event_id").aggregate(
                [("sign", "sum")])
            duplicates = int(pc.sum(pc.greater(net["sign_sum"], 1)).as_py() or 0)
            for origin in origins:
                mine = pc.equal(feed["origin"], origin)
                present[origin] = combine(old[origin], tally(pc.filter(feed["event_id"], mine),
                                                             pc.filter(signs, mine).to_numpy(zero_copy_only=False)))
            modes["gold/events"] = "incremental"
    for origin in origins:
        out.update(_tally_entries("events", origin, present[origin]))
    changes.save_watermarks(lake, RECONCILE_CONSUMER, out)
    return Reconciliation(expected=expected, present=present, duplicates=duplicates, modes=modes)


def _table_id(lake, layer: str, name: str) -> int:
    """The table's Delta id (a UUID set when it is created) as a non-negative int64."""
    return int(lake.table(layer, name).metadata().id.replace("-", "")[:15], 16)


def _signs(feed: pa.Table) -> pa.Array:
    kinds = list(_SIGN)
    idx = pc.index_in(feed["_change_type"], value_set=pa.array(kinds))
    return pa.array([_SIGN[k] for k in kinds], pa.int64()).take(idx)


def _stored_tally(state: dict[str, int], side: str, origin: str) -> tuple[int, int] | None:
    n, d = state.get(f"tally/{side}/{origin}/n"), state.get(f"tally/{side}/{origin}/digest")
    return None if n is None or d is None else (n, d)


def _tally_entries(side: str, origin: str, value: tuple[int, int]) -> dict[str, int]:
    return {f"tally/{side}/{origin}/n": value[0], f"tally/{side}/{origin}/digest": value[1]}
