"""Arrow data on its way into delta-rs: row counting of streamed writes, producers on their own thread,
plain (non-view) types, and the Parquet writer settings of every lakehouse write."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa


#: Rows per Parquet row group of the files the lakehouse writes. delta-rs's default (1 M rows) makes every
#: reader decode a gigabyte-sized row group of a wide bronze table at once (measured: 780 MB of RSS to scan a
#: 4 M-row receipt, 320 MB with 256 K-row groups); a refine reads bronze in batches of this size.
ROW_GROUP_ROWS = 256 * 1024


def writer_properties():
    """Parquet writer settings of lakehouse writes: delta-rs's defaults but for the row-group size.

    The codec is named: ``WriterProperties`` without one writes uncompressed files (measured: 68 MB
    instead of 25 MB for a million bronze rows), unlike ``write_deltalake`` without properties (Snappy).
    Codec, statistics and dictionary settings cost about the same (0.50-0.54 s of CPU per million
    bronze rows), so they stay as they were.
    """
    from deltalake import WriterProperties

    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="SNAPPY")


def create_only(commit_metadata: dict[str, str] | None = None):
    """Commit properties of a create: no delta-rs internal retry (see :meth:`Lakehouse._open_or_create`)."""
    from deltalake.transaction import CommitProperties

    return CommitProperties(max_commit_retries=0, custom_metadata=commit_metadata)


#: Rows to write: a table, or a function that opens a ``pyarrow.RecordBatchReader`` (called once per attempt).
Rows = Callable[[], pa.RecordBatchReader]


class Counted:
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
            self.data = plain_types(self._source if schema is None else conform_table(self._source, schema))
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

    def conformed(self, schema: pa.Schema) -> "Counted":
        """The same rows with ``schema``'s columns (those missing written as nulls)."""
        return Counted(None, schema, self._source)


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


def filter_columns(filters) -> set[str]:
    """Column names a DNF filter list (``[(col, op, value), ...]`` or a list of such lists) uses."""
    groups = filters if filters and isinstance(filters[0], list) else [filters]
    return {name for group in groups for name, _, _ in group}


def conform_table(data: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.table({n: data[n] if n in data.column_names else pa.nulls(data.num_rows, schema.field(n).type)
                     for n in schema.names})


def same_columns(table, data: pa.Table) -> bool:
    """Whether ``data`` has the table's columns, names and Delta types, in order."""
    import json

    from deltalake import Schema as DeltaSchema

    def cols(schema) -> list:
        return [(f["name"], f["type"]) for f in json.loads(schema.to_json())["fields"]]

    try:
        return cols(table.schema()) == cols(DeltaSchema.from_arrow(data.schema))
    except Exception:  # noqa: BLE001 - a type Delta cannot hold: let the plain overwrite report it
        return False


def create_table(uri: str, data, *, partition_by: list[str] | None, storage_options: dict | None,
                 commit_metadata: dict[str, str] | None = None):
    """Create the Delta table at ``uri`` from ``data`` as version 0 and return it.

    The create is conflict-checked (``mode="error"``, and no delta-rs internal retry: otherwise a create that
    lost version 0 is re-committed as version 1, 2... beside the winner's, replacing its schema and skipping
    the predicate or merge; measured 42 of 45 rounds of 5 racing writers). A rival that created the table
    first makes it fail, and the retry writes into the rival's table, so neither writer's rows are lost.
    """
    from deltalake import DeltaTable, write_deltalake

    write_deltalake(uri, data, mode="error", partition_by=partition_by, storage_options=storage_options,
                    writer_properties=writer_properties(), commit_properties=create_only(commit_metadata))
    return DeltaTable(uri, version=0, storage_options=storage_options)


def evolved(table, data: Counted) -> Counted:
    """``data`` conformed to ``table`` after adding the columns of ``data`` that the table lacks (their own
    commit); columns ``data`` lacks are filled with nulls. The caller reads the schema on every attempt, so a
    rival adding the same column at the same time makes this attempt retry, and the next sees it present."""
    from deltalake import Schema as DeltaSchema

    current = pa.schema(table.schema().to_arrow())
    new = [f.with_nullable(True) for f in data.schema if f.name not in current.names]
    if new:
        table.alter.add_columns(DeltaSchema.from_arrow(pa.schema(new)).fields)
        current = pa.schema(table.schema().to_arrow())
    return data.conformed(current)
