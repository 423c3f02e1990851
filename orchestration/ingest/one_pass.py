"""One file ingested in one pass: landed in bronze and parsed into silver as it is read.

:func:`orchestration.ingest.pipeline.ingest_file` lands a file in bronze and then
refines the source, reading the receipt back from bronze. When the source is in
a clean state (every receipt in bronze refined under the current spec and key,
none withdrawn) and the file is a receipt bronze and the ledger have never
seen, the refine would parse exactly this file's rows, in file order, and
nothing else. This module does that without the second read: each batch the
reader gives goes to a bronze writer thread and, parsed, to a silver writer
thread, so reading and parsing on this thread overlap both Parquet encoders.

The commits keep the refine's order, so every crash leaves what the refine
already handles: bronze commits first; silver's stream is held open until
bronze has committed and until a scan of silver's ids finds none of this file's
(a collision means an earlier receipt loses rows, which only the full refine
resolves: silver's write is then abandoned, nothing committed, and the refine
runs on the landed receipt); quarantine then commits, and the ledger last.
A process killed anywhere leaves a landed, unrefined receipt at worst, which
the next run refines.

Not taken (the two-pass path runs instead): Parquet files (:data:`ONE_PASS_FORMATS`),
object-store lakes (the one-pass path relies on the host's source lock to know
the source's state cannot change under it), a source with receipts to refine or withdraw, a receipt seen before,
a quarantine table from before rejects named their id, and a write that has to
start over (a lost commit race: the stream cannot be read twice).
"""

from __future__ import annotations

import queue
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from jobs.ingest.records import ParseState, _id_hashes, parse_records
from jobs.ingest.spec import SourceSpec
from jobs.schemas import CANONICAL, ID_FIELD
from orchestration.ingest import receipts
from orchestration.ingest.collisions import duplicate_losers
from orchestration.ingest.parsed import Tally
from jobs.ingest.readers import file_digest, ingest_id_for, open_source
from orchestration.lakehouse import changes
from jobs.delta_io import pulled_on_a_thread
from orchestration.resources.lakehouse import Lakehouse, sql_literal

#: Formats ingested in one pass. Parquet is not: measured on 10 M synthetic CDRs (2 cores), one pass was
#: faster (45.6 s against 64.9 s) but peaked at 2.1 GB against 1.5 GB landed then refined, over the ingest
#: memory bound (docs/architecture.md), and the cause is not found yet; CSV peaked at 1.39 GB.
ONE_PASS_FORMATS = ("csv", "jsonl")
#: Batches waiting between this thread and each writer thread.
QUEUE_DEPTH = 2
#: Rows parsed at once (the refine parses 256k: here the read, two writers and the parse share the memory).
PARSE_ROWS = 128 * 1024


class Declined(Exception):
    """The one-pass path does not apply (or had to stop before committing silver); the reason is the message."""


def ingest_in_one_pass(lake: Lakehouse, spec: SourceSpec, path: str | Path, *, ctx, now: datetime | None,
                       pseudonym_key: bytes | None):
    """Land and refine ``path`` in one pass; returns the :class:`~orchestration.ingest.pipeline.IngestSummary`.

    Raises :class:`Declined` before anything is written when the source's state asks for the full refine,
    and after bronze's commit (silver not committed) when silver already holds one of the file's ids; the
    caller then runs the two-pass ingest, which finds the receipt landed and refines it. A file-level error
    (:class:`~jobs.ingest.readers.SourceFileError`) is raised as it is, nothing committed.
    """
    from orchestration.ingest import pipeline

    if "://" in lake.root_uri():
        raise Declined("object-store lake: refines are serialised by Dagster's pools, not a host lock")
    if spec.format.kind not in ONE_PASS_FORMATS:
        raise Declined(f"{spec.format.kind} files are landed, then refined (see ONE_PASS_FORMATS)")
    path = Path(path)
    sha = file_digest(path) if path.is_file() else None
    if sha is None:
        raise Declined("not a file")  # the two-pass path raises the reader's error naming it
    ingest_id = ingest_id_for(spec, sha)
    name = pipeline.bronze_table(spec)
    stream = open_source(spec, path, now=now, sha256=sha)  # a file-level error is raised before anything is written
    with pipeline.source_lock(lake, spec):
        in_bronze = receipts.bronze_receipts(lake, name)
        entries = receipts.latest(lake, spec.name)
        if ingest_id in in_bronze or ingest_id in entries:
            raise Declined("a receipt seen before")
        fingerprint = receipts.spec_fingerprint(spec, pseudonym_key)
        stale = [i for i, r in in_bronze.items() if not (
            (e := entries.get(i)) is not None and e.state == receipts.REFINED and e.spec_fingerprint == fingerprint
            and e.ingested_at == r.ingested_at)]
        gone = [i for i, e in entries.items() if i not in in_bronze and e.state != receipts.WITHDRAWN]
        if stale or gone:
            raise Declined(f"{len(stale)} receipt(s) to refine and {len(gone)} to withdraw first")
        if duplicate_losers(lake, spec) is None:
            raise Declined("quarantine from before rejects named their id")
        boundaries = pipeline.ensure_boundaries(lake, spec)
        return _run(lake, spec, stream, boundaries=boundaries, ctx=ctx, now=now, pseudonym_key=pseudonym_key,
                    fingerprint=fingerprint)


