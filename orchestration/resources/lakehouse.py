"""The lakehouse: Delta Lake tables (delta-rs) under one root, local or S3-compatible.

Tables live at ``<root>/<layer>/<name>`` with the layers of DESIGN.md:
``bronze`` (``raw_<source>``), ``silver``, ``gold``, ``quarantine``
(``<table>_rejects``), ``reference``, ``truth`` and ``control``. Every write is
idempotent and safe when writers meet (several ``crimefusion ingest`` processes,
two Dagster runs):

- :meth:`Lakehouse.append` adds rows (a receipt); appends never conflict with
  each other;
- :meth:`Lakehouse.replace_where` atomically replaces the rows matching a
  predicate (one ingest, one partition, one source) in a single commit;
- :meth:`Lakehouse.merge` upserts on key columns (re-materialising updates rows,
  never duplicates them);
- :meth:`Lakehouse.delete` removes the rows matching a predicate;
- :meth:`Lakehouse.overwrite` replaces a whole table: only for a table that one
  asset fully owns (a gold full refresh), never for one that several writers share.

How writers that meet stay correct (DESIGN.md, "safe when writers meet"):

- a missing table is created by a conflict-checked commit of version 0
  (``mode="error"`` without delta-rs's internal commit retry), never by an
  unconditional overwrite: when two writers create it at once, one wins and
  the other re-reads and writes into the table the winner created, so both
  keep their rows (measured before: an overwrite that created the table
  removed another writer's receipt);
- a commit that loses a race (``deltalake.exceptions.CommitFailedError``:
  "Metadata changed since last commit", "Protocol changed", "a concurrent
  transaction added new data"...) is retried from a fresh snapshot, after an
  exponential backoff with jitter, up to ``commit_attempts`` times; then
  :class:`CommitConflictError` names the table. Retrying is safe because every
  write is defined by its predicate or keys, not by the snapshot it read;
- schema evolution (``evolve_schema``) re-reads the schema on every attempt, so
  two writers adding the same column both succeed.

Each write returns a :class:`WriteResult` with the Delta version *it* committed
(not a later writer's), which assets record in their Dagster metadata, so a
forecast can name the exact table versions it read (time travel).

Predicates are SQL text: build their literals with :func:`sql_literal` and
:func:`in_list`, never by pasting a value between quotes.

Two implementations share the resource key ``lakehouse``: :class:`LocalLakehouse`
(a folder) and :class:`ObjectStoreLakehouse` (S3-compatible storage, e.g. MinIO),
chosen by ``CRIMEFUSION_DEPLOYMENT`` when the definitions load.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
from pydantic import Field

from jobs.delta import CommitConflictError, CommitRetry, is_commit_conflict

__all__ = ["LAYERS", "CommitConflictError", "CommitRetry", "Lakehouse", "LocalLakehouse", "ObjectStoreLakehouse",
           "WriteResult", "in_list", "is_commit_conflict", "sql_identifier", "sql_literal"]

LAYERS = ("bronze", "silver", "gold", "quarantine", "reference", "truth", "control")


# -- predicate literals -------------------------------------------------------------------------


def _check_text(text: str, what: str) -> None:
    bad = [c for c in text if unicodedata.category(c) == "Cc"]
    if bad:
        raise ValueError(f"{what} {text!r} holds a control character ({bad[0]!r}); Delta predicates "
                         f"take printable text only")


def sql_literal(value: str | dt.datetime | dt.date | int) -> str:
    """``value`` as a literal of a Delta (DataFusion SQL) predicate.

    Text is quoted with single quotes doubled (``it's`` -> ``'it''s'``), so a
    value can never end the literal and add SQL of its own (``x' OR '1'='1``
    stays one string); backslashes are not escapes in this dialect and pass
    unchanged. Control characters (NUL, newline, tab, ...) are refused. A
    timestamp must carry a time zone and is written in UTC
    (``'2017-12-04T00:00:00.000000Z'``); a date as ``'2017-12-04'``; an integer
    as its digits.

    Raises
    ------
    ValueError
        Text with a control character, or a timestamp without a time zone.
    TypeError
        Any other type (booleans, floats, None): say what you mean in the predicate.
    """
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no Delta literal for {value!r}; write TRUE/FALSE/IS NULL in the predicate itself")
    if isinstance(value, str):
        _check_text(value, "predicate value")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value!r} has no time zone; lakehouse timestamps are UTC")
        return "'" + value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no Delta literal for {type(value).__name__} value {value!r}; use text, a timestamp, "
                    f"a date or an integer")


def sql_identifier(column: str) -> str:
    """A column name, double-quoted: case kept, reserved words (``group``) and any character but
    control characters allowed (a bronze column named ``loc.cat`` stays one column)."""
    if not isinstance(column, str) or not column:
        raise ValueError(f"column name must be non-empty text, got {column!r}")
    _check_text(column, "column name")
    return '"' + column.replace('"', '""') + '"'


def in_list(column: str, values: Iterable[str | dt.datetime | dt.date | int]) -> str:
    """The predicate ``"column" IN ('a', 'b')`` with every value quoted by :func:`sql_literal`.

    Duplicates are dropped (first order kept). An empty list gives ``FALSE``
    (nothing matches), which SQL's ``IN ()`` cannot say.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"in_list takes a list of values, not the single value {values!r}")
    literals = list(dict.fromkeys(sql_literal(v) for v in values))
    if not literals:
        return "FALSE"
    return f"{sql_identifier(column)} IN ({', '.join(literals)})"


# -- the resource -------------------------------------------------------------------------------


#: Tables resolved while :func:`tracing` is active (``layer/name``; the ``control`` layer is bookkeeping).
_TRACE: contextvars.ContextVar[set | None] = contextvars.ContextVar("crimefusion_lakehouse_trace", default=None)


@contextlib.contextmanager
def tracing(traced: set | None):
    """Collect into ``traced`` every table the lakehouse resolves inside the block (``None``: stop collecting)."""
    token = _TRACE.set(traced)
    try:
        yield traced
    finally:
        _TRACE.reset(token)


@dataclass(frozen=True)
class WriteResult:
    """What a write committed."""

    uri: str
    version: int
    rows_written: int
    rows_total: int

    def metadata(self) -> dict:
        """Dagster metadata for an asset materialisation."""
        return {
            "delta_version": dg.MetadataValue.int(self.version),
            "table_uri": dg.MetadataValue.path(self.uri),
            "rows_written": dg.MetadataValue.int(self.rows_written),
            "dagster/row_count": dg.MetadataValue.int(self.rows_total),
        }


class Lakehouse(dg.ConfigurableResource):
    """Delta tables under a root; subclasses say where the root is and how to reach it."""

    root: str = Field(description="Folder or s3:// URI that holds the lakehouse layers.")
    commit_attempts: int = Field(default=10, ge=1, description=(
        "How many times a write is tried when concurrent writers of the same table commit first."))
    commit_backoff_s: float = Field(default=0.05, gt=0, description=(
        "First wait after a lost commit race; doubles per attempt (with jitter) up to commit_backoff_max_s."))
    commit_backoff_max_s: float = Field(default=5.0, gt=0, description="Longest wait between two commit attempts.")

    # -- where ----------------------------------------------------------------
    def storage_options(self) -> dict[str, str] | None:
        return None

    def root_uri(self) -> str:
        return self.root.rstrip("/")

    def uri(self, layer: str, name: str) -> str:
        if layer not in LAYERS:
            raise ValueError(f"unknown lakehouse layer {layer!r}; layers are {', '.join(LAYERS)}")
        traced = _TRACE.get()
        if traced is not None and layer != "control":  # an asset under skip_unchanged learns what it touches
            traced.add(f"{layer}/{name}")
        return f"{self.root_uri()}/{layer}/{name}"

    def exists(self, layer: str, name: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.uri(layer, name), storage_options=self.storage_options())

    def table(self, layer: str, name: str, version: int | None = None):
        """The ``deltalake.DeltaTable`` (optionally at a past version)."""
        from deltalake import DeltaTable

        if not self.exists(layer, name):
            raise FileNotFoundError(
                f"lakehouse table {layer}/{name} does not exist under {self.root}; materialise it first "
                f"(crimefusion run, or the Dagster UI)"
            )
        return DeltaTable(self.uri(layer, name), version=version, storage_options=self.storage_options())

    # -- read -----------------------------------------------------------------
    def read(self, layer: str, name: str, *, columns: list[str] | None = None, filters=None,
             version: int | None = None) -> pa.Table:
        """Read a table through its snapshot's file list (never the folder as plain Parquet)."""
        table = self.table(layer, name, version)
        try:
            return table.to_pyarrow_table(columns=columns, filters=filters)
        except pa.ArrowNotImplementedError:
            if not filters:
                raise
            # files written as string_view beside files written as string (lakes from before plain_types):
            # pyarrow cannot push a filter into such a dataset, so the columns are read and filtered here
            import pyarrow.parquet as pq

            expression = pq.filters_to_expression(filters)
            names = sorted(set(columns or pa.schema(table.schema().to_arrow()).names) | _filter_columns(filters))
            rows = plain_types(table.to_pyarrow_table(columns=names)).filter(expression)
            return rows.select(columns) if columns else rows

    def version(self, layer: str, name: str) -> int | None:
        return self.table(layer, name).version() if self.exists(layer, name) else None

    def count(self, layer: str, name: str) -> int:
        return self.table(layer, name).count() if self.exists(layer, name) else 0

    # -- write ----------------------------------------------------------------
    def append(self, layer: str, name: str, data: pa.Table | Rows, *, partition_by: list[str] | None = None,
               evolve_schema: bool = False) -> WriteResult:
        """Add ``data``'s rows to the table, creating it when absent.

        Appends never conflict with each other (nor with a ``replace_where`` or
        ``delete`` whose predicate their rows do not match), so concurrent
        receipts all land. Not idempotent by itself: a caller that may repeat a
        receipt replaces it with :meth:`replace_where` on its ingest id instead.
        ``evolve_schema`` as in :meth:`replace_where`. ``data`` may be a
        function returning a ``pyarrow.RecordBatchReader`` (a file streamed in
        batches): its rows are written in one commit without being held in
        memory, and it is called again for each attempt after a lost race.
        """
        from deltalake import write_deltalake

        def attempt():
            rows = _Counted(data)
            table = self._open_or_create(layer, name, rows.data, partition_by)
            if table is not None:
                return table, rows.count
            table, rows = self._evolve(layer, name, rows, evolve_schema)
            if rows.maybe_rows:
                write_deltalake(table, rows.data, mode="append", storage_options=self.storage_options(),
                                writer_properties=_writer_properties())
            return table, rows.count

        return self._commit(layer, name, "append", attempt)

    def replace_where(self, layer: str, name: str, data: pa.Table | Rows, predicate: str, *,
                      partition_by: list[str] | None = None, evolve_schema: bool = False) -> WriteResult:
        """Atomically replace the rows matching ``predicate`` with ``data`` (one commit).

        Rows of ``data`` must all satisfy the predicate (delta-rs checks this).
        With ``evolve_schema`` new columns of ``data`` are added to the table
        (bronze keeps every column a source ever sent) and columns ``data``
        lacks are written as nulls; otherwise a schema mismatch is an error.
        Empty ``data`` deletes the matching rows. Writers whose predicates
        match different rows (``ingest_id = X`` vs ``= Y``) do not conflict.
        ``data`` may be a function returning a ``pyarrow.RecordBatchReader``, as
        in :meth:`append`.
        """
        from deltalake import write_deltalake

        def attempt():
            rows = _Counted(data)
            table = self._open_or_create(layer, name, rows.data, partition_by)
            if table is not None:
                return table, rows.count
            table, rows = self._evolve(layer, name, rows, evolve_schema)
            if rows.maybe_rows:
                write_deltalake(table, rows.data, mode="overwrite", predicate=predicate,
                                writer_properties=_writer_properties(),
                                storage_options=self.storage_options())
            if not rows.count:  # no rows to write: the predicate's rows are deleted
                table = self.table(layer, name) if rows.maybe_rows else table
                table.delete(predicate)
            return table, rows.count

        return self._commit(layer, name, "replace_where", attempt)

    def merge(self, layer: str, name: str, data: pa.Table, keys: list[str], *,
              partition_by: list[str] | None = None) -> WriteResult:
        """Upsert ``data`` on ``keys``: matched rows are updated, new rows inserted.

        A merge reads the whole target, so any concurrent commit that adds rows
        makes it retry (correct, but slower than :meth:`replace_where` on a
        receipt when writers meet often).
        """
        data = plain_types(data)

        def attempt():
            table = self._open_or_create(layer, name, data, partition_by)
            if table is not None:
                return table, data.num_rows
            table = self.table(layer, name)
            if data.num_rows:
                predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
                (
                    table.merge(data, predicate=predicate, source_alias="s", target_alias="t")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
            return table, data.num_rows

        return self._commit(layer, name, "merge", attempt)

    def delete(self, layer: str, name: str, predicate: str) -> WriteResult | None:
        """Remove the rows matching ``predicate`` (nothing when the table does not exist)."""
        def attempt():
            table = self.table(layer, name)
            table.delete(predicate)
            return table, 0

        return self._commit(layer, name, "delete", attempt) if self.exists(layer, name) else None

    def overwrite(self, layer: str, name: str, data: pa.Table, *, partition_by: list[str] | None = None) -> WriteResult:
        """Replace the whole table (rows, and schema when it changed) with ``data``.

        Only for a table that one asset fully owns and recomputes (gold full
        refreshes: ``near_repeat``, ``hotspots_gi``, ``entities``...): it
        removes every row, including rows another writer committed a moment
        before. Never use it for a table that several writers share (bronze,
        silver, quarantine, control): use :meth:`append`, :meth:`replace_where`
        or :meth:`merge`.

        Two owners racing (two runs of the same asset) end with one whole
        result, never a mix: with unchanged columns the overwrite is a
        ``replace_where`` of ``TRUE``, which fails (and is retried) when a rival
        added files meanwhile; a plain delta-rs overwrite keeps files a rival
        added after its snapshot (measured: a stale overwrite of an empty
        table left the rival's rows beside its own). A change of columns is a
        plain overwrite with ``schema_mode="overwrite"``.
        """
        from deltalake import write_deltalake

        data = plain_types(data)

        def attempt():
            table = self._open_or_create(layer, name, data, partition_by)
            if table is not None:
                return table, data.num_rows
            table = self.table(layer, name)
            if _same_columns(table, data):
                write_deltalake(table, data, mode="overwrite", predicate="TRUE",
                                storage_options=self.storage_options())
            else:
                write_deltalake(table, data, mode="overwrite", schema_mode="overwrite", partition_by=partition_by,
                                storage_options=self.storage_options())
            return table, data.num_rows

        return self._commit(layer, name, "overwrite", attempt)

    def describe(self, layer: str, name: str, written: int = 0) -> WriteResult:
        """The current version and size of a table, as a :class:`WriteResult`."""
        t = self.table(layer, name)
        return WriteResult(uri=self.uri(layer, name), version=t.version(), rows_written=written, rows_total=t.count())

    # -- how writes meet ------------------------------------------------------
    def commit_retry(self) -> CommitRetry:
        return CommitRetry(self.commit_attempts, self.commit_backoff_s, self.commit_backoff_max_s)

    def set_table_properties(self, layer: str, name: str, properties: dict[str, str]) -> int | None:
        """Set Delta table properties (``delta.enableChangeDataFeed``...) unless already set; returns the new version.

        A metadata commit of its own, retried like any write (a rival's commit
        in between makes it re-read and try again); ``None`` when nothing changed.
        """
        def attempt():
            table = self.table(layer, name)
            current = table.metadata().configuration
            if all(current.get(k) == v for k, v in properties.items()):
                return table, 0
            table.alter.set_table_properties(properties)
            return self.table(layer, name), 1

        if not self.exists(layer, name):
            return None
        table, changed = self.commit_retry().run(attempt, table=f"{layer}/{name}", operation="set table properties")
        return table.version() if changed else None

    def _commit(self, layer: str, name: str, operation: str, attempt) -> WriteResult:
        """Run ``attempt`` (which returns the table at the version it committed, and rows written) with retries."""
        table, written = self.commit_retry().run(attempt, table=f"{layer}/{name}", operation=operation)
        return WriteResult(uri=self.uri(layer, name), version=table.version(), rows_written=written,
                           rows_total=table.count())

    def _open_or_create(self, layer: str, name: str, data: pa.Table, partition_by: list[str] | None):
        """Create the table from ``data`` as version 0 when absent and return it; ``None`` when it exists.

        The create is conflict-checked (``mode="error"``, and no delta-rs
        internal retry: otherwise a create that lost version 0 is re-committed
        as version 1, 2... beside the winner's, replacing its schema and
        skipping the predicate or merge; measured 42 of 45 rounds of 5 racing
        writers). A rival that created the table first makes it fail, and the
        retry writes into the rival's table, so neither writer's rows are lost.
        """
        from deltalake import DeltaTable, write_deltalake

        if self.exists(layer, name):
            return None
        uri = self.uri(layer, name)
        write_deltalake(uri, data, mode="error", partition_by=partition_by, storage_options=self.storage_options(),
                        writer_properties=_writer_properties(),
                        commit_properties=_create_only())
        return DeltaTable(uri, version=0, storage_options=self.storage_options())

    def _evolve(self, layer: str, name: str, data: "_Counted", evolve_schema: bool):
        """The table (fresh snapshot) and ``data`` to write into it.

        With ``evolve_schema``, columns of ``data`` that the table lacks are added
        first (their own commit) and columns ``data`` lacks are filled with nulls.
        The schema is re-read on every attempt, so a rival adding the same column
        at the same time makes this attempt retry, and the next sees it present.
        """
        table = self.table(layer, name)
        if not evolve_schema:
            return table, data
        from deltalake import Schema as DeltaSchema

        current = pa.schema(table.schema().to_arrow())
        new = [f.with_nullable(True) for f in data.schema if f.name not in current.names]
        if new:
            table.alter.add_columns(DeltaSchema.from_arrow(pa.schema(new)).fields)
            current = pa.schema(table.schema().to_arrow())
        return table, data.conformed(current)


#: Rows per Parquet row group of the files the lakehouse writes. delta-rs's default (1 M rows) makes every
#: reader decode a gigabyte-sized row group of a wide bronze table at once (measured: 780 MB of RSS to scan a
#: 4 M-row receipt, 320 MB with 256 K-row groups); a refine reads bronze in batches of this size.
ROW_GROUP_ROWS = 256 * 1024


def _writer_properties():
    """Parquet writer settings of lakehouse writes: delta-rs's defaults but for the row-group size.

    The codec is named: ``WriterProperties`` without one writes uncompressed files (measured: 68 MB
    instead of 25 MB for a million bronze rows), unlike ``write_deltalake`` without properties (Snappy).
    Codec, statistics and dictionary settings cost about the same (0.50-0.54 s of CPU per million
    bronze rows), so they stay as they were.
    """
    from deltalake import WriterProperties

    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="SNAPPY")


def _create_only():
    """Commit properties of a create: no delta-rs internal retry (see :meth:`Lakehouse._open_or_create`)."""
    from deltalake.transaction import CommitProperties

    return CommitProperties(max_commit_retries=0)


#: Rows to write: a table, or a function that opens a ``pyarrow.RecordBatchReader`` (called once per attempt).
Rows = Callable[[], pa.RecordBatchReader]


class _Counted:
    """One attempt's rows: a table as it is, or a freshly opened reader whose batches are counted as
    delta-rs consumes them (so a streamed write reports its rows without holding them)."""

    def __init__(self, data, schema: pa.Schema | None = None, source=None) -> None:
        if isinstance(data, pa.RecordBatchReader):
            raise TypeError("pass a function that opens the RecordBatchReader, not the reader: a commit that "
                            "loses a race writes the rows again")
        self._source = source if source is not None else (data() if callable(data) else data)
        if schema is None and not isinstance(self._source, pa.Table) and plain_schema(self._source.schema) \
                != self._source.schema:
            schema = plain_schema(self._source.schema)  # view types: the batches are cast as they pass
        self._fill = schema
        self.count = self._source.num_rows if isinstance(self._source, pa.Table) else 0
        if isinstance(self._source, pa.Table):
            self.data = plain_types(self._source if schema is None else _conform_table(self._source, schema))
        else:
            self.data = pa.RecordBatchReader.from_batches(schema or self._source.schema, self._batches())

    @property
    def schema(self) -> pa.Schema:
        return self._source.schema

    @property
    def maybe_rows(self) -> bool:
        """Whether writing may add rows (a reader's count is known only once written)."""
        return self.count > 0 or not isinstance(self._source, pa.Table)

    def _batches(self):
        for batch in pulled_on_a_thread(self._source):
            if self._fill is not None:
                n = len(batch)
                batch = pa.RecordBatch.from_arrays(
                    [batch.column(f.name).cast(f.type) if f.name in batch.schema.names else pa.nulls(n, f.type)
                     for f in self._fill], schema=self._fill)
            self.count += len(batch)
            yield batch

    def conformed(self, schema: pa.Schema) -> "_Counted":
        """The same rows with ``schema``'s columns (those missing written as nulls)."""
        return _Counted(None, schema, self._source)


def pulled_on_a_thread(reader: pa.RecordBatchReader, depth: int = 2):
    """The reader's batches, produced on a thread of their own.

    delta-rs pulls a stream from inside its async runtime, where the producer could not call delta-rs
    (read bronze while writing silver) or another engine with a runtime of its own (SedonaDB): "Cannot
    start a runtime from within a runtime". On a plain thread it can, and it parses the next batch while
    delta-rs encodes the last one. At most ``depth`` batches wait in between.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in reader:
                while not stop.is_set():
                    try:
                        q.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item = (done, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            item = (None, exc)
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="lakehouse-rows", daemon=True)
    worker.start()
    try:
        while True:
            batch, exc = q.get()
            if exc is not None:
                raise exc
            if batch is done:
                return
            yield batch
    finally:
        stop.set()
        worker.join()


#: Arrow view types (what DataFusion-based engines such as SedonaDB return) and the types tables store.
_VIEW_TYPES = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with view types replaced by the plain ones: a file written with ``string_view`` columns reads
    back as ``string_view``, and pyarrow cannot filter a dataset whose files mix the two."""
    return pa.schema([f.with_type(_VIEW_TYPES.get(f.type, f.type)) for f in schema], metadata=schema.metadata)


def plain_types(data: pa.Table) -> pa.Table:
    """``data`` with view-typed columns cast to plain strings/binaries (the same values)."""
    schema = plain_schema(data.schema)
    return data if schema == data.schema else data.cast(schema)


def _filter_columns(filters) -> set[str]:
    """Column names a DNF filter list (``[(col, op, value), ...]`` or a list of such lists) uses."""
    groups = filters if filters and isinstance(filters[0], list) else [filters]
    return {name for group in groups for name, _, _ in group}


def _conform_table(data: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.table({n: data[n] if n in data.column_names else pa.nulls(data.num_rows, schema.field(n).type)
                     for n in schema.names})


def _same_columns(table, data: pa.Table) -> bool:
    """Whether ``data`` has the table's columns, names and Delta types, in order."""
    import json

    from deltalake import Schema as DeltaSchema

    def cols(schema) -> list:
        return [(f["name"], f["type"]) for f in json.loads(schema.to_json())["fields"]]

    try:
        return cols(table.schema()) == cols(DeltaSchema.from_arrow(data.schema))
    except Exception:  # noqa: BLE001 - a type Delta cannot hold: let the plain overwrite report it
        return False


class LocalLakehouse(Lakehouse):
    """The lakehouse in a local folder (default ``./lake``)."""

    def root_uri(self) -> str:
        return str(Path(self.root).expanduser().resolve())


class ObjectStoreLakehouse(Lakehouse):
    """The lakehouse in S3-compatible object storage (AWS S3, MinIO, Ceph).

    Credentials come from the environment (``dg.EnvVar``), never from files.
    Commits use conditional puts (``If-None-Match``, ``conditional_put=etag``),
    which AWS S3 (since 2024), MinIO and R2 honour, so two writers can never
    both write the same version of a table's log.
    """

    endpoint_url: str | None = Field(default=None, description="S3 endpoint, e.g. http://minio:9000")
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False

    def storage_options(self) -> dict[str, str]:
        opts = {"AWS_REGION": self.region, "conditional_put": "etag"}
        if self.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.access_key_id:
            opts["AWS_ACCESS_KEY_ID"] = self.access_key_id
        if self.secret_access_key:
            opts["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        if self.allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts
