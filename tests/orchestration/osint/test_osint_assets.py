"""The OSINT assets (osint_mentions, chatter_alerts, osint_incident_links) and their checks on a tiny lake
in a temporary folder."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from jobs.ingest.pseudonymise import DEMO_KEY, pseudonymise
from orchestration.osint import assets as osint_assets
from orchestration.osint import checks as osint_checks
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog

SPEC = Path(__file__).resolve().parents[3] / "specs" / "synthetic" / "osint.yaml"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _lake(root: Path) -> LocalLakehouse:
    lake = LocalLakehouse(root=str(root))
    utc = pa.timestamp("us", tz="UTC")
    lake.overwrite("silver", "osint_posts", pa.table({
        "post_id": ["synthetic_osint:1", "synthetic_osint:2", "synthetic_osint:3", "synthetic_osint:4"],
        "source": ["synthetic_osint"] * 4,
        "text": ["Humboldt Park block party", "Balazos en Parque Humbolt, ping @Big_Mike",
                 "pull up saturday night in W. Town", "Shots on Madison St"],
        "posted_at": pa.array([datetime(2017, 12, 6, 15)] * 4, utc),
        "place_name": ["Humboldt Park", None, "West Town", None],
        "lon": [-87.72, None, -87.675, None], "lat": [41.90, None, 41.896, None],
    }))
    lake.overwrite("reference", "police_districts", pa.table({
        "layer": ["police_districts"], "area_id": ["14"], "name": ["14"],
        "geometry": [shapely.to_wkb(shapely.box(-87.8, 41.85, -87.6, 41.95))]}))
    lake.overwrite("bronze", "raw_tiny_city", pa.table({  # an incident export with a block column
        "date": ["2017-12-01 10:00", "2017-12-02 11:00"], "block": ["001XX W MADISON ST", "002XX E MADISON ST"],
        "longitude": ["-87.70", "-87.64"], "latitude": ["41.88", "41.88"]}))
    lake.overwrite("truth", "osint_places", pa.table({
        "post_id": ["1", "2", "3", "4"], "place_name": ["Humboldt Park", "Humboldt Park", "West Town", "Madison Street"]}))
    lake.overwrite("silver", "incidents", pa.table({  # two hours before the posts, in Humboldt Park
        "incident_id": ["tiny_city:1"], "occurred_at": pa.array([datetime(2017, 12, 6, 13)], utc),
        "lon": [-87.7205], "lat": [41.9005], "category": ["aggravated_assault"], "location_type": ["street"],
        "weapon": pa.array([None], pa.string()), "mo_text": pa.array([None], pa.string())}))
    lake.overwrite("truth", "osint_mentions", pa.table({
        "post_id": ["2"], "incident_id": ["tiny_city:1"], "relation": ["report"]}))
    lake.overwrite("truth", "osint_bursts", pa.table({  # two posts about shots: too few for a spike
        "burst_id": ["burst-1"], "topic": ["violence"], "day": pa.array([date(2017, 12, 6)], pa.date32()),
        "place_name": ["Humboldt Park"], "lon": [-87.72], "lat": [41.90], "posts": [2],
        "post_ids": pa.array([["2", "4"]], pa.list_(pa.string()))}))
    return lake


INCIDENTS_SPEC = """
name: tiny_city
table: incidents
fields:
  occurred_at: {column: date, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}
  category: {constant: aggravated_assault}
coordinates: {x: longitude, y: latitude, crs: "EPSG:4326"}
"""


def test_osint_mentions_on_a_tiny_lake(tmp_path):
    lake = _lake(tmp_path / "lake")
    (tmp_path / "tiny_city.yaml").write_text(INCIDENTS_SPEC)
    sources = SourceCatalog(spec_paths=[str(SPEC), str(tmp_path / "tiny_city.yaml")], landing=str(tmp_path / "landing"),
                            data_roots=[])
    result = dg.materialize([*dg.load_assets_from_modules([osint_assets]),
                             *dg.load_asset_checks_from_modules([osint_checks])],
                            resources={"lakehouse": lake, "sources": sources, "pseudonymiser": Pseudonymiser()},
                            run_config=QUIET)
    assert result.success
    m = lake.read("gold", "osint_mentions")
    places = m.filter(pc.equal(m["kind"], "place"))
    assert list(zip(places["post_id"].to_pylist(), places["place_name"].to_pylist())) == [
        ("synthetic_osint:1", "Humboldt Park"), ("synthetic_osint:2", "Humboldt Park"),
        ("synthetic_osint:3", "West Town"), ("synthetic_osint:4", "Madison Street")]
    assert set(places["district"].to_pylist()) == {"14"}
    handle = m.filter(pc.equal(m["kind"], "identifier"))["value"].to_pylist()
    assert handle == pseudonymise(pa.array(["big_mike"]), key=DEMO_KEY, kind="handle").to_pylist()
    times = m.filter(pc.equal(m["kind"], "time"))
    assert times["value"].to_pylist() == ["2017-12-09T21:00:00-06:00"]  # Saturday night, Chicago time
    alerts = lake.read("gold", "chatter_alerts")
    assert alerts["alert_type"].to_pylist() == ["announcement"]  # four posts: too few days for a spike
    assert alerts["post_id"].to_pylist() == ["synthetic_osint:3"] and alerts["area"].to_pylist() == ["14"]
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    f1 = checks["osint_mentions_match_truth"]
    assert f1.passed and f1.metadata["f1"].value == 1.0
    links = lake.read("gold", "osint_incident_links").to_pylist()
    assert [(r["post_id"], r["incident_id"], r["relation"], r["rank"]) for r in links] == [
        ("synthetic_osint:1", "tiny_city:1", "report", 1), ("synthetic_osint:2", "tiny_city:1", "report", 1)]
    assert links[1]["time_gap_h"] == 2.0 and 0 < links[1]["score"] <= 1
    linked = checks["osint_incident_links_match_truth"]  # the block party is linked too: precision 0.5
    assert linked.metadata["recall"].value == 1.0 and linked.metadata["precision"].value == 0.5
    assert not linked.passed
    bursts = checks["chatter_alerts_find_planted_bursts"]
    assert not bursts.passed and bursts.metadata["bursts"].value == 1 and bursts.metadata["found"].value == 0
