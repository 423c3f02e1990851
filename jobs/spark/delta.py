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
    elif "://" not in uri or uri.startswith("file://"):
        df = spark.read.parquet(*files)
    else:
        # Object storage: Spark's own readers need the hadoop-aws jars (Maven only), so each task
        # reads its files with pyarrow's S3 client, configured from the lake's storage options.
        from deltalake import DeltaTable
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = pa.schema(DeltaTable(uri, storage_options=storage_options).schema().to_arrow())
        options = dict(storage_options or {})

        def read(batches):
            import pyarrow.parquet as pq

            for b in batches:
                for path in b.column(0).to_pylist():
                    fs, p = filesystem(path, options)
                    yield from pq.read_table(p, filesystem=fs).select(schema.names).cast(schema).to_batches()

        paths = spark.createDataFrame([(f,) for f in files], "path string").repartition(len(files))
        df = paths.mapInArrow(read, from_arrow_schema(schema))
    return df.select(*columns) if columns else df


def filesystem(uri: str, storage_options: dict | None = None):
    """``(pyarrow FileSystem, path)`` of ``uri``; ``s3://`` takes the lake's storage options
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``,
    ``AWS_ALLOW_HTTP``), so tasks reach the same S3-compatible server as the driver."""
    import pyarrow.fs as pafs

    so = storage_options or {}
    if uri.startswith("s3://") and so:
        fs = pafs.S3FileSystem(
            access_key=so.get("AWS_ACCESS_KEY_ID"), secret_key=so.get("AWS_SECRET_ACCESS_KEY"),
            region=so.get("AWS_REGION", "us-east-1"), endpoint_override=so.get("AWS_ENDPOINT_URL"),
            scheme="http" if str(so.get("AWS_ALLOW_HTTP", "")).lower() == "true" else "https",
        )
        return fs, uri[len("s3://"):]
    return pafs.FileSystem.from_uri(uri)


def write_task_files(batches, *, uri: str, schema: pa.Schema, storage_options: dict | None = None):
    """``mapInArrow`` body: write a task's rows as one Parquet file under ``uri``; yield its path, size and rows."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    tables = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
    if not tables:
        return
    table = pa.concat_tables(tables).select(schema.names).cast(schema)
    name = f"part-{uuid.uuid4().hex}.parquet"
    fs, root = filesystem(uri, storage_options)
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
