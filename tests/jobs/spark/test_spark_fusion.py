"""Spark mode gives the embedded rows: local[2], and a real standalone cluster on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from jobs.fusion.context import (default_metric_crs, incident_context, nearby_candidates, tower_candidates)
from jobs.fusion.events import build_events, cell_locations
from jobs.spark.delta import commit_files, read_delta, snapshot_files
from jobs.spark.fusion import partition_resolution, spark_events, spark_incident_context

pytestmark = pytest.mark.slow
KEYS = [("incident_id", "ascending"), ("relation", "ascending"), ("record_id", "ascending")]


@pytest.fixture(scope="module")
def lake(small_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("sparklake")
    w = dict(small_world)
    w["incidents"] = w["incidents"].slice(0, 300)
    for name in ("incidents", "cdr_events", "transactions", "cell_sites"):
        write_deltalake(str(root / name), w[name], mode="overwrite")
    # a second commit that removes files: a plain-Parquet read of the folder would double the rows
    write_deltalake(str(root / "transactions"), w["transactions"], mode="overwrite")
    return root, w


def _embedded(w, sd):
    ev = build_events({"incidents": w["incidents"], "cdr_events": w["cdr_events"], "transactions": w["transactions"]},
                      ctx=sd, cell_sites=w["cell_sites"])
    ctx = incident_context(w["incidents"], tower=tower_candidates(w["cdr_events"], w["cell_sites"]),
                           nearby=nearby_candidates(transactions=w["transactions"]), cell_sites=w["cell_sites"], ctx=sd,
                           metric_crs=default_metric_crs(w["incidents"]))
    return ev, ctx


def _run_spark(spark, root: Path, w, out: Path, sd):
    spark_events(spark, {o: str(root / o) for o in ("incidents", "cdr_events", "transactions")}, str(out / "events"),
                 cells=cell_locations(w["cell_sites"], boundaries=None, ctx=sd), partitions=3)
    spark_incident_context(spark, w["incidents"], str(out / "ctx"), cdr_uri=str(root / "cdr_events"),
                           cell_sites=w["cell_sites"], transactions_uri=str(root / "transactions"),
                           metric_crs=default_metric_crs(w["incidents"]), partitions=3)
    return DeltaTable(str(out / "events")).to_pyarrow_table(), DeltaTable(str(out / "ctx")).to_pyarrow_table()


def _same(spark_ev, spark_ctx, ev, ctx):
    assert spark_ev.num_rows == ev.num_rows > 0
    assert spark_ev.sort_by("event_id").equals(ev.sort_by("event_id"))
    assert spark_ctx.num_rows == ctx.num_rows > 0
    assert spark_ctx.sort_by(KEYS).equals(ctx.sort_by(KEYS))


@pytest.fixture(scope="module")
def local_spark():
    from orchestration.resources.compute import spark_session

    spark = spark_session("local[2]", partitions=3)
    yield spark
    spark.stop()


def test_reads_snapshot_files_not_the_folder(lake, local_spark):
    root, w = lake
    assert local_spark.read.parquet(str(root / "transactions")).count() == 2 * w["transactions"].num_rows
    assert read_delta(local_spark, str(root / "transactions")).count() == w["transactions"].num_rows
    assert len(snapshot_files(str(root / "transactions"))) == 1


def test_local_mode_rows_equal_embedded(lake, local_spark, sd, tmp_path):
    root, w = lake
    _same(*_run_spark(local_spark, root, w, tmp_path, sd), *_embedded(w, sd))
    assert DeltaTable(str(tmp_path / "ctx")).version() == 0  # one commit for all the tasks' files
    # a re-run replaces the rows in one more commit
    spark_incident_context(local_spark, w["incidents"], str(tmp_path / "ctx"), cdr_uri=str(root / "cdr_events"),
                           cell_sites=w["cell_sites"], metric_crs=default_metric_crs(w["incidents"]), partitions=3)
    again = DeltaTable(str(tmp_path / "ctx"))
    assert again.version() == 1
    assert set(again.to_pyarrow_table()["relation"].to_pylist()) == {"tower_dump"}


def test_commit_files_is_one_transaction(tmp_path):
    import pyarrow.parquet as pq

    schema = pa.schema([("a", pa.int64())])
    uri = tmp_path / "t"
    uri.mkdir()
    files = []
    for i in range(3):
        pq.write_table(pa.table({"a": [i, i]}, schema=schema), uri / f"part-{i}.parquet")
        files.append({"path": f"part-{i}.parquet", "size": (uri / f"part-{i}.parquet").stat().st_size, "rows": 2})
    assert commit_files(str(uri), files, schema) == 0
    assert sorted(DeltaTable(str(uri)).to_pyarrow_table()["a"].to_pylist()) == [0, 0, 1, 1, 2, 2]


def test_partition_resolution_covers_the_reach():
    import h3

    res = partition_resolution(1305.0)
    assert 0.8 * h3.average_hexagon_edge_length(res, unit="m") >= 1305.0
    assert 0.8 * h3.average_hexagon_edge_length(res + 1, unit="m") < 1305.0
    with pytest.raises(ValueError, match="reach"):
        partition_resolution(1e9)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 90.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def standalone_cluster(tmp_path):
    """A Spark master and two workers on 127.0.0.1 (pyspark's own spark-class), stopped afterwards."""
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(tmp_path), "SPARK_WORKER_DIR": str(tmp_path / "work"),
           "SPARK_DAEMON_JAVA_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    port = _free_port()
    cls = str(home / "bin" / "spark-class")
    procs = []

    def start(*args):
        log = open(tmp_path / f"daemon{len(procs)}.log", "w")
        procs.append(subprocess.Popen([cls, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    try:
        start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0")
        _wait_port(port)
        for _ in range(2):
            start("org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                  "--cores", "1", "--memory", "1g", "--webui-port", "0")
        yield f"spark://127.0.0.1:{port}", procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def test_standalone_cluster_rows_equal_embedded(lake, sd, tmp_path, standalone_cluster):
    from pyspark.sql import SparkSession

    from orchestration.resources.compute import spark_session

    master, procs = standalone_cluster
    active = SparkSession.getActiveSession()
    if active is not None:  # the local[2] session of the module fixture may still be alive
        active.stop()
    root, w = lake
    spark = spark_session(master, partitions=3)
    try:
        assert spark.sparkContext.master == master
        out = _run_spark(spark, root, w, tmp_path, sd)
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    finally:
        spark.stop()
    _same(*out, *_embedded(w, sd))
    assert executors >= 2  # the driver plus at least one worker's executor
    assert all(p.poll() is None for p in procs)  # daemons up until the fixture stops them
