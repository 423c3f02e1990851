"""``gold/events`` follows ``gold/osint_mentions`` on a tiny lake: a full build holds the mention events, a run
with nothing new changes nothing, a new post adds exactly its mention events, and a lake without OSINT
mentions still builds its events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from jobs.fusion.events import build_events
from orchestration.fusion import assets as fusion_assets
from orchestration.fusion.reconcile import reconcile_events
from orchestration.osint import assets as osint_assets
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog

SPEC = Path(__file__).resolve().parents[3] / "specs" / "synthetic" / "osint.yaml"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
UTC = pa.timestamp("us", tz="UTC")


def posts(ids: list[int], texts: list[str], lon: list, lat: list, tags: list) -> pa.Table:
    n = len(ids)
    return pa.table({
        "post_id": [f"synthetic_osint:{i}" for i in ids], "source": ["synthetic_osint"] * n,
        "author": [f"author{i}" for i in ids], "text": texts,
        "posted_at": pa.array([datetime(2017, 12, 6, 15 + i) for i in ids], UTC),
        "lon": pa.array(lon, pa.float64()), "lat": pa.array(lat, pa.float64()),
        "place_name": pa.array(tags, pa.string()), "mentions": pa.array([None] * n, pa.list_(pa.string()))})


def tiny_lake(root: Path) -> LocalLakehouse:
    lake = LocalLakehouse(root=str(root))
    lake.overwrite("silver", "osint_posts", posts(
        [1, 2, 3], ["Humboldt Park block party", "Shots in West Town tonight at 9pm", "Finally Friday"],
        [-87.72, -87.675, None], [41.90, 41.896, None], ["Humboldt Park", "West Town", None]))
    lake.overwrite("reference", "police_districts", pa.table({
        "layer": ["police_districts"], "area_id": ["14"], "name": ["14"],
        "geometry": [shapely.to_wkb(shapely.box(-87.8, 41.85, -87.6, 41.95))]}))
    lake.overwrite("silver", "incidents", pa.table({  # at 9pm Chicago in West Town; 2 h after post 4, in Humboldt Park
        "incident_id": ["c:1", "c:2"],
        "occurred_at": pa.array([datetime(2017, 12, 7, 3), datetime(2017, 12, 6, 17)], UTC),
        "lon": [-87.676, -87.721], "lat": [41.897, 41.899], "category": ["battery", "assault"], "source": ["c", "c"]}))
    return lake


def run(lake: LocalLakehouse, tmp_path: Path, keys=("osint_mentions", "events", "incident_context")) -> dict:
    sources = SourceCatalog(spec_paths=[str(SPEC)], landing=str(tmp_path / "landing"), data_roots=[])
    assets = [a for a in [*dg.load_assets_from_modules([osint_assets]), *dg.load_assets_from_modules([fusion_assets])]
              if a.key.to_user_string() in keys]
    result = dg.materialize(assets, resources={"lakehouse": lake, "sources": sources, "pseudonymiser": Pseudonymiser(),
                                               "compute": Compute()}, run_config=QUIET)
    assert result.success
    return {k: v.value for k, v in result.asset_materializations_for_node("events")[0].metadata.items()}


def context(lake: LocalLakehouse) -> list[tuple]:
    t = lake.read("gold", "incident_context", columns=["incident_id", "relation", "record_id", "dt_s"])
    t = t.filter(pc.equal(t["relation"], "osint_mention"))
    return sorted((r["incident_id"], r["record_id"], r["dt_s"]) for r in t.to_pylist())


def mention_ids(lake: LocalLakehouse) -> list[str]:
    ev = lake.read("gold", "events", columns=["event_id", "kind"])
    return sorted(pc.filter(ev["event_id"], pc.equal(ev["kind"], "osint_mention")).to_pylist())


def test_events_follow_the_mentions(tmp_path, sd):
    lake = tiny_lake(tmp_path / "lake")
    first = run(lake, tmp_path)
    assert first["mode"] == "full"
    ev = lake.read("gold", "events").sort_by("event_id")
    mentions = ev.filter(pc.equal(ev["kind"], "osint_mention"))
    assert mentions["event_id"].to_pylist() == ["osint_mentions:synthetic_osint:1@0-13",
                                                "osint_mentions:synthetic_osint:2@9-18"]
    assert mentions["location_basis"].to_pylist() == ["named_place", "named_place_time"]
    assert mentions["district"].to_pylist() == ["14", "14"]
    assert mentions["occurred_at"][1].as_py() == datetime.fromisoformat("2017-12-07T03:00:00+00:00")  # 9pm Chicago
    assert set(pc.filter(ev["origin"], pc.equal(ev["kind"], "post")).to_pylist()) == {"osint_posts"}
    assert context(lake) == [("c:1", "osint_mentions:synthetic_osint:2@9-18", 0),
                             ("c:2", "osint_mentions:synthetic_osint:1@0-13", -3600)]
    version = lake.version("gold", "events")

    again = run(lake, tmp_path)  # nothing new
    assert again["mode"] == "incremental" and again["appended"] == 0 and again["deleted_keys"] == 0
    assert lake.version("gold", "events") == version

    new_post = posts([4], ["Fight on Humboldt Park, cops everywhere"], [None], [None], [None])
    lake.append("silver", "osint_posts", new_post)
    new = run(lake, tmp_path)
    assert new["mode"] == "incremental" and new["deleted_keys"] == 0
    assert new["appended"] == 1 and mention_ids(lake)[-1] == "osint_mentions:synthetic_osint:4@9-22"
    assert context(lake)[-1] == ("c:2", "osint_mentions:synthetic_osint:4@9-22", 7200)  # a report 2 h later
    full = build_events({"incidents": lake.read("silver", "incidents"),
                         "osint_posts": lake.read("silver", "osint_posts"),
                         "osint_mentions": lake.read("gold", "osint_mentions")}, ctx=sd,
                        boundaries=lake.read("reference", "police_districts", columns=["area_id", "geometry"]))
    assert lake.read("gold", "events").sort_by("event_id").to_pylist() == full.to_pylist()
    assert run(lake, tmp_path)["appended"] == 0
    check = reconcile_events(lake)
    assert check.expected["osint_mentions"][0] == 3 and check.reconciles("osint_mentions") and check.unique
    lake.delete("gold", "events", "event_id = 'osint_mentions:synthetic_osint:4@9-22'")  # a mention event lost
    assert not reconcile_events(lake).reconciles("osint_mentions")


def test_the_assistant_counts_mention_events(tmp_path):
    from jobs.ask import ask, open_catalogue
    from orchestration.platform.bi import connect

    lake = tiny_lake(tmp_path / "lake")
    run(lake, tmp_path, keys=("osint_mentions", "events"))
    con = connect()
    catalogue = open_catalogue(str(tmp_path / "lake"), con)
    for question, rows in (("how many osint mentions in 2017", [[2]]), ("how many osint posts in 2017", [[3]]),
                           ("mentions by district", [["14", 2]])):
        out = ask(question, catalogue, con).to_json()
        assert out["rows"] == rows, (question, out["answer"])
    by_kind = dict(map(tuple, ask("how many events by kind", catalogue, con).to_json()["rows"]))
    assert by_kind["osint_mention"] == 2 and by_kind["post"] == 2


def test_events_without_osint_mentions(tmp_path):
    lake = tiny_lake(tmp_path / "lake")
    assert run(lake, tmp_path, keys=("events",))["mode"] == "full"  # no osint_mentions table
    assert mention_ids(lake) == [] and lake.count("gold", "events") == 4  # two incidents, two geotagged posts
    assert run(lake, tmp_path)["mode"] == "incremental"  # the mentions appear: their events are added
    assert len(mention_ids(lake)) == 2
