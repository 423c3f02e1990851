"""``crimefusion synth`` writes every synthetic feed where its spec expects it, and the files ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_synth_then_ingest(tmp_path):
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "landing"), "--date", "2026-01-02",
                                      "--lake", str(tmp_path / "no-lake"), "--truth", str(tmp_path / "truth")])
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (tmp_path / "landing").iterdir())
    assert folders == ["synthetic_cameras", "synthetic_cdr", "synthetic_cell_sites", "synthetic_incident_enrichment",
                       "synthetic_osint", "synthetic_persons", "synthetic_transactions"]
    assert (tmp_path / "truth" / "group_members.parquet").exists()
    txn = next((tmp_path / "landing" / "synthetic_transactions" / "2026-01-02").iterdir())
    out = CliRunner().invoke(app, ["ingest", "transactions", "--spec", str(ROOT / "specs" / "synthetic" / "transactions.yaml"),
                                   "--file", str(txn), "--lake", str(tmp_path / "lake")])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["rows_in"] == summary["accepted"] + summary["quarantined"] and summary["accepted"] > 10_000
