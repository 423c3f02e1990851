"""``crimefusion ingest incidents`` on the real bundled file and on a corrupted copy."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from typer.testing import CliRunner

from orchestration.cli import app

pytestmark = pytest.mark.integration
ROOT_SPEC = "specs/chicago_aggravated_assaults.yaml"


def run_ingest(spec, file, lake) -> dict:
    result = CliRunner().invoke(app, ["ingest", "incidents", "--spec", str(spec), "--file", str(file), "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def corrupt(lines: list[str], seed: int = 7) -> tuple[list[str], dict[int, str]]:
    """Break 50 data rows in ten different ways; returns the lines and the expected rule per data row."""
    rng = random.Random(seed)
    rows = rng.sample(range(1, len(lines)), 50)
    breakers = [
        (lambda f: [f[0].replace("-", "/", 1) + "x", *f[1:]], "unparseable_timestamp"),
        (lambda f: [f[0], f[1], "", "", f[4]], "missing_coordinates"),
        (lambda f: [f[0], f[1], "0", "0", f[4]], "null_island"),
        (lambda f: [f[0], f[1], "-74.0060", "40.7128", f[4]], "outside_study_area"),
        (lambda f: [f[0], f[1], f[3], f[2], f[4]], "swapped_coordinates"),
        (lambda f: ["2099-01-01 00:00", *f[1:]], "future_timestamp"),
        (lambda f: f[:3], "malformed_row"),
        (lambda f: [f[0], f[1], "abc", f[3], f[4]], "invalid_coordinates"),
        (lambda f: ["1970-01-01 00:00", *f[1:]], "timestamp_too_old"),
        (lambda f: [f[0], f[1], f[2], "141.0", f[4]], "out_of_crs_bounds"),
    ]
    expected = {}
    out = list(lines)
    for k, row in enumerate(rows):
        fn, rule = breakers[k % len(breakers)]
        out[row] = ",".join(fn(lines[row].split(",")))
        expected[row] = rule
    return out, expected


def test_ingest_bundled_twice_is_idempotent(tmp_path, chicago_spec):
    lake = tmp_path / "lake"
    src = chicago_spec.resolve_files()[0]
    first = run_ingest(ROOT_SPEC, src, lake)
    assert first["rows_in"] == 117_875
    assert first["rows_in"] == first["accepted"] + first["quarantined"]
    second = run_ingest(ROOT_SPEC, src, lake)
    assert (second["rows_in"], second["accepted"], second["quarantined"]) == (first["rows_in"], first["accepted"], first["quarantined"])
    # the same file again: nothing new, so no commit at all (the counts come from the receipts ledger)
    assert second["table_version"] == first["table_version"]
    assert second["ingest_id"] == first["ingest_id"]

    from deltalake import DeltaTable

    assert DeltaTable(str(lake / "silver" / "incidents")).count() == first["accepted"]
    assert DeltaTable(str(lake / "bronze" / "raw_chicago_aggravated_assaults")).count() == 117_875


def test_ingest_corrupted_copy_quarantines_with_reasons(tmp_path, chicago_spec):
    src = chicago_spec.resolve_files()[0]
    lines = gzip.decompress(src.read_bytes()).decode().splitlines()
    broken, expected = corrupt(lines)
    path = tmp_path / "corrupted.csv"
    path.write_text("\n".join(broken) + "\n")

    summary = run_ingest(ROOT_SPEC, path, tmp_path / "lake")
    assert summary["rows_in"] == len(lines) - 1
    assert summary["rows_in"] == summary["accepted"] + summary["quarantined"]
    assert summary["quarantined"] == 50

    from deltalake import DeltaTable

    rejects = DeltaTable(str(tmp_path / "lake" / "quarantine" / "incidents_rejects")).to_pyarrow_table().to_pylist()
    assert {r["source_row"]: r["rule"] for r in rejects} == expected
    assert all(r["reason"] and r["raw"] for r in rejects)


def test_ingest_missing_column_writes_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,loc_cat,longitude,district\n2016-05-01 12:30,street,-87.6,2\n")
    result = CliRunner().invoke(app, ["ingest", "incidents", "--spec", ROOT_SPEC, "--file", str(path), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2
    assert "latitude" in result.output and "bad.csv" in result.output
    assert not (tmp_path / "lake").exists()


def test_ingest_wrong_table(tmp_path, chicago_spec):
    result = CliRunner().invoke(app, ["ingest", "cdr_events", "--spec", ROOT_SPEC, "--file", str(chicago_spec.resolve_files()[0])])
    assert result.exit_code == 2 and "describes table 'incidents'" in result.output
