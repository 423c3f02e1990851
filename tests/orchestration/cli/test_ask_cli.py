"""``crimefusion ask`` on the tiny hand-made lakehouse: one JSON object, a table with its SQL, and a decline."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from orchestration.cli.ask import ask
from tests.jobs.ask.tiny_lake import local_frame, write_tiny_lake

app = typer.Typer()
app.command()(ask)


def test_json_answer(tmp_path):
    lake = write_tiny_lake(tmp_path / "lake")
    result = CliRunner().invoke(app, ["how many thefts in kobe in 2017", "--lake", str(lake), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    frame = local_frame()
    expected = int(((frame.category == "theft") & (frame.source == "kobe_thefts")
                    & (frame.local.dt.year == 2017)).sum())
    assert out["rows"] == [[expected]] and out["columns"] == ["count"] and not out["declined"]
    assert out["plan"]["table"] == "incidents" and out["query"]["sql"] == out["sql"]
    assert "delta_scan(" in out["sql"] and out["sources"][0] == {"table": "silver.incidents", "version": 0}
    assert f"{expected} incidents" in out["answer"]


def test_table_and_sql_are_printed(tmp_path):
    lake = write_tiny_lake(tmp_path / "lake")
    result = CliRunner().invoke(app, ["incidents by category", "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    assert "burglary" in result.output and "SELECT" in result.output and "silver.incidents v0" in result.output


def test_declined_question_exits_0_without_rows(tmp_path):
    lake = write_tiny_lake(tmp_path / "lake")
    result = CliRunner().invoke(app, ["how many drone smuggling cases in the past 5 years", "--lake", str(lake),
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["declined"] and out["rows"] == [] and "drone smuggling" in out["answer"]


def test_missing_lakehouse_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["how many incidents", "--lake", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no lakehouse at" in result.output


def test_a_search_answer_shows_score_text_and_what_fits():
    from orchestration.cli.ask import _shown_columns

    cols = ["post_id", "posted_at_local", "platform", "language", "place_name", "source", "text", "similarity"]
    assert _shown_columns(cols, 80) == ["similarity", "text", "posted_at_local"]
    assert _shown_columns(cols, 120) == ["similarity", "text", "posted_at_local", "place_name"]
    assert _shown_columns(cols, 40) == ["similarity", "text"]
