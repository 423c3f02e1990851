"""Spark mode of gold ``entities`` and ``entity_links``: map-side partials per partition, reduced on the driver.

**entities**: :func:`jobs.fusion.entities.entity_stats` per partition.

The events table is the large input (every CDR is an event). Each task reduces
its events to per-(entity, origin) partials (count, first and last time) with
``mapInArrow``; the driver collects the partials and finishes with
:func:`jobs.fusion.entities.entities_from_stats`, whose reduction (sum, min,
max, union of origins) does not depend on how the events were split, so the
rows equal the embedded ones. The same-as clustering (union-find over the
links) runs on the driver: links are few next to events.

**entity_links**: the CDRs are the large input. They are hash-partitioned on
(caller, callee), so the MO and MT records of one call meet in one task and are
counted once; each task computes :func:`jobs.fusion.entities.cdr_link_partials`
(``called`` and ``uses`` per pair: count, first, last, smallest record id), and
the driver passes the partials to :func:`jobs.fusion.entities.entity_links`,
which reduces them (sum, min, max, min) and adds the links from the smaller
tables (persons, transactions, posts, context, detections).
"""

from __future__ import annotations

import pyarrow as pa

from jobs.fusion.entities import cdr_link_partials, entities_from_stats, entity_links, entity_stats
from jobs.fusion.schemas import CDR_LINK_PARTIALS, ENTITY_STATS
from jobs.spark.arrow import spark_schema

EVENT_COLUMNS = ["event_id", "origin", "occurred_at", "entity_ids"]
CDR_COLUMNS = ["event_id", "caller", "callee", "start_time", "kind", "direction", "imei"]


def _check_partitions(partitions) -> None:
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer, got {partitions!r}")


def spark_entities(spark, events_uri: str, links: pa.Table, *, persons: pa.Table | None = None,
                   cameras: pa.Table | None = None, same_as_threshold: float = 0.8, partitions: int = 4,
                   storage_options: dict | None = None) -> pa.Table:
    """Gold ``entities`` on Spark; the same rows as :func:`jobs.fusion.entities.entities`.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session (``orchestration.resources.compute.Compute.spark()``).
    events_uri : str
        Delta URI of gold ``events`` (read from its snapshot's file list on the executors).
    links, persons, cameras, same_as_threshold
        As in :func:`jobs.fusion.entities.entities`.
    partitions : int
        Spark partitions (tasks) the events are split into.
    storage_options : dict, optional
        Object-store options of the URI.
    """
    stats = spark_entity_stats(spark, events_uri, partitions=partitions, storage_options=storage_options)
    return entities_from_stats(stats, links, persons=persons, cameras=cameras, same_as_threshold=same_as_threshold)


def spark_entity_stats(spark, events_uri: str, *, partitions: int = 4, storage_options: dict | None = None) -> pa.Table:
    """:func:`jobs.fusion.entities.entity_stats` partials of gold ``events``, one set per Spark task (not reduced)."""
    from jobs.spark.delta import read_delta

    _check_partitions(partitions)
    df = read_delta(spark, events_uri, columns=EVENT_COLUMNS, storage_options=storage_options).repartition(partitions)

    def kernel(batches):
        parts = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
        if parts:
            yield from entity_stats(pa.concat_tables(parts)).to_batches()

    partial = df.mapInArrow(kernel, spark_schema(ENTITY_STATS)).toArrow()
    return partial.cast(ENTITY_STATS) if partial.num_rows else ENTITY_STATS.empty_table()


def spark_entity_links(spark, cdr_uri: str | None, *, persons: pa.Table | None = None,
                       transactions: pa.Table | None = None, posts: pa.Table | None = None,
                       context: pa.Table | None = None, detections: pa.Table | None = None,
                       same_as_threshold: float = 0.8, partitions: int = 4,
                       storage_options: dict | None = None) -> pa.Table:
    """Gold ``entity_links`` on Spark; the same rows as :func:`jobs.fusion.entities.entity_links`.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session.
    cdr_uri : str or None
        Delta URI of silver ``cdr_events`` (its snapshot's files); None: no CDR links.
    persons, transactions, posts, context, detections, same_as_threshold
        As in :func:`jobs.fusion.entities.entity_links` (small tables, on the driver).
    partitions : int
        Spark partitions (tasks) the CDRs are hashed into.
    storage_options : dict, optional
        Object-store options of the URI.
    """
    _check_partitions(partitions)
    partials = spark_cdr_link_partials(spark, cdr_uri, partitions=partitions, storage_options=storage_options) \
        if cdr_uri is not None else None
    return entity_links(persons=persons, transactions=transactions, posts=posts, context=context,
                        detections=detections, same_as_threshold=same_as_threshold, cdr_partials=partials)


def spark_cdr_link_partials(spark, cdr_uri: str, *, partitions: int = 4, storage_options: dict | None = None) -> pa.Table:
    """:func:`jobs.fusion.entities.cdr_link_partials` of a silver ``cdr_events`` Delta table, per Spark task.

    Rows are hashed on (caller, callee), so the MO and MT records of one call
    meet in one task; the partials of different tasks are reduced by
    :func:`jobs.fusion.entities.reduce_cdr_partials` (or ``entity_links``).
    """
    from jobs.spark.delta import read_delta

    _check_partitions(partitions)
    df = read_delta(spark, cdr_uri, storage_options=storage_options)
    missing = [c for c in CDR_COLUMNS[:5] if c not in df.columns]
    if missing:
        raise ValueError(f"{cdr_uri} lacks column(s) {missing}; found {df.columns}")
    df = df.select(*[c for c in CDR_COLUMNS if c in df.columns]).repartition(partitions, "caller", "callee")

    def kernel(batches):
        parts = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
        if parts:
            yield from cdr_link_partials(pa.concat_tables(parts)).to_batches()

    return df.mapInArrow(kernel, spark_schema(CDR_LINK_PARTIALS)).toArrow().cast(CDR_LINK_PARTIALS)
