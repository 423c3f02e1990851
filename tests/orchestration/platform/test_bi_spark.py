"""The Spark SQL recipe of docs/operations.md: temporary views over the Delta tables of a small lake."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration.platform.bi_spark import read_table, register_views, view_name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    from orchestration.resources.compute import spark_session

    session = spark_session("local[1]", app_name="crimefusion-bi", partitions=2)
    yield session
    session.stop()


def counts(days, districts, incidents) -> pa.Table:
    return pa.table({"source": ["s"] * len(days), "district": districts, "category": ["burglary"] * len(days),
                     "day": pa.array(days, pa.date32()), "incidents": pa.array(incidents, pa.int64())})


@pytest.fixture
def small_lake(lake):
    jan = [dt.date(2020, 1, 1), dt.date(2020, 1, 31), dt.date(2020, 1, 5)]
    lake.overwrite("gold", "district_daily_counts", counts(jan, ["1", "1", "2"], [3, 3, 1]))
    # a second commit replaces every file: the folder now holds the removed files too
    lake.overwrite("gold", "district_daily_counts", counts([*jan, dt.date(2020, 2, 1)], ["1", "1", "2", "2"],
                                                           [3, 3, 1, 4]))
    lake.overwrite("gold", "entity_scores", pa.table({
        "entity": ["a", "b", "c"], "score": [0.9, 0.2, 0.5],
        "as_of_date": pa.array([dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 2)], pa.date32())}),
        partition_by=["as_of_date"])
    lake.overwrite("silver", "incidents", pa.table({"incident_id": ["x"], "district": ["1"]}))
    return lake


def test_spark_sql_reads_the_current_snapshot(spark, small_lake):
    views = register_views(spark, small_lake, layers=("gold",))
    assert [(v.view, v.table, v.version) for v in views] == [
        ("gold_district_daily_counts", "gold/district_daily_counts", 1), ("gold_entity_scores", "gold/entity_scores", 0)]
    rows = spark.sql("""
        SELECT district, date_trunc('month', day) AS month, sum(incidents) AS incidents
        FROM gold_district_daily_counts GROUP BY district, date_trunc('month', day) ORDER BY district, month
    """).collect()
    assert [(r.district, r.month.date(), r.incidents) for r in rows] == [
        ("1", dt.date(2020, 1, 1), 6), ("2", dt.date(2020, 1, 1), 1), ("2", dt.date(2020, 2, 1), 4)]
    # the folder read as plain Parquet would count the removed files of version 0 as well
    folder = spark.read.parquet(small_lake.uri("gold", "district_daily_counts")).count()
    assert folder == 7 and spark.table("gold_district_daily_counts").count() == 4
    assert not spark.catalog.tableExists("silver_incidents")  # only the layers asked for


def test_partition_columns_come_back_with_their_delta_type(spark, small_lake):
    df = read_table(spark, small_lake, "gold", "entity_scores")
    assert df.columns == ["entity", "score", "as_of_date"]
    assert dict(df.dtypes)["as_of_date"] == "date"
    got = sorted((r.entity, r.as_of_date) for r in df.collect())
    assert got == [("a", dt.date(2020, 1, 1)), ("b", dt.date(2020, 1, 1)), ("c", dt.date(2020, 1, 2))]


def test_a_view_shows_the_version_it_was_registered_at(spark, small_lake):
    register_views(spark, small_lake, layers=("silver",))
    small_lake.overwrite("silver", "incidents", pa.table({"incident_id": ["x", "y"], "district": ["1", "2"]}))
    assert spark.table(view_name("silver", "incidents")).count() == 1
    (view,) = register_views(spark, small_lake, layers=("silver",))
    assert view.version == 1 and spark.table(view.view).count() == 2


def test_a_missing_table_is_named(spark, lake):
    with pytest.raises(FileNotFoundError, match="gold/nothing_here"):
        read_table(spark, lake, "gold", "nothing_here")
