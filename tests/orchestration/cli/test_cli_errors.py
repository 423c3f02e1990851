"""Every command answers a user's mistake with one line naming it, exit code 2, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def crimefusion(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from orchestration.cli import main; main()", *args],
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("case", ["spec_with_an_integer_key", "cluster_without_a_key", "duplicate_key"])
def test_run_refuses_with_one_line(tmp_path, case):
    specs = tmp_path / "specs"
    specs.mkdir()
    env = {"CRIMEFUSION_HOME": str(tmp_path / "home"), "CRIMEFUSION_LAKE": str(tmp_path / "lake"),
           "CRIMEFUSION_LANDING": str(tmp_path / "landing"), "CRIMEFUSION_SPECS": str(specs)}
    if case == "spec_with_an_integer_key":
        (specs / "bad.yaml").write_text("name: bad\ntable: incidents\n1: x\n")
        expected = "key 1 is int"
    elif case == "duplicate_key":
        (specs / "bad.yaml").write_text("name: bad\ntable: incidents\ntable: cdr_events\n")
        expected = "table"
    else:
        env.update(CRIMEFUSION_DEPLOYMENT="cluster", CRIMEFUSION_PSEUDONYM_KEY="")
        (specs / "ok.yaml").write_text((ROOT / "specs" / "synthetic" / "cdr.yaml").read_text())
        expected = "CRIMEFUSION_PSEUDONYM_KEY"
    out = crimefusion("run", env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "╭" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and expected in out.stderr[out.stderr.index("error: "):]
    assert not (tmp_path / "lake").exists()  # nothing written


@pytest.mark.parametrize("command", ["synth", "run"])
@pytest.mark.parametrize("date, expected", [("2026/12/04", "must be YYYY-MM-DD"), ("2026-13-45", "not a calendar day"),
                                            ("2026-02-30", "not a calendar day"), ("20261204", "must be YYYY-MM-DD")])
def test_a_date_that_is_not_a_day_is_refused(tmp_path, command, date, expected):
    """``--date`` names landing folders and partitions: ``2026/12/04`` would make nested folders and
    ``2026-13-45`` a partition of no day; both are refused before anything is written."""
    env = {"CRIMEFUSION_HOME": str(tmp_path / "home"), "CRIMEFUSION_LAKE": str(tmp_path / "lake"),
           "CRIMEFUSION_LANDING": str(tmp_path / "landing")}
    args = ["synth", "--out", str(tmp_path / "landing")] if command == "synth" else ["run"]
    out = crimefusion(*args, "--date", date, env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "╭" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0] and date in errors[0]
    assert not (tmp_path / "landing").exists() and not (tmp_path / "lake").exists()


def test_version(tmp_path):
    from importlib.metadata import version

    out = crimefusion("--version", env={}, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"crimefusion {version('crimefusion')}"
