"""The lakehouse domain's reference and gold tables on a tiny lake: feeds' time zones, local days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa

from orchestration.lakehouse.assets import district_daily_counts, source_catalog
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.sources import SourceCatalog

UTC = dt.timezone.utc


def spec(folder: Path, name: str, extra: str = "", zone: str | None = None) -> str:
    tz = f", timezone: {zone}" if zone else ""
    path = folder / f"{name}.yaml"
    path.write_text(f"""
name: {name}
table: incidents
fields:
  occurred_at: {{column: date, format: "%Y-%m-%d %H:%M"{tz}}}
  category: {{constant: robbery}}
coordinates: {{x: lon, y: lat}}
{extra}
""")
    return str(path)


def incidents(rows: list[tuple[str, str, dt.datetime]]) -> pa.Table:
    """The silver columns ``district_daily_counts`` reads."""
    return pa.table({"source": [r[0] for r in rows], "district": [r[1] for r in rows],
                     "category": ["robbery"] * len(rows),
                     "occurred_at": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC"))})


def test_source_catalog_lists_each_feed_with_its_zone_and_commits_only_on_change(tmp_path):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    paths = [spec(tmp_path, "chi", zone="America/Chicago"), spec(tmp_path, "paris", "timezone: Europe/Paris"),
             spec(tmp_path, "naive")]
    resources = {"lakehouse": lake, "sources": SourceCatalog(spec_paths=paths)}
    assert dg.materialize([source_catalog], resources=resources).success
    rows = lake.read("reference", "source_catalog", columns=["source", "table", "timezone"]).to_pylist()
    assert rows == [{"source": "chi", "table": "incidents", "timezone": "America/Chicago"},
                    {"source": "naive", "table": "incidents", "timezone": "UTC"},
                    {"source": "paris", "table": "incidents", "timezone": "Europe/Paris"}]
    version = lake.version("reference", "source_catalog")
    assert dg.materialize([source_catalog], resources={**resources, "sources": SourceCatalog(spec_paths=paths)}).success
    assert lake.version("reference", "source_catalog") == version  # same specs: no commit
    paths[2] = spec(tmp_path, "naive", "timezone: Asia/Tokyo")
    assert dg.materialize([source_catalog], resources={**resources, "sources": SourceCatalog(spec_paths=paths)}).success
    assert lake.version("reference", "source_catalog") == version + 1
    assert {r["source"]: r["timezone"] for r in lake.read("reference", "source_catalog").to_pylist()}["naive"] == \
        "Asia/Tokyo"


def test_district_daily_counts_carry_utc_and_local_days(tmp_path):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    paths = [spec(tmp_path, "chi", zone="America/Chicago"), spec(tmp_path, "naive")]
    late = dt.datetime(2018, 1, 1, 3, 30, tzinfo=UTC)       # 21:30 on 31 December in Chicago
    noon = dt.datetime(2018, 1, 1, 18, 0, tzinfo=UTC)       # noon on 1 January in Chicago
    lake.overwrite("silver", "incidents", incidents([("chi", "1", late), ("chi", "1", noon), ("naive", "1", late)]))
    result = dg.materialize([district_daily_counts], resources={"lakehouse": lake,
                                                                "sources": SourceCatalog(spec_paths=paths)})
    assert result.success
    rows = lake.read("gold", "district_daily_counts").select(
        ["source", "day", "local_day", "timezone", "incidents"]).to_pylist()
    day, eve = dt.date(2018, 1, 1), dt.date(2017, 12, 31)
    assert rows == [
        {"source": "chi", "day": day, "local_day": eve, "timezone": "America/Chicago", "incidents": 1},
        {"source": "chi", "day": day, "local_day": day, "timezone": "America/Chicago", "incidents": 1},
        {"source": "naive", "day": day, "local_day": day, "timezone": "UTC", "incidents": 1},
    ]
