"""Incremental silver and quarantine equal a full refresh, row for row, day after day.

Two lakes receive the same landings (same files, same landing times); one is
refined incrementally after each day, the other re-parsed in full. After every
day silver and quarantine must hold the same rows. The days include duplicate
ids across receipts (a newer receipt supersedes), a late file, a corrected
re-delivery that takes a superseding row back, a withdrawn day and a night with
nothing new.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.ingest.spec import load_spec
from orchestration.ingest import receipts
from orchestration.ingest.pipeline import bronze_table, land_files, refine, rejects_table
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse

KEY = b"incremental-test-key-0123456789abcdef"
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
HEADER = "case_id,date,loc_cat,longitude,latitude"
ID_SPEC = """
name: inc_city
table: incidents
format: {kind: csv}
id: {columns: [case_id]}
fields:
  occurred_at: {column: date, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}
  category: {constant: aggravated_assault}
  location_type: {column: loc_cat}
coordinates: {x: longitude, y: latitude, crs: "EPSG:4326"}
bounds: [-88.0, 41.6, -87.5, 42.1]
"""
# no id column: content ids, identical rows are two incidents
CONTENT_SPEC = """
name: inc_content
table: incidents
format: {kind: csv}
fields:
  occurred_at: {column: date, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}
  category: {constant: aggravated_assault}
  location_type: {column: loc_cat}
