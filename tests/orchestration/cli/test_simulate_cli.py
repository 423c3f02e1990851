"""``crimefusion simulate`` on a slice of the bundled Chicago file: one JSON object, and a one-line error."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from orchestration.cli import app

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO / "specs" / "chicago_aggravated_assaults.yaml"
CSV = REPO / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """Three months of 2017 and the spec with its boundary path made absolute."""
    folder = tmp_path_factory.mktemp("simulate")
    df = pd.read_csv(CSV, compression="gzip")
    data = folder / "slice.csv.gz"
    with gzip.open(data, "wt") as fh:
        df[(df["date"] >= "2017-01-01") & (df["date"] < "2017-04-01")].to_csv(fh, index=False)
    doc = yaml.safe_load(SPEC.read_text())
    doc["study_area"]["boundary"] = str((SPEC.parent / doc["study_area"]["boundary"]).resolve())
    doc.pop("files", None)
    spec = folder / "chicago.yaml"
    spec.write_text(yaml.safe_dump(doc))
    return data, spec


def test_feedback_json_is_one_object(files):
    data, spec = files
    res = runner.invoke(app, ["simulate", "feedback", "--incidents", str(data), "--spec", str(spec), "--weeks", "3",
                              "--policy", "corrected", "--seed", "4", "--capacity", "20", "--json"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert (out["policy"], out["weeks"], out["seed"], out["capacity"]) == ("corrected", 3, 4, 20)
    assert 0.0 <= out["runaway_index"] <= 1.0
    assert 0 < out["discovered"] <= out["true_crime"]
    assert out["districts"] == 23 and out["params"]["base_discovery"] == 0.5


def test_a_spec_without_districts_is_one_error_line(files, tmp_path):
    data, spec = files
    doc = yaml.safe_load(spec.read_text())
    doc.pop("study_area")
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump(doc))
    res = runner.invoke(app, ["simulate", "feedback", "--incidents", str(data), "--spec", str(bare), "--json"])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "has no study_area" in lines[0], res.stderr
    assert res.stdout == ""
