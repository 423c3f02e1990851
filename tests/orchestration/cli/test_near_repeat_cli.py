"""Tests of the ``near-repeat`` command through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from jobs.patterns.near_repeat import knox_test
from orchestration.cli.patterns import near_repeat
from tests.helpers import data_path


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("near-repeat")(near_repeat)

    @app.callback()
    def _root() -> None:  # keeps "near-repeat" a subcommand, as in the real CLI
        pass

    return app


def run(app, *args):
    return CliRunner().invoke(app, ["near-repeat", *map(str, args)])


def test_arson_file_json_and_plot(app, tmp_path):
    arson = data_path("near_repeat/chicago_arson.csv")
    out, png = tmp_path / "out" / "nr.json", tmp_path / "nr.png"
    res = run(app, arson, "--no-header", "--x", 0, "--y", 1, "--date", 2, "--sds", "0,1,200,400,600,inf",
              "--tds", "0,1,2,3,inf", "--method", "manhattan", "--nrep", 19, "--seed", 3, "--json", out, "--plot", png)
    assert res.exit_code == 0, res.output
    assert "[1, 200) m" in res.output and ">= 3 days" in res.output
    doc = json.loads(out.read_text())
    assert doc["sds"] == [0, 1, 200, 400, 600, "inf"] and doc["tds"] == [0, 1, 2, 3, "inf"]
    df = pd.read_csv(arson, header=None)
    ref = knox_test(df[0], df[1], pd.to_datetime(df[2]).values, sds=[0, 1, 200, 400, 600, np.inf],
                    tds=[0, 1, 2, 3, np.inf], method="manhattan", nrep=19, seed=3)
    assert doc["observed"] == ref.observed.tolist()
    np.testing.assert_allclose(np.array(doc["knox_ratio"], dtype=float), ref.knox_ratio)
    np.testing.assert_allclose(doc["p_value"], ref.p_value)
    assert sum(map(sum, doc["observed"])) == 135_981 and doc["nrep"] == 19
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "events.csv"
    p.write_text(text)
    return p


GOOD = "px,py,when\n0,0,2020-01-01\n10,0,2020-01-02\n500,0,2020-01-09\n"

ERROR_CASES = [
    ("missing_column", GOOD, ["--x", "px", "--y", "north", "--date", "when"], ["--y", "'north'", "no such column", "px"]),
    ("bad_date", GOOD.replace("2020-01-02", "2020-13-45"), ["--x", "px", "--y", "py", "--date", "when"], ["row 2", "line 3", "when", "2020-13-45"]),
    ("non_numeric_x", GOOD.replace("10,0", "ten,0"), ["--x", "px", "--y", "py", "--date", "when"], ["row 2", "px", "'ten'", "not a number"]),
    ("unsorted_sds", GOOD, ["--x", "px", "--y", "py", "--date", "when", "--sds", "0,400,200,inf"], ["--sds", "strictly increasing"]),
    ("no_inf_tds", GOOD, ["--x", "px", "--y", "py", "--date", "when", "--tds", "0,1,2"], ["--tds", "inf"]),
    ("bad_method", GOOD, ["--x", "px", "--y", "py", "--date", "when", "--method", "cosine"], ["--method"]),
    ("index_without_header", "0,0,2020-01-01\n1,1,2020-01-02\n", ["--no-header", "--x", "0", "--y", "1", "--date", "3"], ["--date 3", "out of range"]),
]


@pytest.mark.parametrize(("text", "args", "needles"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_clear_errors(app, tmp_path, text, args, needles):
    res = run(app, write(tmp_path, text), *args)
    assert res.exit_code == 2
    flat = " ".join(res.output.split())
    for needle in needles:
        assert needle in flat, flat


def test_missing_file(app, tmp_path):
    res = run(app, tmp_path / "nope.csv", "--x", "a", "--y", "b", "--date", "c")
    assert res.exit_code == 2 and "file not found" in " ".join(res.output.split())


def test_lonlat_projected_to_utm(app, tmp_path):
    # 0.001 degree of latitude is about 111 m; 0.01 degree of longitude at 41.9 N about 829 m.
    text = "lon,lat,date\n-87.65,41.90,2019-05-01\n-87.65,41.901,2019-05-01\n-87.64,41.90,2019-05-20\n"
    out = tmp_path / "r.json"
    res = run(app, write(tmp_path, text), "--x", "lon", "--y", "lat", "--date", "date", "--crs", "EPSG:4326",
              "--sds", "0,100,120,800,900,inf", "--tds", "0,1,inf", "--method", "euclidean", "--nrep", 5, "--json", out)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["input"]["metric_crs"] == "EPSG:32616"  # WGS 84 / UTM zone 16N
    assert doc["observed"][1] == [1, 0]  # 111 m, same day
    assert doc["observed"][3] == [0, 2]  # ~829-835 m, 19 days