coordinates: {x: longitude, y: latitude, crs: "EPSG:4326"}
bounds: [-88.0, 41.6, -87.5, 42.1]
"""


def row(case: str, day: int, hour: int = 12, place: str = "street", x: str = "-87.6277", y: str = "41.7922") -> str:
    return f"{case},2016-05-{day:02d} {hour:02d}:30,{place},{x},{y}"


# (ingest date, {file name: rows}); {} withdraws the date
DAYS = [
    ("2016-05-02", {"a.csv": [row("1", 1), row("2", 1), row("3", 1, 9), row("4", 1), row("bad", 1, x="x")],
                    "b.csv": [row("5", 1), row("6", 1, place="park")]}),
    # a newer receipt supersedes id 3; id 7 twice in one file
    ("2016-05-03", {"c.csv": [row("3", 1, 10), row("7", 2), row("7", 2, 13), row("8", 2)]}),
    # a late file: events from weeks ago, and id 1 delivered again
    ("2016-05-04", {"late.csv": [row("9", 1), row("10", 1), row("1", 1, 15)]}),
    # the 3 May file corrected: id 3 gone (its A row wins again), id 8 changed
    ("2016-05-03", {"c.csv": [row("7", 2), row("7", 2, 13), row("8", 2, 14)]}),
    ("2016-05-05", {"d.csv": [row("11", 4), row("12", 4, y="")]}),
    # the late delivery withdrawn: id 1's A row wins again
    ("2016-05-04", {}),
    ("2016-05-06", {}),  # a night with nothing new
    ("2016-05-06", {"e.csv": [row("2", 5, 8), row("13", 5), row("5", 1)]}),
]


def landed_at(k: int) -> datetime:
    return datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=k)


def lake_rows(lake: LocalLakehouse, layer: str, name: str) -> list[dict]:
    if not lake.exists(layer, name):
        return []
    t = lake.read(layer, name)
    t = t.drop_columns([c for c in ("geometry",) if c in t.column_names])
    return sorted(t.to_pylist(), key=lambda r: (r["ingest_id"], r["source_row"]))


def land_day(lake, spec, folder: Path, k: int, date: str, files: dict[str, list[str]]) -> None:
    drop = folder / date
    drop.mkdir(parents=True, exist_ok=True)
    for old in drop.iterdir():
        old.unlink()
    paths = []
    for name, rows in files.items():
        (drop / name).write_text("\n".join([HEADER, *rows]) + "\n")
        paths.append(drop / name)
    land_files(lake, spec, paths, partition=date, now=landed_at(k))


@pytest.mark.parametrize("spec_text", [ID_SPEC, CONTENT_SPEC], ids=["id_column", "content_ids"])
def test_incremental_equals_full_refresh_day_after_day(tmp_path, spec_text):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec_text)
    spec = load_spec(spec_path)
    inc, full = LocalLakehouse(root=str(tmp_path / "inc")), LocalLakehouse(root=str(tmp_path / "full"))
    ctx = Compute().sedona()
    for k, (date, files) in enumerate(DAYS):
        for lake, name in ((inc, "inc"), (full, "full")):
            land_day(lake, spec, tmp_path / f"landing-{name}", k, date, files)
        summary = refine(inc, spec, ctx=ctx, now=NOW, pseudonym_key=KEY)
        refine(full, spec, ctx=ctx, now=NOW, pseudonym_key=KEY, full=True)
        assert summary.rows_in == summary.accepted + summary.quarantined
        for layer, name in (("silver", "incidents"), ("quarantine", rejects_table(spec))):
            assert lake_rows(inc, layer, name) == lake_rows(full, layer, name), f"day {k} ({date}): {layer}/{name}"
        n_bronze = inc.count("bronze", bronze_table(spec))
        assert n_bronze == inc.count("silver", "incidents") + inc.count("quarantine", rejects_table(spec))
        if k == 6:  # nothing new: nothing parsed
            assert summary.rows_in == 0 and not summary.withdrawn

    # every step mattered: supersession, duplicates and the withdrawn day are in the final state
    rejects = lake_rows(inc, "quarantine", rejects_table(spec))
    assert {r["rule"] for r in rejects} >= {"invalid_coordinates", "missing_coordinates"}
    if spec_text is ID_SPEC:
        silver = {r["incident_id"]: r for r in lake_rows(inc, "silver", "incidents")}
        assert silver["inc_city:2"]["occurred_at"].day == 5           # e.csv superseded a.csv's row
        assert silver["inc_city:1"]["occurred_at"].hour == 17         # the late row left with its day
        assert silver["inc_city:3"]["occurred_at"].hour == 14         # the correction took c.csv's row back
        dup = [r for r in rejects if r["rule"] == "duplicate_id"]
        assert {r["record_id"] for r in dup} == {"inc_city:2", "inc_city:5", "inc_city:7"}


def test_rerun_and_ledger(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(ID_SPEC)
    spec = load_spec(spec_path)
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    ctx = Compute().sedona()
    land_day(lake, spec, tmp_path / "landing", 0, *DAYS[0])
    first = refine(lake, spec, ctx=ctx, now=NOW, pseudonym_key=KEY)
    assert first.rows_in == 7 and len(first.ingest_ids) == 2
    version = lake.version("silver", "incidents")
    again = refine(lake, spec, ctx=ctx, now=NOW, pseudonym_key=KEY)
    assert again.rows_in == 0 and lake.version("silver", "incidents") == version  # no commit at all
    # landing the same files again writes nothing either
    land_day(lake, spec, tmp_path / "landing", 0, *DAYS[0])
    assert lake.count("bronze", bronze_table(spec)) == 7
    entries = receipts.latest(lake, spec.name)
    assert {e.state for e in entries.values()} == {receipts.REFINED}
    assert sum(e.rows_in for e in entries.values()) == 7
    # another pseudonym key changes what silver holds: every receipt is refined again
    other = refine(lake, spec, ctx=ctx, now=NOW, pseudonym_key=KEY[::-1])
    assert other.rows_in == 7


def test_receipts_from_the_delta_log_match_a_scan(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(ID_SPEC)
    spec = load_spec(spec_path)
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    for k, (date, files) in enumerate(DAYS[:3]):
        land_day(lake, spec, tmp_path / "landing", k, date, files)
    from_log = receipts.bronze_receipts(lake, bronze_table(spec))
    scan = lake.read("bronze", bronze_table(spec), columns=["ingest_id", "ingested_at", "ingest_partition"])
    expected = {r["ingest_id"]: (r["ingested_at"], r["ingest_partition"]) for r in scan.to_pylist()}
    assert {i: (r.ingested_at, r.partition) for i, r in from_log.items()} == expected
    assert isinstance(scan, pa.Table)
