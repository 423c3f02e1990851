"""Mergeable partials that follow their inputs' change feeds: entity statistics and link evidence.

``gold/entity_stats`` follows ``gold/events``; ``gold/cdr_link_partials``,
``gold/transaction_link_partials`` and ``gold/post_link_partials`` follow their
silver tables. Each follower reads the changes after its watermark
(:func:`orchestration.lakehouse.changes.follow`) and either merges the new rows'
partials in (:func:`orchestration.fusion.merges.merge_add`: counts add, first is
the least, last the greatest) or, when rows were removed or replaced, recomputes
the keys those rows touched and replaces them; with no watermark, or a feed that
cannot say, it rebuilds the table. The kernels are in :mod:`jobs.fusion.entities`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from orchestration.fusion.merges import merge_add, replace_keys, replace_pairs
from orchestration.lakehouse import changes

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
        merge_add(lake, "entity_stats", entity_stats(present.select(EVENT_COLUMNS)), ["entity_id", "origin"],
                  count="n_records", applied=changes.applied_marker(STATS_CONSUMER, "gold/events", version))
        mode, n = "merged", present.num_rows
    else:
        affected = pc.unique(pc.list_flatten(feed["entity_ids"]))
        events = _events_naming(lake, affected, version)
        fresh = entity_stats(events)
        fresh = fresh.filter(pc.is_in(fresh["entity_id"], value_set=affected))
        replace_keys(lake, "entity_stats", "entity_id", affected, fresh)
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
    from jobs.fusion.entities import cdr_link_increment, cdr_link_partials, reduce_cdr_partials
    from jobs.fusion.schemas import CDR_LINK_PARTIALS

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
        merge_add(lake, "cdr_link_partials", reduce_cdr_partials(increment), ["link_type", "src", "dst"],
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
        replace_pairs(lake, refs, fresh.filter(mine))
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
    from jobs.fusion.arrow_ops import entity_ref

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
        merge_add(lake, table, kernel(present.select(cols)), ["link_type", "src", "dst"], count="n_evidence",
                  sample="sample", applied=changes.applied_marker(consumer, f"silver/{source}", version))
        mode, n = "merged", present.num_rows
    else:
        values = pc.unique(pc.drop_null(feed[src_column].combine_chunks()))
        rows = _rows_with(lake, source, version, src_column, values, cols) if len(values) else None
        fresh = kernel(rows) if rows is not None and rows.num_rows else kernels.LINK_PARTIALS.empty_table()
        refs = pc.drop_null(entity_ref(kind, values))
        replace_pairs(lake, refs, fresh.cast(kernels.LINK_PARTIALS), table=table, sides=("src",))
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


def update_link_evidence(lake, *, spark_partials=None) -> dict[str, dict]:
    """Bring every link partial up to date: ``{"cdr": ..., "transactions": ..., "osint_posts": ...}``.

    Each value is its follower's ``{"mode", "rows"}``; ``spark_partials`` as in
    :func:`update_cdr_link_partials`.
    """
    updates = {"cdr": update_cdr_link_partials(lake, spark_partials=spark_partials)}
    updates.update({s: update_record_link_partials(lake, s) for s in RECORD_LINKS})
    return updates
