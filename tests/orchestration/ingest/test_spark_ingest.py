"""Ingestion's parse in Spark tasks (``engine: spark``) gives the embedded engine's silver and quarantine, row for row.

The scenario of ``test_incremental.py`` (duplicate ids within one receipt and
across receipts, a newer receipt superseding, a late file, a corrected
re-delivery, a withdrawn day, a night with nothing new) is landed in two lakes;
one is refined on the embedded engine, the other with its parse in Spark tasks
(``local[2]``), incrementally day after day and then in full. A study-area feed
checks the spatial rules inside the tasks (SedonaDB per task).
"""

from __future__ import annotations


import pytest

from jobs.ingest.spec import load_spec
from orchestration.ingest import receipts
from orchestration.ingest.parsed import StreamedParse
from orchestration.ingest.pipeline import bronze_table, refine, rejects_table
from orchestration.ingest.spark_parse import SparkParse
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from tests.helpers import data_path
from tests.orchestration.ingest.test_incremental import (CONTENT_SPEC, DAYS, ID_SPEC, KEY, NOW, land_day, lake_rows,
                                                         row)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark_compute():
    compute = Compute(engine="spark", spark_master="local[2]", spark_partitions=3)
    yield compute
    if compute._spark is not None:
        compute._spark.stop()


def _same(a: LocalLakehouse, b: LocalLakehouse, spec, when: str) -> None:
    for layer, name in (("silver", "incidents"), ("quarantine", rejects_table(spec))):
        assert lake_rows(a, layer, name) == lake_rows(b, layer, name), f"{when}: {layer}/{name}"


@pytest.mark.parametrize("spec_text,batch_rows", [(ID_SPEC, 65536), (CONTENT_SPEC, 2)],
                         ids=["id_column", "content_ids_small_batches"])
def test_spark_refine_equals_embedded_day_after_day(tmp_path, spark_compute, monkeypatch, spec_text, batch_rows):
    import jobs.spark.ingest

    # two rows per parse_records call inside a task: the ParseState carries ids across a task's batches
    monkeypatch.setattr(jobs.spark.ingest, "TASK_BATCH_ROWS", batch_rows)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec_text)
    spec = load_spec(spec_path)
    embedded, spark = LocalLakehouse(root=str(tmp_path / "embedded")), LocalLakehouse(root=str(tmp_path / "spark"))
    ctx = Compute().sedona()
    said: list[str] = []
    for k, (date, files) in enumerate(DAYS):
        for lake, name in ((embedded, "embedded"), (spark, "spark")):
            land_day(lake, spec, tmp_path / f"landing-{name}", k, date, files)
        said.clear()
        ours = refine(spark, spec, ctx=ctx, now=NOW, pseudonym_key=KEY, compute=spark_compute, log=said.append)
        theirs = refine(embedded, spec, ctx=ctx, now=NOW, pseudonym_key=KEY)
        assert (ours.rows_in, ours.accepted, ours.quarantined, ours.rejects_by_rule, ours.ingest_ids) == \
            (theirs.rows_in, theirs.accepted, theirs.quarantined, theirs.rejects_by_rule, theirs.ingest_ids)
        _same(spark, embedded, spec, f"day {k} ({date})")
        if ours.rows_in:  # the parse ran in Spark tasks, and said so
            assert any("parsed in Spark tasks" in m and "parse task(s)" in m for m in said), said

    rejects = lake_rows(spark, "quarantine", rejects_table(spec))
    assert {r["rule"] for r in rejects} >= {"invalid_coordinates", "missing_coordinates", "duplicate_id"}
    if spec_text is ID_SPEC:  # across receipts (2, 5) and within one receipt (7)
        assert {r["record_id"] for r in rejects if r["rule"] == "duplicate_id"} == \
            {"inc_city:2", "inc_city:5", "inc_city:7"}

    # a full refresh in Spark tasks gives the same tables as the embedded one
    refine(spark, spec, ctx=ctx, now=NOW, pseudonym_key=KEY, compute=spark_compute, full=True)
    refine(embedded, spec, ctx=ctx, now=NOW, pseudonym_key=KEY, full=True)
    _same(spark, embedded, spec, "full refresh")
    # the silver commit receives the same batches, in the same order: delta-rs spreads a stream's batches over
    # its writer partitions, so the stored order (which readers sampling by position see) follows the batches
    landed = {i: r.ingested_at for i, r in receipts.bronze_receipts(spark, bronze_table(spec)).items()}
    parses = [StreamedParse(spark, spec, sorted(landed), landed, boundaries=None, ctx=ctx, now=NOW,
                             pseudonym_key=KEY),
              SparkParse(spark, spec, sorted(landed), landed, boundaries=None, ctx=ctx, now=NOW, pseudonym_key=KEY,
                         compute=spark_compute)]
    theirs = [b.to_pylist() for b in parses[0].reader()]
    ours = [b.to_pylist() for b in parses[1].reader()]
    assert ours == theirs and len(theirs) > 1
    assert parses[1].tally.per_receipt == parses[0].tally.per_receipt
    assert parses[1].tally.rejects().equals(parses[0].tally.rejects())


STUDY_AREA_SPEC = """
name: inc_area
table: incidents
format: {{kind: csv}}
id: {{columns: [case_id]}}
fields:
  occurred_at: {{column: date, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}}
  category: {{constant: aggravated_assault}}
  location_type: {{column: loc_cat}}
coordinates: {{x: longitude, y: latitude, crs: "EPSG:4326"}}
study_area: {{boundary: {boundary}, id_field: Name, tolerance_m: 250}}
"""


def test_spark_refine_with_a_study_area(tmp_path, spark_compute):
    boundary = data_path("chicago/police_districts.kml")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(STUDY_AREA_SPEC.format(boundary=boundary))
    spec = load_spec(spec_path)
    rows = [row("1", 1), row("2", 1, x="-87.9", y="41.5"),  # in a district; outside every one
            row("3", 1, x="41.7922", y="-87.6277"), row("1", 1, 13), row("4", 2, x="-87.65", y="41.88")]
    embedded, spark = LocalLakehouse(root=str(tmp_path / "embedded")), LocalLakehouse(root=str(tmp_path / "spark"))
    ctx = Compute().sedona()
    for lake, name in ((embedded, "embedded"), (spark, "spark")):
        land_day(lake, spec, tmp_path / f"landing-{name}", 0, "2016-05-02", {"a.csv": rows})
    refine(spark, spec, ctx=ctx, now=NOW, pseudonym_key=KEY, compute=spark_compute)
    refine(embedded, spec, ctx=ctx, now=NOW, pseudonym_key=KEY)
    _same(spark, embedded, spec, "study area")
    silver = lake_rows(spark, "silver", "incidents")
    assert silver and all(r["district"] for r in silver)
    rules = {r["rule"] for r in lake_rows(spark, "quarantine", rejects_table(spec))}
    assert rules == {"outside_study_area", "swapped_coordinates", "duplicate_id"}
