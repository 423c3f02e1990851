"""``crimefusion forecast`` on a slice of the bundled Chicago file: shape, coverage, no look-ahead."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer
import yaml
from typer.testing import CliRunner

from orchestration.cli.forecast import forecast

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
SPEC = REPO / "specs" / "chicago_aggravated_assaults.yaml"
CSV = REPO / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"

app = typer.Typer()
app.command()(forecast)


def write_slice(folder: Path, lo: str, hi: str, name: str = "slice.csv.gz") -> Path:
    """Rows of the bundled file with lo <= local date < hi."""
    df = pd.read_csv(CSV, compression="gzip")
    df = df[(df["date"] >= lo) & (df["date"] < hi)]
    path = folder / name
    with gzip.open(path, "wt") as fh:
        df.to_csv(fh, index=False)
    return path


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spec")
    doc = yaml.safe_load(SPEC.read_text())
    doc["study_area"]["boundary"] = str((SPEC.parent / doc["study_area"]["boundary"]).resolve())
    doc.pop("files", None)
    path = folder / "chicago.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(args: list[str]) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("tz, zone", [(None, "America/Chicago"), ("UTC", "UTC")])
def test_naive_scores_count_only_earlier_incidents(spec, tmp_path, tz, zone):
    """Periods start at local midnight of --tz (default: the spec's zone); naive counts what came before."""
    data = write_slice(tmp_path, "2014-06-01", "2016-03-01")
    out = tmp_path / "naive.parquet"
    summary = run(["--incidents", str(data), "--spec", str(spec), "--start", "2016-01-04", "--end", "2016-01-20",
                   "--step", "7d", "--res", "9", "--method", "naive", "--out", str(out), *(["--tz", tz] if tz else [])])
    assert summary["timezone"] == zone
    table = pq.read_table(out)
    assert table.column_names == ["period_start", "h3", "score"]
    df = table.to_pandas()
    assert sorted(df["period_start"].astype(str).unique()) == ["2016-01-04", "2016-01-11", "2016-01-18"]
    assert summary["rows"] == len(df) == 3 * summary["cells"]
    import h3

    per_period = df.groupby("period_start")["h3"].apply(set)
    assert all(s == per_period.iloc[0] for s in per_period)  # every cell in every period
    assert {h3.get_resolution(c) for c in df["h3"].iloc[:50]} == {9}
    # Naive = incidents in the 365 days before each period's start (local midnight of the zone), nothing later.
    raw = pd.read_csv(data, compression="gzip")
    t = pd.to_datetime(raw["date"]).dt.tz_localize("America/Chicago", ambiguous="NaT", nonexistent="shift_forward")
    t = t.dt.tz_convert("UTC")
    for start, group in df.groupby("period_start"):
        s = pd.Timestamp(start).tz_localize(zone)
        expected = int(((t >= s - pd.Timedelta(days=365)) & (t < s)).sum())
        assert abs(group["score"].sum() - expected) <= 2  # DST-ambiguous local times


def test_daily_periods_follow_local_midnight_across_a_change_of_the_clocks(spec, tmp_path):
    """Chicago's clocks went forward on Sunday 13 March 2016: that day's period lasts 23 hours, and each day
    still starts at local midnight (sepp's expected counts in 24 hours are higher than in 23)."""
    data = write_slice(tmp_path, "2015-09-01", "2016-03-20")
    out = tmp_path / "daily.parquet"
    run(["--incidents", str(data), "--spec", str(spec), "--start", "2016-03-12", "--end", "2016-03-14",
         "--step", "1d", "--method", "naive", "--out", str(out)])
    df = pq.read_table(out).to_pandas()
    assert sorted(df["period_start"].astype(str).unique()) == ["2016-03-12", "2016-03-13", "2016-03-14"]
    raw = pd.read_csv(data, compression="gzip")
    t = pd.to_datetime(raw["date"]).dt.tz_localize("America/Chicago", ambiguous="NaT", nonexistent="shift_forward")
    t = t.dt.tz_convert("UTC")
    for start, group in df.groupby("period_start"):
        s = pd.Timestamp(start).tz_localize("America/Chicago")  # 06:00 UTC on the 12th and 13th, 05:00 on the 14th
        expected = int(((t >= s - pd.Timedelta(days=365)) & (t < s)).sum())
        assert abs(group["score"].sum() - expected) <= 2


def test_future_rows_do_not_change_a_forecast(spec, tmp_path):
    full = write_slice(tmp_path, "2014-06-01", "2016-03-01", "full.csv.gz")
    cut = write_slice(tmp_path, "2014-06-01", "2016-01-04", "cut.csv.gz")
    outs = []
    for data in (full, cut):
        out = tmp_path / f"{data.stem}.parquet"
        run(["--incidents", str(data), "--spec", str(spec), "--start", "2016-01-04", "--end", "2016-01-04",
             "--method", "sepp", "--out", str(out)])
        outs.append(pq.read_table(out).to_pandas().sort_values("h3").reset_index(drop=True))
    np.testing.assert_allclose(outs[0]["score"], outs[1]["score"], rtol=1e-9)


@pytest.mark.slow
def test_learned_method_runs_on_a_small_window(spec, tmp_path):
    data = write_slice(tmp_path, "2012-06-01", "2016-02-01")
    out = tmp_path / "learned.parquet"
    summary = run(["--incidents", str(data), "--spec", str(spec), "--start", "2016-01-04", "--end", "2016-01-11",
                   "--method", "learned", "--out", str(out)])
    df = pq.read_table(out).to_pandas()
    assert summary["periods"] == 2 and len(df) == 2 * summary["cells"]
    assert np.isfinite(df["score"]).all() and (df["score"] >= 0).all()
    assert df.groupby("period_start")["score"].std().min() > 0  # not a constant forecast


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "oracle"], "--method must be one of"),
        (["--step", "3h"], "--step must be one of"),
        (["--start", "2016-02-01", "--end", "2016-01-01"], "is before --start"),
        (["--tz", "Mars/Olympus"], "--tz must be an IANA time zone name"),
        (["--profile", "weekly"], "--profile must be auto or off"),
        (["--method", "kde", "--profile", "off"], "--profile applies to --method learned only"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(spec, tmp_path, extra, message):
    args = {"--incidents": str(CSV), "--spec": str(spec), "--start": "2016-01-04", "--end": "2016-01-11",
            "--out": str(tmp_path / "x.parquet")}
    for k, v in zip(extra[::2], extra[1::2]):
        args[k] = v
    result = CliRunner().invoke(app, [x for kv in args.items() for x in kv])
    assert result.exit_code == 2
    assert message in result.output


NYC_SPEC = REPO / "specs" / "nyc_shootings.yaml"
NYC_CSV = REPO / "data" / "cities" / "nyc_shootings_2019.csv"


def test_learned_method_end_to_end_on_a_second_city(tmp_path):
    """NYC shootings: one year of data, another time zone, precincts for districts, H3 res 8. The learned model
    shortens its burn-in to the short history and still ranks the cells with past shootings first."""
    import h3

    out = tmp_path / "nyc.parquet"
    summary = run(["--incidents", str(NYC_CSV), "--spec", str(NYC_SPEC), "--start", "2019-10-07",
                   "--end", "2019-10-14", "--res", "8", "--method", "learned", "--out", str(out)])
    df = pq.read_table(out).to_pandas()
    assert summary["periods"] == 2 and summary["resolution"] == 8 and len(df) == 2 * summary["cells"]
    assert np.isfinite(df["score"]).all() and (df["score"] >= 0).all()
    past = pd.read_csv(NYC_CSV)
    past = past[past["occur_date"] < "2019-10-07"]
    hit = {h3.latlng_to_cell(lat, lon, 8) for lat, lon in zip(past["latitude"], past["longitude"])}
    first = df[df["period_start"] == df["period_start"].min()]
    with_history = first[first["h3"].isin(hit)]["score"].mean()
    assert with_history > 2 * first[~first["h3"].isin(hit)]["score"].mean()


@pytest.mark.parametrize("res", [7, 11])
def test_any_resolution_from_7_to_11(res, tmp_path):
    out = tmp_path / f"nyc_{res}.parquet"
    summary = run(["--incidents", str(NYC_CSV), "--spec", str(NYC_SPEC), "--start", "2019-10-07",
                   "--end", "2019-10-07", "--res", str(res), "--method", "kde", "--out", str(out)])
    cells = pq.read_table(out).column("h3").to_pylist()
    import h3

    assert summary["resolution"] == res and {h3.get_resolution(c) for c in cells} == {res}


def test_a_file_without_a_valid_row_names_the_first_rejected_row_and_field(spec, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,longitude,latitude,loc_cat\nnot-a-date,-87.6,41.8,street\n")
    result = CliRunner().invoke(app, ["--incidents", str(bad), "--spec", str(spec), "--start", "2016-01-04",
                                      "--end", "2016-01-11", "--out", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "no valid incident rows (1 rejected; the first, row 1: field 'occurred_at'" in result.output


def test_rejected_rows_beside_valid_ones_are_named_and_the_forecast_goes_on(spec, tmp_path):
    data = write_slice(tmp_path, "2015-12-01", "2016-01-04", name="slice.csv")
    lines = gzip.open(data, "rt").read().splitlines()
    bad = tmp_path / "mixed.csv"
    bad.write_text("\n".join([*lines, "2015-12-20 25:61,street,-87.6,41.8,2", "2015-12-21 10:00,street,abc,41.8,2"])
                   + "\n")
    result = CliRunner().invoke(app, ["--incidents", str(bad), "--spec", str(spec), "--start", "2016-01-04",
                                      "--end", "2016-01-04", "--method", "naive", "--out", str(tmp_path / "x.parquet")])
    assert result.exit_code == 0, result.output
    n = len(lines) - 1
    out = " ".join(result.output.split())  # rich wraps long lines
    assert "2 rows left out" in out
    assert f"row {n + 1}: field 'occurred_at' (column 'date')" in out
    assert f"row {n + 2}: coordinates (longitude, latitude)" in out
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["incidents"] + summary["rejected"] == n + 2  # rows in = accepted + left out
