"""Spark mode of the call-edge aggregation: :func:`jobs.links.edges.aggregate_edges` per partition.

CDR rows are hash-partitioned on the unordered (caller, callee) pair and the
minute of ``start_time``. Both rows of an on-net call (the operator's ``out``
and ``in`` rows) share caller, callee and start time, so they always land in
the same partition and ``dedupe_mirrored`` is exact per task. Each task runs
``aggregate_edges`` on its whole partition (``mapInArrow``); the driver
collects the partial edge tables and combines them with
:func:`jobs.links.edges.merge_edges`, whose reduction (sum, min, max) does not
depend on how the rows were split, so the result equals the embedded one row
for row.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from jobs.links.edges import PERIODS, aggregate_edges, merge_edges
from jobs.links.schemas import CALL_EDGES
from jobs.spark.arrow import arrow_frame, spark_schema

#: CDR columns the aggregation reads (``direction`` is optional: without it nothing is deduplicated).
CDR_COLUMNS = ("caller", "callee", "start_time", "duration_s", "kind", "direction")
_REQUIRED = CDR_COLUMNS[:-1]



def _cdr_frame(spark, cdr, storage_options: dict | None):
    """A Spark DataFrame of the CDR columns the aggregation needs, from an Arrow table or a Delta URI."""
    from jobs.spark.delta import read_delta

    if isinstance(cdr, str):
        df = read_delta(spark, cdr, storage_options=storage_options)
        present = df.columns
    elif isinstance(cdr, pa.Table):
        present = cdr.column_names
    else:
        raise TypeError(f"cdr must be a pyarrow.Table or a Delta table URI (str), got {type(cdr).__name__}")
    missing = [c for c in _REQUIRED if c not in present]
    if missing:
        raise ValueError(f"cdr lacks column(s) {missing}; found {list(present)}. "
                         "Pass the canonical silver cdr_events table (see jobs/schemas.py).")
    columns = [c for c in CDR_COLUMNS if c in present]
    if isinstance(cdr, str):
        return df.select(*columns)
    # never spark.createDataFrame(table): it drops every row after a zero-row chunk (jobs/spark/arrow.py)
    return arrow_frame(spark, cdr.select(columns))


def spark_call_edges(
    spark,
    cdr: pa.Table | str,
    *,
    period: str = "week",
    kinds: Sequence[str] = ("voice", "sms"),
    dedupe_mirrored: bool = True,
    partitions: int = 4,
    storage_options: dict | None = None,
) -> pa.Table:
    """Aggregate CDRs into call-network edges on Spark; the same rows as :func:`aggregate_edges`.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session (``orchestration.resources.compute.Compute.spark()``).
    cdr : pyarrow.Table or str
        CDR rows with ``caller``, ``callee``, ``start_time``, ``duration_s``,
        ``kind`` and optionally ``direction``, or the URI of a Delta table of
        them (read from its current snapshot's files on the executors).
    period, kinds, dedupe_mirrored
        As in :func:`jobs.links.edges.aggregate_edges`.
    partitions : int
        Number of Spark partitions (tasks) the CDRs are hashed into.
    storage_options : dict, optional
        Object-store options of a Delta URI.

    Returns
    -------
    pyarrow.Table
        ``CALL_EDGES`` sorted by period, caller, callee.

    Notes
    -----
    Map-side combine then reduce (Dean & Ghemawat, 2004, MapReduce): each task
    reduces its rows with ``aggregate_edges``, the driver reduces the partial
    tables with ``merge_edges``. The partitioning key (unordered caller/callee
    pair, minute) is a function of the columns ``drop_mirrored`` matches on,
    so mirrored rows never straddle two tasks.
    """
    from pyspark.sql import functions as F

    if isinstance(kinds, str):
        raise TypeError("kinds must be a sequence of kind names, e.g. ('voice', 'sms')")
    if period != "all" and period not in PERIODS:
        raise ValueError(f"period={period!r} is not one of {sorted([*PERIODS, 'all'])}")
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer, got {partitions!r}")
    kinds = tuple(kinds)

    df = _cdr_frame(spark, cdr, storage_options)
    df = df.repartition(partitions, F.least("caller", "callee"), F.greatest("caller", "callee"),
                        F.date_trunc("minute", "start_time"))

    def kernel(batches):
        parts = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
        if not parts:
            return
        edges = aggregate_edges(pa.concat_tables(parts), period=period, kinds=kinds, dedupe_mirrored=dedupe_mirrored)
        yield from edges.to_batches()

    partial = df.mapInArrow(kernel, spark_schema(CALL_EDGES)).toArrow()
    return merge_edges([partial]) if partial.num_rows else CALL_EDGES.empty_table()