def _run(lake: Lakehouse, spec: SourceSpec, stream, *, boundaries, ctx, now, pseudonym_key, fingerprint):
    from orchestration.ingest import pipeline

    name = pipeline.bronze_table(spec)
    extra = {"ingest_partition": (pa.string(), None)}
    bronze_schema = stream.stream_schema(extra)
    # the parse sees the batch as the refine would read it back: with every column bronze will hold, in its
    # order (ids made from a row's content join every source column)
    as_stored = _stored_schema(lake, name, bronze_schema)
    bronze = _Writer(lake, "bronze", name, bronze_schema, evolve_schema=True)
    silver = _Writer(lake, "silver", spec.table, CANONICAL[spec.table])
    tally, state = Tally(), ParseState()
    held: list[pa.RecordBatch] = []

    def parse(batches: list[pa.RecordBatch]) -> None:
        rows = _conformed(pa.Table.from_batches(batches, schema=bronze_schema).combine_chunks(), as_stored)
        result = parse_records(rows, spec, state=state, boundaries=boundaries, ctx=ctx, now=now,
                               pseudonym_key=pseudonym_key)
        tally.add(rows, result)
        for b in result.accepted.to_batches():
            silver.put(b)

    try:
        # read (and decoded) on a thread of its own while this one parses
        # every queue on the way is bounded (the writers take batches no faster than this thread parses them,
        # so delta-rs's own queue stays short): no wait on Arrow's memory pool (readers.wait_for_writer), which
        # would also count the parse's own memory here and stall it
        for batch in pulled_on_a_thread(stream.batches(extra, to_writer=False), depth=QUEUE_DEPTH):
            bronze.put(batch)
            held.append(batch)
            if sum(len(b) for b in held) >= PARSE_ROWS:
                parse(held)
                held = []
        if held:
            parse(held)
            held = []
        bronze.finish()
        if not tally.rows_in:  # a header and no rows: nothing landed, nothing to refine, 0 = 0 + 0
            silver.abandon(Declined("no rows"))
            return pipeline.IngestSummary(rows_in=0, accepted=0, quarantined=0, source=spec.name,
                                          table_version=lake.version("silver", spec.table),
                                          ingest_ids=(stream.ingest_id,))
        collide = _silver_holds_any(lake, spec, state)
        if collide:
            raise Declined(f"silver already holds {collide} of these ids: the refine decides which rows win")
    except BaseException as exc:
        bronze.abandon(exc)
        silver.abandon(exc)
        raise
    written = silver.finish()
    where = f"source = {sql_literal(spec.name)} AND ingest_id = {sql_literal(stream.ingest_id)}"
    lake.replace_where("quarantine", pipeline.rejects_table(spec), tally.rejects(), where, evolve_schema=True)
    version = written.version if changes.enable_change_feed(lake, "silver", spec.table) \
        else lake.version("silver", spec.table)
    landed_at = receipts.bronze_receipts(lake, name)[stream.ingest_id].ingested_at
    counts = tally.per_receipt.get(stream.ingest_id, {"rows_in": 0, "accepted": 0, "quarantined": 0})
    receipts.record(lake, spec, [{"ingest_id": stream.ingest_id, "state": receipts.REFINED, "ingested_at": landed_at,
                                  "spec_fingerprint": fingerprint, **counts}])
    return tally.summary(spec, version)


