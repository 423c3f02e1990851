"""The bronze and silver assets of a feed: re-materialising an ingest partition replaces it, never duplicates."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.ingest.assets import build_feed_assets
from orchestration.ingest.pipeline import ingest_file
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
HEADER = "date,loc_cat,longitude,latitude,district"
# a city with no id column (content ids) and no study area: only the declared bounds
SPEC = """
name: reland_city
table: incidents
format: {kind: csv}
fields:
  occurred_at: {column: date, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}
  category: {constant: aggravated_assault}
  location_type: {column: loc_cat}
coordinates: {x: longitude, y: latitude, crs: "EPSG:4326"}
"""
FIRST = ["2016-05-01 12:30,street,-87.6277,41.7922,2", "2016-05-02 12:30,street,-87.6277,41.7922,2",
         "2016-05-03 09:00,park,-87.6683,41.7513,7"]
# the same export, corrected: the second row's time was wrong
CORRECTED = [FIRST[0], "2016-05-02 13:30,street,-87.6277,41.7922,2", FIRST[2]]


@pytest.fixture
def feed(tmp_path):
    spec = tmp_path / "reland_city.yaml"
    spec.write_text(SPEC)
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    resources = {
        "lakehouse": lake,
        "sources": SourceCatalog(spec_paths=[str(spec)], landing=str(tmp_path / "landing")),
        "compute": Compute(),
        "pseudonymiser": Pseudonymiser(),
    }
    drop = tmp_path / "landing" / "reland_city" / DAY
    drop.mkdir(parents=True)
    return spec, lake, resources, drop


def materialise(resources, partition=DAY):
    result = dg.materialize(build_feed_assets(["incidents"]), resources=resources, partition_key=partition,
                            raise_on_error=True)
    assert result.success


def silver_times(lake):
    rows = lake.read("silver", "incidents", columns=["occurred_at"])["occurred_at"].to_pylist()
    return sorted(t.strftime("%m-%d %H:%M") for t in rows)


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_corrected_file_replaces_its_partition(feed):
    _, lake, resources, drop = feed
    write(drop / "export.csv", FIRST)
    materialise(resources)
    assert lake.count("bronze", "raw_reland_city") == 3
    assert silver_times(lake) == ["05-01 17:30", "05-02 17:30", "05-03 14:00"]

    write(drop / "export.csv", CORRECTED)  # re-delivered under the same name, same day
    materialise(resources)
    bronze = lake.read("bronze", "raw_reland_city")
    assert bronze.num_rows == 3
    assert set(bronze["ingest_partition"].to_pylist()) == {DAY}
    assert silver_times(lake) == ["05-01 17:30", "05-02 18:30", "05-03 14:00"]  # corrected, unchanged not doubled
    assert lake.count("quarantine", "incidents_rejects") == 0


def test_partition_without_files_is_emptied_and_others_kept(feed):
    _, lake, resources, drop = feed
    write(drop / "export.csv", FIRST)
    materialise(resources)
    other = drop.parent / "2026-11-29"
    other.mkdir()
    write(other / "late.csv", ["2016-06-01 10:00,street,-87.6277,41.7922,2"])
    materialise(resources, "2026-11-29")
    assert lake.count("bronze", "raw_reland_city") == 4
    (drop / "export.csv").unlink()  # the day's delivery was withdrawn
    materialise(resources)
    assert lake.count("bronze", "raw_reland_city") == 1
    assert silver_times(lake) == ["06-01 15:00"]


def test_same_file_under_another_partition_or_the_cli_is_stored_once(feed, sd):
    spec_path, lake, resources, drop = feed
    from jobs.ingest.spec import load_spec

    path = write(drop / "export.csv", FIRST)
    summary = ingest_file(lake, load_spec(spec_path), path, ctx=sd)  # landed by hand first
    assert summary.rows_in == 3
    materialise(resources)
    other = drop.parent / "2026-11-29"
    other.mkdir()
    write(other / "again.csv", FIRST)  # the same export dropped again the next day
    materialise(resources, "2026-11-29")
    bronze = lake.read("bronze", "raw_reland_city")
    assert bronze.num_rows == 3
    assert set(bronze["ingest_partition"].to_pylist()) == {"2026-11-29"}
    assert lake.count("silver", "incidents") == 3


def test_identical_rows_within_a_file_stay_distinct(feed):
    _, lake, resources, drop = feed
    write(drop / "export.csv", [FIRST[0], FIRST[0], FIRST[1]])
    materialise(resources)
    materialise(resources)
    assert lake.count("silver", "incidents") == 3
    ids = lake.read("silver", "incidents", columns=["incident_id"])["incident_id"].to_pylist()
    assert len(set(ids)) == 3


def test_file_dropped_twice_in_a_day_is_stored_once(feed):
    _, lake, resources, drop = feed
    write(drop / "export.csv", FIRST)
    write(drop / "export-copy.csv", FIRST)
    materialise(resources)
    assert lake.count("bronze", "raw_reland_city") == 3
    assert lake.count("silver", "incidents") == 3
