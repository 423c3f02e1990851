"""Spark mode of ingestion's parse: :func:`jobs.ingest.records.parse_records` inside Spark tasks.

The embedded refine parses a source's bronze rows in one pass, in the full
refresh's order (latest receipt first, file order within one), carrying a
:class:`~jobs.ingest.records.ParseState` so that the first row of an id wins and
every later row of it is a ``duplicate_id`` reject naming that row. Spark runs
the same kernel in Spark tasks and gives the same rows, in the same order:

1. **one task per bronze data file** holding rows of the receipts (files picked
   by the Delta log's ``ingest_id`` statistics): it reads the file with
   pyarrow (the lake's storage options, so S3 works without Hadoop jars), keeps
   the receipts' rows, and gives each row its receipt's rank in the refresh's
   order and an **id key**: a hash of the record id (sources with id columns,
   :func:`~jobs.ingest.records.row_ids` without state), or of the row's content
   (sources whose ids are made from the content: identical rows share it);
2. rows are **shuffled by id key** into ``partitions`` tasks and sorted there
   by ``(rank, source_row)``: every row of an id, from every receipt, meets in
   one task in the refresh's order. Each task runs ``parse_records`` over its
   rows in batches with one ``ParseState``: the embedded pass restricted to
   these ids. Duplicate resolution relates only rows of one id (and content ids
   count identical rows of one receipt, which share a key), every other rule
   is row by row, so the union of the tasks' results is the embedded result,
   row for row;
3. the accepted rows are **sorted globally** by ``(rank, source_row)``
   (Spark's range partitioning) and come to the driver one partition at a
   time, as Arrow IPC chunks, in the order the embedded parse writes them
   (readers of silver may depend on it: the synthetic generator samples silver
   incidents by position). A parse task's rejects travel as one IPC value per
   ``parse_records`` call and are put in the same order on the driver.

The driver then commits silver and quarantine once each, with delta-rs, as the
embedded refine does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from jobs.ingest.records import LINEAGE, ParseState, parse_records, row_ids
from jobs.ingest.spec import SourceSpec
from jobs.schemas import CANONICAL, REJECTS
from jobs.spark.arrow import from_ipc, sedona_context, spark_schema, to_ipc
from jobs.spark.delta import filesystem

#: Bronze rows one ``parse_records`` call inside a task takes at once (a task's working memory).
TASK_BATCH_ROWS = 64 * 1024

#: What the driver reads back: accepted rows in the refresh's order, in Arrow IPC chunks.
CHUNKS = pa.schema([("accepted", pa.binary())])

_KEY, _RANK, _REJECTS = "_crimefusion_key", "_crimefusion_rank", "_crimefusion_rejects"


@dataclass(frozen=True)
class SparkParseRun:
    """One Spark parse: its results, streamed to the driver as ``(accepted, rejects)`` pairs (first every
    reject, then the accepted rows in chunks, both in the refresh's order), and the tasks of its stages
    (file reads; parses, and as many sort tasks)."""

    results: Iterator[tuple[pa.Table, pa.Table]]
    file_tasks: int
    parse_tasks: int


def id_keys(bronze: pa.Table, spec: SourceSpec) -> pa.Array:
    """A 64-bit key per bronze row that every row sharing its record id shares too.

    With id columns the key hashes the id itself; with ids made from the content it hashes the text that
    :func:`~jobs.ingest.records.row_ids` digests (every data column, nulls as empty, joined), so identical
    rows, whose ids differ only by their count within a receipt, share it.
    """
    import polars as pl

    if not bronze.num_rows:
        return pa.array([], pa.int64())
    if not spec.id.from_content:
        text = pa.array(row_ids(bronze, spec), pa.string())
    else:
        cols = [c for c in bronze.column_names if c not in LINEAGE] + \
            (["raw_line"] if "raw_line" in bronze.column_names else [])
        text = pc.binary_join_element_wise(*[pc.fill_null(bronze[c].combine_chunks().cast(pa.string()), "")
                                             for c in cols], "\x1f") if cols else pa.array([""] * bronze.num_rows)
    hashed = pl.Series("k", text).hash(seed=0x1D).to_numpy().view("int64")
    return pa.array(hashed, pa.int64())


def bronze_files(uri: str, ingest_ids: list[str], *, storage_options: dict | None = None) -> list[str]:
    """URIs of the snapshot's data files that may hold rows of ``ingest_ids`` (by the log's min/max statistics;
    a file without statistics is kept)."""
    from deltalake import DeltaTable

    dt = DeltaTable(uri, storage_options=storage_options)
    if dt.metadata().partition_columns:
        raise ValueError(f"{uri} is partitioned by {dt.metadata().partition_columns}; Spark mode reads "
                         f"unpartitioned bronze tables only")
    actions = pa.table(dt.get_add_actions(flatten=True))
    names = actions.column_names
    low = actions.column("min.ingest_id").to_pylist() if "min.ingest_id" in names else [None] * actions.num_rows
    high = actions.column("max.ingest_id").to_pylist() if "max.ingest_id" in names else [None] * actions.num_rows
    wanted = sorted(ingest_ids)
    base = uri.rstrip("/")
    out = []
    for path, lo, hi in zip(actions.column("path").to_pylist(), low, high):
        if lo is None or hi is None or any(lo <= i <= hi for i in wanted):
            out.append(path if "://" in path or path.startswith("/") else f"{base}/{path}")
    return out


def spark_parse(spark, files: list[str], spec: SourceSpec, *, schema: pa.Schema, rank: dict[str, int],
                partitions: int, now: datetime, boundaries: pa.Table | None = None,
                pseudonym_key: bytes | None = None, prior: dict[str, tuple[int, str]] | None = None,
                storage_options: dict | None = None) -> SparkParseRun:
    """Parse the bronze rows of the receipts ranked in ``rank`` (0: first in the refresh's order) in Spark tasks.

    Parameters
    ----------
    files
        Bronze data files (:func:`bronze_files`); one task reads each.
    schema
        The bronze table's Arrow schema, as the embedded refine reads it: every file's rows are given its
        columns, in its order (a column added later is null in older files), before keys are made or rows
        parsed.
    rank
        ``{ingest id: rank}`` of the receipts to parse.
    partitions
        Parse tasks: rows are shuffled into this many by id key.
    now, boundaries, pseudonym_key, prior
        As :func:`jobs.ingest.records.parse_records` takes them; each task opens its own SedonaDB context
        when there are boundaries.

    Returns
    -------
    SparkParseRun
        ``results`` runs the tasks when first advanced (each stage's tasks in parallel; their output held
        by Spark, memory and disk), yields the rejects, then the accepted rows one sorted partition at a
        time.
    """
    if not files or not rank:
        return SparkParseRun(iter(()), 0, 0)
    so = dict(storage_options or {})
    wanted = pa.array(sorted(rank), pa.string())
    by_rank = pa.array(sorted(rank, key=rank.get), pa.string())  # position = rank
    keyed = pa.schema([*schema, pa.field(_KEY, pa.int64()), pa.field(_RANK, pa.int32())])

    shipped = to_ipc(boundaries)
    canonical = CANONICAL[spec.table]
    # accepted rows travel as Spark rows (so Spark can sort them); a batch's rejects as one IPC value
    carried = pa.schema([*(f.with_nullable(True) for f in canonical), pa.field(_RANK, pa.int32()),
                         pa.field(_REJECTS, pa.binary())])

    paths = spark.createDataFrame([(f,) for f in files], "path string").repartition(len(files))
    rows = paths.mapInArrow(_file_reader(schema, spec, wanted, by_rank, so), spark_schema(keyed))
    parsed = (rows.repartition(partitions, _KEY).sortWithinPartitions(_RANK, "source_row")
              .mapInArrow(_task_parser(schema, spec, carried, by_rank, shipped, now=now,
                                       pseudonym_key=pseudonym_key, prior=prior),
                          spark_schema(carried)))

    return SparkParseRun(_results(parsed, by_rank, canonical), len(files), partitions)


def _file_reader(schema: pa.Schema, spec: SourceSpec, wanted: pa.Array, by_rank: pa.Array, so: dict):
    """The read stage's task function: each bronze file's rows of the wanted receipts, with the table's
    columns (a column added after a file was written is null there), an id key and the receipt's rank."""

    def read(batches):
        import pyarrow.dataset as pads
        import pyarrow.parquet as pq

        for b in batches:
            for path in b.column(0).to_pylist():
                fs, p = filesystem(path, so)
                rows = pq.read_table(p, filesystem=fs, filters=pads.field("ingest_id").isin(wanted))
                if not rows.num_rows:
                    continue
                # the table's columns in its order: a column added after this file was written is null here
                rows = pa.table({f.name: rows[f.name] if f.name in rows.column_names
                                 else pa.nulls(rows.num_rows, f.type) for f in schema}).cast(schema)
                ranks = pc.index_in(rows["ingest_id"], value_set=by_rank).cast(pa.int32())
                out = rows.append_column(_KEY, id_keys(rows, spec)).append_column(_RANK, ranks)
                yield from (x for x in out.to_batches() if x.num_rows)

    return read


def _task_parser(schema: pa.Schema, spec: SourceSpec, carried: pa.Schema, by_rank: pa.Array, shipped, *,
                 now: datetime, pseudonym_key: bytes | None, prior):
    """The parse stage's task function: ``parse_records`` over a shuffled partition in (rank, source row)
    order with one ``ParseState``; accepted rows as Spark rows, each batch's rejects as one IPC value."""
    canonical = CANONICAL[spec.table]

    def parse(batches):
        area = from_ipc(shipped)
        ctx = sedona_context() if area is not None else None
        state, buf, n = ParseState(), [], 0

        def run(parts):
            bronze = pa.Table.from_batches(parts).drop_columns([_KEY, _RANK])
            bronze = bronze.select(schema.names).cast(schema)
            result = parse_records(bronze, spec, state=state, boundaries=area, ctx=ctx, now=now,
                                   pseudonym_key=pseudonym_key, prior=prior)
            ok = result.accepted
            ok = pa.table({**{f.name: ok[f.name] for f in canonical},
                           _RANK: pc.index_in(ok["ingest_id"], value_set=by_rank).cast(pa.int32()),
                           _REJECTS: pa.nulls(ok.num_rows, pa.binary())})
            yield from (b for b in ok.cast(carried).to_batches() if b.num_rows)
            rejects = pa.table({**{f.name: pa.nulls(1, f.type) for f in carried if f.name != _REJECTS},
                                _REJECTS: pa.array([to_ipc(result.rejects)], pa.binary())}, schema=carried)
            yield from rejects.to_batches()

        for b in batches:  # in (rank, source_row) order: the refresh's order among this task's ids
            if not b.num_rows:
                continue
            buf.append(b)
            n += b.num_rows
            if n >= TASK_BATCH_ROWS:
                yield from run(buf)
                buf, n = [], 0
        if buf:
            yield from run(buf)

    return parse


def _chunks(batches):
    """A sorted partition's accepted rows as IPC values of :data:`TASK_BATCH_ROWS` rows at most."""
    buf, n = [], 0
    for b in batches:
        if not b.num_rows:
            continue
        buf.append(b)
        n += b.num_rows
        if n >= TASK_BATCH_ROWS:
            yield _chunk(buf)
            buf, n = [], 0
    if buf:
        yield _chunk(buf)


def _results(parsed, by_rank: pa.Array, canonical: pa.Schema) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Run the parse: the rejects first (few, to the driver, in the refresh's order), then the accepted rows
    one sorted partition at a time."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    held = parsed.persist(StorageLevel.MEMORY_AND_DISK)
    ordered = None
    try:
        # the parse tasks run here, all at once; the rejects (few) come to the driver, in the refresh's order
        carriers = held.where(F.col(_REJECTS).isNotNull()).select(_REJECTS).collect()
        parts = [from_ipc(bytes(r[_REJECTS])) for r in carriers]
        rejects = pa.concat_tables(parts) if parts else REJECTS.empty_table()
        if rejects.num_rows:
            ranked = rejects.append_column(_RANK, pc.index_in(rejects["ingest_id"], value_set=by_rank))
            rejects = ranked.sort_by([(_RANK, "ascending"), ("source_row", "ascending")]).drop_columns([_RANK])
        yield canonical.empty_table(), rejects
        # accepted rows in the refresh's order (the order the embedded parse writes them in, which a reader
        # of silver may depend on): a global sort, then one partition at a time to the driver
        ordered = (held.where(F.col(_REJECTS).isNull()).drop(_REJECTS).orderBy(_RANK, "source_row")
                   .mapInArrow(_chunks, spark_schema(CHUNKS)).persist(StorageLevel.MEMORY_AND_DISK))
        ordered.count()  # the sort's tasks at once
        for r in ordered.toLocalIterator():
            yield from_ipc(bytes(r["accepted"])).cast(canonical), REJECTS.empty_table()
    finally:
        if ordered is not None:
            ordered.unpersist()
        held.unpersist()


def _chunk(batches: list) -> pa.RecordBatch:
    table = pa.Table.from_batches(batches).drop_columns([_RANK])
    return pa.RecordBatch.from_pylist([{"accepted": to_ipc(table)}], schema=CHUNKS)
