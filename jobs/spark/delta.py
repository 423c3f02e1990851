"""Delta Lake from Spark without Delta's jars: read a snapshot's file list, commit task-written files.

Spark's own ``read.parquet`` on a Delta folder would also return files that
later commits removed (DESIGN.md measured 468,706 rows for a 250,995-row table),
so :func:`read_delta` reads exactly the files of the current snapshot
(``DeltaTable.file_uris()``). Tasks write Parquet files under the table folder
(:func:`write_task_files`) and the driver commits them all as one Delta
transaction (:func:`commit_files`, delta-rs ``create_write_transaction`` /
``create_table_with_add_actions``): readers see all of a run's files or none.
"""

from __future__ import annotations

import json
import time
import uuid

import pyarrow as pa

FILES_SCHEMA = pa.schema([("path", pa.string()), ("size", pa.int64()), ("rows", pa.int64())])


def snapshot_files(uri: str, storage_options: dict | None = None) -> list[str]:
    """URIs of the data files of a Delta table's current snapshot."""
    from deltalake import DeltaTable

    dt = DeltaTable(uri, storage_options=storage_options)
    if dt.metadata().partition_columns:
        raise ValueError(f"{uri} is partitioned by {dt.metadata().partition_columns}; partition values are not in "
                         f"its files, so read it with deltalake (embedded mode) instead")
    return dt.file_uris()


def read_delta(spark, uri: str, *, columns: list[str] | None = None, storage_options: dict | None = None):
    """A Spark DataFrame of a Delta table's current snapshot (its file list, never the folder)."""
    files = snapshot_files(uri, storage_options)
    if not files:
        from deltalake import DeltaTable
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = pa.schema(DeltaTable(uri, storage_options=storage_options).schema().to_arrow())
        df = spark.createDataFrame([], from_arrow_schema(schema))
    else:
        df = spark.read.parquet(*files)
    return df.select(*columns) if columns else df


def write_task_files(batches, *, uri: str, schema: pa.Schema, storage_options: dict | None = None):
    """``mapInArrow`` body: write a task's rows as one Parquet file under ``uri``; yield its path, size and rows."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    tables = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
    if not tables:
        return
    table = pa.concat_tables(tables).select(schema.names).cast(schema)
    name = f"part-{uuid.uuid4().hex}.parquet"
    fs, root = pafs.FileSystem.from_uri(uri)
    fs.create_dir(root, recursive=True)
    pq.write_table(table, f"{root}/{name}", filesystem=fs)
    size = fs.get_file_info(f"{root}/{name}").size
    yield pa.RecordBatch.from_pylist([{"path": name, "size": size, "rows": table.num_rows}], schema=FILES_SCHEMA)


def commit_files(uri: str, files: list[dict], schema: pa.Schema, *, storage_options: dict | None = None) -> int:
    """Replace the table's contents with ``files`` (relative paths) in one Delta commit; return the version."""
    from deltalake import DeltaTable
    from deltalake import Schema as DeltaSchema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    now = int(time.time() * 1000)
    adds = [AddAction(path=f["path"], size=int(f["size"]), partition_values={}, modification_time=now,
                      data_change=True, stats=json.dumps({"numRecords": int(f["rows"])})) for f in files]
    if DeltaTable.is_deltatable(uri, storage_options=storage_options):
        dt = DeltaTable(uri, storage_options=storage_options)
        dt.create_write_transaction(adds, mode="overwrite", schema=schema)
    else:
        create_table_with_add_actions(uri, DeltaSchema.from_arrow(schema), adds, mode="overwrite", storage_options=storage_options)
    return DeltaTable(uri, storage_options=storage_options).version()
