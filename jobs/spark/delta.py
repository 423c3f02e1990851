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

from jobs.delta import CommitRetry
from jobs.spark.arrow import spark_schema

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
        schema = pa.schema(DeltaTable(uri, storage_options=storage_options).schema().to_arrow())
        df = spark.createDataFrame([], spark_schema(schema))
    elif "://" not in uri or uri.startswith("file://"):
        df = spark.read.parquet(*files)
    else:
        # Object storage: Spark's own readers need the hadoop-aws jars (Maven only), so each task
        # reads its files with pyarrow's S3 client, configured from the lake's storage options.
        from deltalake import DeltaTable
        schema = pa.schema(DeltaTable(uri, storage_options=storage_options).schema().to_arrow())
        options = dict(storage_options or {})

        def read(batches):
            import pyarrow.parquet as pq

            for b in batches:
                for path in b.column(0).to_pylist():
                    fs, p = filesystem(path, options)
                    yield from pq.read_table(p, filesystem=fs).select(schema.names).cast(schema).to_batches()

        paths = spark.createDataFrame([(f,) for f in files], "path string").repartition(len(files))
        df = paths.mapInArrow(read, spark_schema(schema))
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


def commit_files(uri: str, files: list[dict], schema: pa.Schema, *, storage_options: dict | None = None,
                 mode: str = "overwrite", retry: CommitRetry | None = None,
                 custom_metadata: dict[str, str] | None = None) -> int:
    """Commit task-written ``files`` (relative paths) as one Delta transaction; return the version it committed.

    ``mode="overwrite"`` replaces the table's contents: only for a table one
    asset fully owns (the gold tables Spark mode writes are full refreshes).
    ``mode="append"`` adds the files (a receipt); appends never conflict.

    Safe when writers meet (DESIGN.md): a missing table is created by a
    conflict-checked commit of version 0, so a rival creating it at the same
    time makes this commit retry into the rival's table instead of replacing it;
    a commit that loses a race is retried from a fresh snapshot with ``retry``'s
    backoff (:class:`jobs.delta.CommitRetry`). A delta-rs overwrite removes
    only the files of the snapshot it read, so after an overwrite the version
    it committed is checked: files a rival committed in between are removed by
    one more commit (two owners racing end with the later one's whole result,
    never a mix), and that version is returned. ``custom_metadata`` goes into
    the commit info of each of these commits (e.g. the parameters the rows
    were built with).
    """
    from deltalake import DeltaTable
    from deltalake import Schema as DeltaSchema
    from deltalake.transaction import AddAction, CommitProperties, RemoveAction, create_table_with_add_actions

    if mode not in ("overwrite", "append"):
        raise ValueError(f"commit mode must be 'overwrite' or 'append', got {mode!r}")
    now = int(time.time() * 1000)
    adds = [AddAction(path=f["path"], size=int(f["size"]), partition_values={}, modification_time=now,
                      data_change=True, stats=json.dumps({"numRecords": int(f["rows"])})) for f in files]
    ours = {f["path"] for f in files}
    state: dict[str, int] = {}

    def commit(actions: list, how: str) -> int:
        token = uuid.uuid4().hex
        props = CommitProperties(custom_metadata={**(custom_metadata or {}), COMMIT_TOKEN: token})
        DeltaTable(uri, storage_options=storage_options).create_write_transaction(
            actions, mode=how, schema=schema, commit_properties=props)
        return committed_version(uri, token, storage_options=storage_options)

    def attempt() -> int:
        if "version" not in state:  # our files, once (a retry after this point only tidies up)
            if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
                # no internal retry: delta-rs would re-commit a lost create as version 1, 2... beside the
                # winner's (measured); failing makes the next attempt write into the winner's table
                create_table_with_add_actions(uri, DeltaSchema.from_arrow(schema), adds, mode="error",
                                              storage_options=storage_options,
                                              commit_properties=CommitProperties(
                                                  max_commit_retries=0, custom_metadata=custom_metadata))
                state["version"] = 0
            else:
                state["version"] = commit(adds, mode)
        if mode == "overwrite":
            # files a rival committed before us but after our snapshot survive a delta-rs overwrite:
            # remove the ones still there, so the table is exactly this (later) writer's files
            kept = set(live_files(uri, state["version"], storage_options=storage_options)) - ours
            if kept:
                sizes = live_files(uri, storage_options=storage_options)
                removes = [RemoveAction(path=f, data_change=True, deletion_timestamp=int(time.time() * 1000),
                                        size=sizes[f]) for f in sorted(kept) if f in sizes]
                if removes:
                    state["version"] = commit(removes, "append")
        return state["version"]

    return (retry or CommitRetry()).run(attempt, table=uri, operation=f"Spark commit ({mode})")


def live_files(uri: str, version: int | None = None, *, storage_options: dict | None = None) -> dict[str, int]:
    """``{relative path: size}`` of the data files of a table's snapshot (latest, or ``version``)."""
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(uri, version=version, storage_options=storage_options).get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()))


#: Commit-info key that lets a writer find the version its own commit got.
COMMIT_TOKEN = "crimefusion.commit"


def committed_version(uri: str, token: str, *, storage_options: dict | None = None, look_back: int = 100) -> int:
    """The version whose commit info carries ``token`` (among the last ``look_back`` commits).

    Read from the log files themselves: ``DeltaTable.history()`` numbered
    entries wrongly while other writers were committing (measured: a commit
    made as version 1 reported as 0).
    """
    from deltalake import DeltaTable

    latest = DeltaTable(uri, storage_options=storage_options).version()
    fs, root = filesystem(uri, storage_options)
    for version in range(latest, max(-1, latest - look_back), -1):
        with fs.open_input_stream(f"{root.rstrip('/')}/_delta_log/{version:020d}.json") as f:
            text = f.read().decode()
        if token not in text:
            continue
        for line in text.splitlines():
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info and info.get(COMMIT_TOKEN) == token:
                return version
    raise RuntimeError(f"{uri}: this writer's commit ({COMMIT_TOKEN}={token}) is not among the last {look_back} "
                       f"commits; more than {look_back} writers committed meanwhile")
