"""Spark mode gives the embedded rows: local[2], and a real standalone cluster on 127.0.0.1."""

from __future__ import annotations

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


def test_local_mode_entities_and_links_equal_embedded(lake, local_spark, sd, tmp_path):
    from jobs.fusion.entities import entities, entity_links
    from jobs.spark.entities import spark_entities, spark_entity_links

    root, w = lake
    ev, ctx = _embedded(w, sd)
    links = entity_links(cdr=w["cdr_events"], transactions=w["transactions"], context=ctx)
    spark_links = spark_entity_links(local_spark, str(root / "cdr_events"), transactions=w["transactions"],
                                     context=ctx, partitions=3)
    assert spark_links.num_rows == links.num_rows > 0
    assert spark_links.equals(links)
    assert {"called", "uses", "same-as", "transacted-with", "seen-near"} <= set(links["link_type"].to_pylist())
    write_deltalake(str(tmp_path / "events"), ev)
    # 0.5 keeps the phones' shared-handset same-as links (0.6), so clusters are not all singletons
    embedded = entities(ev, links, same_as_threshold=0.5)
    spark = spark_entities(local_spark, str(tmp_path / "events"), links, same_as_threshold=0.5, partitions=3)
    assert spark.num_rows == embedded.num_rows > 0
    assert spark.equals(embedded)
    assert pc.sum(pc.not_equal(embedded["cluster_id"], embedded["entity_id"])).as_py() > 0
    with pytest.raises(ValueError, match="partitions"):
        spark_entities(local_spark, str(tmp_path / "events"), links, partitions=0)


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


@pytest.fixture
def standalone_cluster(tmp_path):
    """A Spark master and two workers on 127.0.0.1 (pyspark's own spark-class), stopped afterwards."""
    from tests.spark_standalone import standalone_cluster as cluster

    with cluster(tmp_path, workers=2) as (master, procs):
        yield master, procs


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
