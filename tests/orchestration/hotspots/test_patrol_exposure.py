"""The patrol_exposure asset on a tiny lake: three districts, a real patrol plan for two weeks, a population
layer in another CRS; rows, provenance, the plot, and a bad population layer failing with a named row."""

from __future__ import annotations

import dagster as dg
import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from jobs.geo.boundaries import boundary_rows
from jobs.grid.cells import study_area_cells
from jobs.grid.patrol import patrol_plan, shift_profile
from orchestration.hotspots.exposure import patrol_exposure
from orchestration.resources.lakehouse import LocalLakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog

TZ = "America/Chicago"
WEEKS = ["2018-01-01", "2018-01-08"]
BOXES = {"1": (-87.70, -87.66), "2": (-87.66, -87.62), "3": (-87.62, -87.58)}
LAT0, LAT1 = 41.85, 41.88
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def write_spec(folder, residents: list) -> str:
    import geopandas as gpd

    tracts = gpd.GeoDataFrame({"tract": ["t1", "t2"], "residents": residents},
                              geometry=[shapely.box(-87.70, LAT0, -87.64, LAT1),
                                        shapely.box(-87.64, LAT0, -87.58, LAT1)],
                              crs=4326).to_crs(26916)  # UTM metres: the reader reprojects
    tracts.to_file(folder / "tracts.geojson", driver="GeoJSON")
    path = folder / "city.yaml"
    path.write_text("""name: city
table: incidents
fields:
  occurred_at: {column: date, format: iso8601, timezone: America/Chicago}
  category: {constant: robbery}
coordinates: {x: lon, y: lat}
study_area: {boundary: districts.geojson, id_field: id}
population: {file: tracts.geojson, population_field: residents, id_field: tract}
""")
    return str(path)


def fill_lake(lake: LocalLakehouse) -> None:
    geoms = [shapely.to_wkb(shapely.box(x0, LAT0, x1, LAT1)) for x0, x1 in BOXES.values()]
    districts = boundary_rows("districts", np.array(list(BOXES)), np.array(["North", "Centre", "South"]),
                              np.array(geoms, dtype=object))
    lake.overwrite("reference", "police_districts", districts)
    cells = study_area_cells(districts.column("geometry"), resolution=9)
    rng = np.random.default_rng(1)
    n = 600
    west = rng.random(n) < 0.7  # most crime in the west: patrols should follow it
    lon = np.where(west, rng.uniform(-87.70, -87.66, n), rng.uniform(-87.66, -87.58, n))
    lat = rng.uniform(LAT0, LAT1, n)
    t = pd.Timestamp(WEEKS[0], tz="UTC") - pd.to_timedelta(rng.uniform(1, 360, n), unit="D")
    incidents = pa.table({"source": ["city"] * n, "occurred_at": pa.array(t.floor("us"), pa.timestamp("us", tz="UTC")),
                          "h3": [h3.latlng_to_cell(y, x, 12) for x, y in zip(lon, lat)], "lon": lon, "lat": lat,
                          "category": ["robbery"] * n, "location_type": ["street"] * n})
    lake.overwrite("silver", "incidents", incidents)
    parent = {c: h3.cell_to_parent(c, 9) for c in incidents.column("h3").to_pylist()}
    counts = pd.Series(list(parent.values())).value_counts()
    expected = np.array([counts.get(c, 0) for c in cells.column("h3").to_pylist()], float) / 52
    for week in WEEKS:
        start = pd.Timestamp(week, tz="UTC")
        prof = shift_profile(incidents, cells, before=start, timezone=TZ)
        plan = patrol_plan(cells.column("h3"), expected, prof, week_start=start, capacity=6, timezone=TZ)
        extra = {"week": week, "model_name": "hotspot_lgbm", "model_version": "2", "method": "learned",
                 "incidents_version": lake.version("silver", "incidents"),
                 "police_districts_version": lake.version("reference", "police_districts")}
        for k, v in extra.items():
            plan = plan.append_column(k, pa.array([v] * plan.num_rows,
                                                  pa.int64() if k.endswith("s_version") else pa.string()))
        lake.replace_where("gold", "patrol_plan", plan, f"week = {sql_literal(week)}", evolve_schema=True)


@pytest.fixture
def resources(tmp_path):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    fill_lake(lake)
    return {"lakehouse": lake, "reports": Reports(home=str(tmp_path / "home")),
            "sources": SourceCatalog(spec_paths=[write_spec(tmp_path, [6000, 3000])])}


def test_two_weeks_audited_with_population_and_provenance(resources, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    for week in WEEKS:
        res = dg.materialize([patrol_exposure], resources=resources, partition_key=week, instance=instance,
                             run_config=QUIET)
        assert res.success
    meta = res.asset_materializations_for_node("patrol_exposure")[0].metadata
    out = resources["lakehouse"].read("gold", "patrol_exposure").to_pandas()
    assert sorted(out["week"].unique()) == WEEKS and len(out) == 2 * 3 * 22
    sums = out.groupby(["week", "scope", "shift"], dropna=False)["patrol_share"].sum()
    assert np.allclose(sums, 1.0)
    week = out[(out["week"] == WEEKS[1]) & (out["scope"] == "week")].set_index("area_id")
    assert week["patrol_cell_shifts"].sum() == 21 * 6
    assert week.loc["1", "crime_share"] > 0.6  # the west district recorded most of the crime
    # residents by overlap: t1 (6,000) is two thirds district 1, a third 2; t2 (3,000) a third 2, two thirds 3
    assert week["population"].tolist() == pytest.approx([4000, 3000, 2000], rel=0.01)
    assert np.isfinite(week["gini_per_capita"]).all() and 0 <= week["gini"].iloc[0] <= 1
    assert (week["patrol_plan_version"] == resources["lakehouse"].version("gold", "patrol_plan")).all()
    assert (week["model_name"] == "hotspot_lgbm").all() and (week["incidents_version"] == 0).all()
    assert meta["gini"].value == pytest.approx(week["gini"].iloc[0])
    png = tmp_path / "home" / "reports" / "hotspots" / f"exposure_{WEEKS[1]}.png"
    assert png.stat().st_size > 10_000 and meta["plot"].value == str(png)


def test_a_bad_population_count_fails_naming_the_row(resources, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    resources["sources"] = SourceCatalog(spec_paths=[write_spec(bad, [6000, -5])])
    res = dg.materialize([patrol_exposure], resources=resources, partition_key=WEEKS[0], raise_on_error=False,
                         run_config=QUIET)
    assert not res.success
    failure = [e for e in res.all_events if e.is_step_failure][0]
    message = failure.step_failure_data.error.message
    assert "t2: field 'residents' is -5" in message and "tracts.geojson" in message


@pytest.mark.parametrize("edit, match", [
    (lambda text: text.replace("tracts.geojson", "gone.geojson"), "gone.geojson: file not found"),
    (lambda text: text.replace("population_field: residents", "population_field: pop2020"),
     r"no field 'pop2020'; fields are \['tract', 'residents'\]"),
])
def test_population_layer_errors_name_the_file_and_field(tmp_path, edit, match):
    from jobs.ingest.spec import SpecError, load_spec
    from orchestration.hotspots.exposure import read_population

    path = tmp_path / "city.yaml"
    write_spec(tmp_path, [10, 20])
    assert read_population(load_spec(path))[1].tolist() == [10.0, 20.0]
    path.write_text(edit(path.read_text()))
    with pytest.raises(SpecError, match=match):
        read_population(load_spec(path))
