"""Spark mode's ``incident_context`` counts the mention events (gold ``events`` of kind ``osint_mention``) as the
embedded kernel does."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from jobs.fusion.context import default_metric_crs, incident_context, nearby_candidates
from jobs.fusion.events import mention_events
from jobs.osint.mentions import OSINT_MENTIONS
from jobs.spark.fusion import spark_incident_context

pytestmark = pytest.mark.slow
KEYS = [("incident_id", "ascending"), ("relation", "ascending"), ("record_id", "ascending")]


def _mentions_near(incidents: pa.Table, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    """A place mention ~0-1.5 km from each of the first 60 incidents, posted -4..+8 h from it."""
    rng = np.random.default_rng(seed)
    inc = incidents.slice(0, 60).to_pylist()
    rows = []
    for i, r in enumerate(inc):
        posted = r["occurred_at"] + dt.timedelta(hours=float(rng.uniform(-4, 8)))
        rows.append(dict(post_id=f"p:{i}", posted_at=posted, kind="place", subkind="area", span_start=0, span_end=5,
                         text="x", value="x", place_name="x", lon=r["lon"] + float(rng.uniform(-0.015, 0.015)),
                         lat=r["lat"] + float(rng.uniform(-0.01, 0.01)), h3=None, district=None, time_at=None,
                         score=1.0, method="exact", language="en"))
    posts = pa.table({"post_id": [f"p:{i}" for i in range(len(inc))], "source": ["feed"] * len(inc),
                      "author": [f"a{i % 7}" for i in range(len(inc))]})
    return pa.Table.from_pylist(rows, schema=OSINT_MENTIONS), posts


@pytest.fixture(scope="module")
def local_spark():
    from orchestration.resources.compute import spark_session

    spark = spark_session("local[2]", partitions=3)
    yield spark
    spark.stop()


def test_spark_context_of_mention_events_equals_embedded(small_world, local_spark, sd, tmp_path):
    incidents = small_world["incidents"].slice(0, 300)
    ev = mention_events(*_mentions_near(incidents))
    crs = default_metric_crs(incidents)
    embedded = incident_context(incidents, nearby=nearby_candidates(mentions=ev), ctx=sd, metric_crs=crs)
    spark_incident_context(local_spark, incidents, str(tmp_path / "ctx"), mentions=ev, metric_crs=crs, partitions=3)
    spark = DeltaTable(str(tmp_path / "ctx")).to_pyarrow_table()
    assert set(embedded["relation"].to_pylist()) == {"osint_mention"} and embedded.num_rows >= 20
    assert spark.num_rows == embedded.num_rows
    assert spark.sort_by(KEYS).equals(embedded.sort_by(KEYS))
