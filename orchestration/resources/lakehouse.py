"""The lakehouse: Delta Lake tables (delta-rs) under one root, local or S3-compatible.

Tables live at ``<root>/<layer>/<name>`` with the layers of DESIGN.md:
``bronze`` (``raw_<source>``), ``silver``, ``gold``, ``quarantine``
(``<table>_rejects``), ``reference`` and ``truth``. Every write is idempotent:

- :meth:`Lakehouse.merge` upserts on key columns (re-materialising updates rows,
  never duplicates them);
- :meth:`Lakehouse.replace_where` atomically replaces the rows matching a
  predicate (one ingest, one partition, one source) in a single commit;
- :meth:`Lakehouse.overwrite` replaces a whole table.

Each returns a :class:`WriteResult` with the Delta version it committed, which
assets record in their Dagster metadata, so a forecast can name the exact table
versions it read (time travel).

Two implementations share the resource key ``lakehouse``: :class:`LocalLakehouse`
(a folder) and :class:`ObjectStoreLakehouse` (S3-compatible storage, e.g. MinIO),
chosen by ``CRIMEFUSION_DEPLOYMENT`` when the definitions load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
from pydantic import Field

LAYERS = ("bronze", "silver", "gold", "quarantine", "reference", "truth")


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

    # -- where ----------------------------------------------------------------
    def storage_options(self) -> dict[str, str] | None:
        return None

    def root_uri(self) -> str:
        return self.root.rstrip("/")

    def uri(self, layer: str, name: str) -> str:
        if layer not in LAYERS:
            raise ValueError(f"unknown lakehouse layer {layer!r}; layers are {', '.join(LAYERS)}")
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
        return self.table(layer, name, version).to_pyarrow_table(columns=columns, filters=filters)

    def version(self, layer: str, name: str) -> int | None:
        return self.table(layer, name).version() if self.exists(layer, name) else None

    def count(self, layer: str, name: str) -> int:
        return self.table(layer, name).count() if self.exists(layer, name) else 0

    # -- write ----------------------------------------------------------------
    def overwrite(self, layer: str, name: str, data: pa.Table, *, partition_by: list[str] | None = None) -> WriteResult:
        from deltalake import write_deltalake

        uri = self.uri(layer, name)
        write_deltalake(uri, data, mode="overwrite", schema_mode="overwrite", partition_by=partition_by,
                        storage_options=self.storage_options())
        return self.describe(layer, name, data.num_rows)

    def replace_where(self, layer: str, name: str, data: pa.Table, predicate: str, *,
                      partition_by: list[str] | None = None, evolve_schema: bool = False) -> WriteResult:
        """Atomically replace the rows matching ``predicate`` with ``data`` (one commit).

        Rows of ``data`` must all satisfy the predicate (delta-rs checks this).
        With ``evolve_schema`` new columns of ``data`` are added to the table
        (bronze keeps every column a source ever sent); otherwise a schema
        mismatch is an error.
        """
        from deltalake import write_deltalake

        uri = self.uri(layer, name)
        so = self.storage_options()
        if not self.exists(layer, name):
            write_deltalake(uri, data, mode="overwrite", partition_by=partition_by, storage_options=so)
        elif data.num_rows == 0:
            self.table(layer, name).delete(predicate)
        else:
            if evolve_schema:
                from deltalake import Field as DeltaField

                current = pa.schema(self.table(layer, name).schema().to_arrow())
                new = [f for f in data.schema if f.name not in current.names]
                if new:  # add the columns first, then replace rows under the widened schema
                    self.table(layer, name).alter.add_columns([DeltaField(f.name, "string", nullable=True) for f in new])
                    current = pa.schema(self.table(layer, name).schema().to_arrow())
                data = pa.table({n: data[n] if n in data.column_names else pa.nulls(data.num_rows, current.field(n).type)
                                 for n in current.names})
            write_deltalake(uri, data, mode="overwrite", predicate=predicate, storage_options=so)
        return self.describe(layer, name, data.num_rows)

    def merge(self, layer: str, name: str, data: pa.Table, keys: list[str], *,
              partition_by: list[str] | None = None) -> WriteResult:
        """Upsert ``data`` on ``keys``: matched rows are updated, new rows inserted."""
        from deltalake import write_deltalake

        uri = self.uri(layer, name)
        if not self.exists(layer, name):
            write_deltalake(uri, data, mode="overwrite", partition_by=partition_by,
                            storage_options=self.storage_options())
        elif data.num_rows:
            predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
            (
                self.table(layer, name)
                .merge(data, predicate=predicate, source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        return self.describe(layer, name, data.num_rows)

    def delete(self, layer: str, name: str, predicate: str) -> None:
        if self.exists(layer, name):
            self.table(layer, name).delete(predicate)

    def describe(self, layer: str, name: str, written: int = 0) -> WriteResult:
        """The current version and size of a table, as a :class:`WriteResult`."""
        t = self.table(layer, name)
        return WriteResult(uri=self.uri(layer, name), version=t.version(), rows_written=written, rows_total=t.count())


class LocalLakehouse(Lakehouse):
    """The lakehouse in a local folder (default ``./lake``)."""

    def root_uri(self) -> str:
        return str(Path(self.root).expanduser().resolve())


class ObjectStoreLakehouse(Lakehouse):
    """The lakehouse in S3-compatible object storage (AWS S3, MinIO, Ceph).

    Credentials come from the environment (``dg.EnvVar``), never from files.
    """

    endpoint_url: str | None = Field(default=None, description="S3 endpoint, e.g. http://minio:9000")
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False

    def storage_options(self) -> dict[str, str]:
        opts = {"AWS_REGION": self.region, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        if self.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.access_key_id:
            opts["AWS_ACCESS_KEY_ID"] = self.access_key_id
        if self.secret_access_key:
            opts["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        if self.allow_http:
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts
