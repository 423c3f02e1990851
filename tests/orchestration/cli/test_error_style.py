"""One error style for every command: ``error: <message>`` on one stderr line, exit 2 for what the command was
given, 1 for work it could not do, never a traceback (orchestration/cli/options.py); and ``--lake`` wherever the
lake is read."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()


#: (arguments, exit status, text of the error line); ``{tmp}`` is the test's folder, ``{lake}`` an empty lakehouse.
CASES = [
    ("anomalies report", 2, "Missing option '--out'"),
    ("anomalies report --out {tmp}/r --as-of 2024-13-01", 2, "--as-of must be a date"),
    ("anomalies report --out {tmp}/r --lake {lake}", 1, "materialise the anomaly assets"),
    ("series-match --lon 1 --lake {lake}", 1, "no gold/crime_series under {lake}"),
    ("series-match --file {tmp}/none.json", 2, "cannot read the incident JSON"),
    ("near-repeat {tmp}/none.csv --x a --y b --date c", 2, "file not found"),
    ("near-repeat {tmp}/none.csv --x a --y b --date c --nrep 0", 2, "--nrep"),
    ("links network {tmp}/none.parquet", 2, "does not exist"),
    ("links tower-dump --lon 0", 2, "give --incident ID, or all of --lon, --lat and --time"),
    ("vision detect clip.mp4 --model {tmp}/none.onnx", 2, "does not exist"),
    ("forecast --incidents x.csv --spec s.yaml --start 2024-01-01 --end 2024-02-01 --out o.parquet --step fortnight",
     2, "--step must be one of"),
    ("synth --out {tmp}/landing --date 2026/12/04", 2, "--date must be YYYY-MM-DD"),
    ("rebuild no_such_table --lake {lake}", 2, "not a feed table"),
    ("run --bogus", 2, "No such option: --bogus"),
    ("no-such-command", 2, "No such command"),
]


@pytest.mark.parametrize("args, code, expected", CASES, ids=[c[0].split(" --")[0] + f" ({c[1]})" for c in CASES])
def test_a_mistake_is_one_error_line(tmp_path, monkeypatch, args, code, expected):
    lake = tmp_path / "empty-lake"
    monkeypatch.setenv("CRIMEFUSION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRIMEFUSION_LAKE", str(lake))
    monkeypatch.chdir(tmp_path)
    argv = [a.format(tmp=tmp_path, lake=lake) for a in args.split()]
    res = runner.invoke(app, argv)
    assert res.exit_code == code, (argv, res.output)
    assert isinstance(res.exception, SystemExit), res.exception  # not an exception shown with its traceback
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert expected.format(tmp=tmp_path, lake=lake) in lines[0], lines[0]
    assert "Traceback" not in res.output and "╭" not in res.output and "Error:" not in res.output


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only errors a user can act on are one line: an unexpected exception still shows where it came from."""
    from orchestration.cli.options import ErrorStyleGroup

    bugged = typer.Typer(cls=ErrorStyleGroup)

    @bugged.command()
    def boom() -> None:
        raise KeyError("a bug")

    @bugged.command()
    def other() -> None:
        pass

    res = runner.invoke(bugged, ["boom"])
    assert isinstance(res.exception, KeyError) and "error:" not in res.output


#: Commands that read the lakehouse: each takes --lake (default CRIMEFUSION_LAKE).
READS_THE_LAKE = [("run",), ("ingest",), ("rebuild",), ("synth",), ("series-match",), ("anomalies", "report"),
                  ("links", "tower-dump")]


@pytest.mark.parametrize("path", READS_THE_LAKE, ids=" ".join)
def test_every_command_that_reads_the_lake_takes_lake(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.get_command(None, name)
    assert any("--lake" in p.opts for p in command.params), f"crimefusion {' '.join(path)} has no --lake"