def _stored_schema(lake: Lakehouse, name: str, incoming: pa.Schema) -> pa.Schema:
    """Bronze's schema once ``incoming`` is appended: the table's columns, then the new ones (as the
    lakehouse's schema evolution adds them)."""
    if not lake.exists("bronze", name):
        return incoming
    current = pa.schema(lake.table("bronze", name).schema().to_arrow())
    return pa.schema([*current, *(f for f in incoming if f.name not in current.names)])


def _conformed(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    if rows.schema.names == schema.names:
        return rows
    n = rows.num_rows
    return pa.table({f.name: rows[f.name] if f.name in rows.schema.names else pa.nulls(n, f.type) for f in schema})


def _silver_holds_any(lake: Lakehouse, spec: SourceSpec, state: ParseState) -> int:
    """How many of the ids this parse accepted silver already holds (rows of earlier receipts), by their hashes
    (a scan of silver's id column for the source, batch by batch: the one cost that grows with silver)."""
    if not len(state.seen) or not lake.exists("silver", spec.table):
        return 0
    import polars as pl
    import pyarrow.dataset as pads

    id_field = ID_FIELD[spec.table]
    ds = lake.table("silver", spec.table).to_pyarrow_dataset()
    hits = 0
    for b in ds.to_batches(columns=[id_field], filter=pads.field("source") == spec.name, batch_size=1 << 20,
                           batch_readahead=1, fragment_readahead=1):
        if not len(b):
            continue
        h1, h2 = _id_hashes(pl.Series("id", b.column(0), dtype=pl.String))
        hits += len(state.seen.find(np.asarray(h1), np.asarray(h2))[0])
    return hits


_END = object()


class _Writer:
    """One table's commit fed from this thread: a writer thread runs the lakehouse's ``append`` over a reader
    that takes batches from a bounded queue; the commit happens once :meth:`finish` ends the stream."""

    def __init__(self, lake: Lakehouse, layer: str, name: str, schema: pa.Schema, *, evolve_schema: bool = False):
        self.schema = schema
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.result = None
        self.error: BaseException | None = None
        self.opened = False
        self.thread = threading.Thread(target=self._write, args=(lake, layer, name, evolve_schema),
                                       name=f"crimefusion-{layer}-{name}", daemon=True)
        self.thread.start()

    def _reader(self) -> pa.RecordBatchReader:
        if self.opened:  # a lost commit race: the batches are gone; the two-pass ingest starts over
            raise Declined("a write had to start over")
        self.opened = True

        def batches():
            while True:
                item = self.queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item

        return pa.RecordBatchReader.from_batches(self.schema, batches())

    def _write(self, lake: Lakehouse, layer: str, name: str, evolve_schema: bool) -> None:
        try:
            self.result = lake.append(layer, name, self._reader, evolve_schema=evolve_schema)
        except BaseException as exc:  # kept for the feeding thread, which re-raises it
            self.error = exc

    def put(self, item) -> None:
        while self.thread.is_alive():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        self._raise()

    def finish(self):
        """End the stream, wait for the commit, and return its :class:`WriteResult`."""
        self.put(_END)
        self.thread.join()
        self._raise()
        return self.result

    def abandon(self, why: BaseException) -> None:
        """Fail the stream (nothing is committed) and wait for the thread."""
        if self.thread.is_alive():
            try:
                self.queue.put(Declined(f"abandoned: {why}") if not isinstance(why, Exception) else why,
                               timeout=0.1)
            except queue.Full:
                pass
            while self.thread.is_alive():
                try:  # the writer may be blocked on a full queue: drain it until it sees the error
                    self.queue.get_nowait()
                    self.queue.put_nowait(why if isinstance(why, Exception) else Declined(str(why)))
                except (queue.Empty, queue.Full):
                    pass
                self.thread.join(timeout=0.05)

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise RuntimeError("writer thread ended without a result")
