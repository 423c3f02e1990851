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

How writers that meet stay correct is in docs/architecture.md ("Writers that meet").

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
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
from pydantic import Field

from jobs.delta import CommitConflictError, CommitRetry, is_commit_conflict
from jobs.delta_io import (Counted, Rows, create_table, evolved, filter_columns, plain_types, same_columns,
                           writer_properties)
from jobs.sql import in_list, sql_identifier, sql_literal

__all__ = ["LAYERS", "CommitConflictError", "CommitRetry", "Lakehouse", "LocalLakehouse", "ObjectStoreLakehouse",
           "WriteResult", "in_list", "is_commit_conflict", "sql_identifier", "sql_literal"]

LAYERS = ("bronze", "silver", "gold", "quarantine", "reference", "truth", "control")


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
            names = sorted(set(columns or pa.schema(table.schema().to_arrow()).names) | filter_columns(filters))
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
            rows = Counted(data)
            table = self._open_or_create(layer, name, rows.data, partition_by)
            if table is not None:
                return table, rows.count
            table, rows = self._evolve(layer, name, rows, evolve_schema)
            if rows.maybe_rows:
                write_deltalake(table, rows.data, mode="append", storage_options=self.storage_options(),
                                writer_properties=writer_properties())
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
            rows = Counted(data)
            table = self._open_or_create(layer, name, rows.data, partition_by)
            if table is not None:
                return table, rows.count
            table, rows = self._evolve(layer, name, rows, evolve_schema)
            if rows.maybe_rows:
                write_deltalake(table, rows.data, mode="overwrite", predicate=predicate,
                                writer_properties=writer_properties(),
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

    def overwrite(self, layer: str, name: str, data: pa.Table, *, partition_by: list[str] | None = None,
                  commit_metadata: dict[str, str] | None = None) -> WriteResult:
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

        ``commit_metadata`` goes into the commit info of the commit that writes
        the rows, atomically with them (what they were built with); read it
        back with :meth:`written_with`.
        """
        from deltalake import CommitProperties, write_deltalake

        data = plain_types(data)
        props = CommitProperties(custom_metadata=commit_metadata) if commit_metadata else None

        def attempt():
            table = self._open_or_create(layer, name, data, partition_by, commit_metadata)
            if table is not None:
                return table, data.num_rows
            table = self.table(layer, name)
            if same_columns(table, data):
                write_deltalake(table, data, mode="overwrite", predicate="TRUE",
                                storage_options=self.storage_options(), commit_properties=props)
            else:
                write_deltalake(table, data, mode="overwrite", schema_mode="overwrite", partition_by=partition_by,
                                storage_options=self.storage_options(), commit_properties=props)
            return table, data.num_rows

        return self._commit(layer, name, "overwrite", attempt)

    def written_with(self, layer: str, name: str, key: str, version: int | None = None) -> str | None:
        """The value of ``key`` in the commit info of the last commit that wrote the table's rows.

        Looks back from ``version`` (default: the latest) past commits that change
        no row (compaction, vacuum, table properties); ``None`` when the commit
        that last wrote rows did not carry ``key`` (a writer that stored nothing).
        """
        from orchestration.lakehouse.freshness import SAME_ROWS

        table = self.table(layer, name)
        latest = table.version() if version is None else version
        for commit in table.history():  # newest first; history() lists every commit whatever the snapshot
            if commit.get("version", latest) > latest:
                continue
            if key in commit:
                return str(commit[key])
            if commit.get("operation") not in SAME_ROWS:
                return None
        return None

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

    def _open_or_create(self, layer: str, name: str, data: pa.Table, partition_by: list[str] | None,
                        commit_metadata: dict[str, str] | None = None):
        """Create the table from ``data`` as version 0 when absent and return it; ``None`` when it exists
        (:func:`jobs.delta_io.create_table`: a conflict-checked create)."""
        if self.exists(layer, name):
            return None
        return create_table(self.uri(layer, name), data, partition_by=partition_by,
                            storage_options=self.storage_options(), commit_metadata=commit_metadata)

    def _evolve(self, layer: str, name: str, data: "Counted", evolve_schema: bool):
        """The table (fresh snapshot) and ``data`` to write into it (:func:`jobs.delta_io.evolved`)."""
        table = self.table(layer, name)
        return (table, evolved(table, data)) if evolve_schema else (table, data)


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
