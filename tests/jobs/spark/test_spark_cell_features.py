"""Spark mode of gold ``cell_features`` (H3 parent groups with a halo ring) gives the embedded rows, local[2]."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from jobs.grid.activity import activity_counts
from jobs.grid.cell_features import cell_features, period_grid, resolve_cells, resolve_params, timestamps_ns
from jobs.grid.params import COMMIT_KEY, CellFeatureParams
from jobs.spark.cell_features import cell_groups, halo_rings, parent_resolution, spark_cell_features
from models.hotspots.learned import default_feature_params

pytestmark = pytest.mark.slow
RES = 9
PARTITIONS = 3
#: the model's settings, plus the top-3 categories and location types (vocabularies a group alone would pick otherwise)
PARAMS = default_feature_params("W").replace(resolution=RES, max_categories=3, max_location_types=3)


@pytest.fixture(scope="module")
def inputs(small_world, sd):
    """Incidents with their res-12 cell, study cells (their res-9 cells and a ring of empty ones), feed activity."""
    from jobs.fusion.events import build_events
    from jobs.geo.points import h3_cells

    w = small_world
    inc = w["incidents"]
    inc = inc.append_column("h3", h3_cells(inc["lon"].to_numpy(), inc["lat"].to_numpy(), 12).cast(pa.string()))
    used = {h3.cell_to_parent(c, RES) for c in inc["h3"].to_pylist() if c is not None}
    cells = sorted({d for c in used for d in h3.grid_disk(c, 1)})
    ev = build_events({"cdr_events": w["cdr_events"], "transactions": w["transactions"]}, ctx=sd,
                      cell_sites=w["cell_sites"])
    extra = activity_counts(ev, resolution=RES, freq="W")
    pg = period_grid("W")
    last = int(pg.index_of(np.array([timestamps_ns(inc["occurred_at"]).max()]))[0])
    start = pd.Timestamp(int(pg.start_ns(last - 8)), tz="UTC")
    end = pd.Timestamp(int(pg.start_ns(last)), tz="UTC")
    return inc, pa.table({"h3": pa.array(cells, pa.string())}), extra, start, end


@pytest.fixture(scope="module")
def local_spark():
    from orchestration.resources.compute import spark_session

    spark = spark_session("local[2]", partitions=PARTITIONS)
    yield spark
    spark.stop()


def _sorted(t: pa.Table) -> pd.DataFrame:
    return t.to_pandas().sort_values(["h3", "period_start"]).reset_index(drop=True)


def test_local_mode_rows_equal_embedded(inputs, local_spark, tmp_path):
    inc, cells, extra, start, end = inputs
    params = PARAMS
    embedded = cell_features(inc, cells, params, start=start, end=end, extra_counts=extra)
    stored = {COMMIT_KEY: resolve_params(params, inc, cells).to_json()}
    version = spark_cell_features(local_spark, inc, cells, str(tmp_path / "cf"), params, start=start, end=end,
                                  extra_counts=extra, partitions=PARTITIONS, commit_metadata=stored)
    assert version == 0  # one commit for every task's file
    # the parameters ride in that commit, resolved as the driver resolved them for every task
    fixed = CellFeatureParams.from_json(DeltaTable(str(tmp_path / "cf")).history(1)[0][COMMIT_KEY])
    assert fixed.categories and fixed.location_types and fixed.kernel_bandwidth_m is not None
    spark = DeltaTable(str(tmp_path / "cf")).to_pyarrow_table()
    assert spark.schema.equals(embedded.schema)
    assert spark.num_rows == embedded.num_rows == cells.num_rows * 9
    a, b = _sorted(spark), _sorted(embedded)
    assert (a["h3"] == b["h3"]).all() and (a["period_start"] == b["period_start"]).all()
    # the data is non-trivial: several groups, incidents, history, vocabularies and feed activity in the rows
    assert b["target"].sum() > 100 and b["ring_roll_4"].sum() > 0 and b["near_repeat"].sum() > 0
    assert any(c.startswith("cat_") for c in b.columns) and any(c.startswith("loc_") for c in b.columns)
    assert b["cdr_activity_roll_4"].sum() > 0 and b["transaction_volume_roll_4"].sum() > 0
    smoothed = [c for c in b.columns if c.startswith("kde_")]
    for col in b.columns:
        if col in smoothed:
            # each task projects to metres about its own cells' centre: distances agree to ~1e-6 of their length,
            # and the quartic weight's slope near the bandwidth turns that into at most ~1e-5 of the column's scale
            x, y = a[col].to_numpy(np.float64), b[col].to_numpy(np.float64)
            scale = float(np.abs(y).max())
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * scale, err_msg=col)
        else:  # counts, windows, ring sums, near-repeat, shares, recency, calendar, targets: exact
            assert a[col].equals(b[col]), col
    assert b["kde_intensity"].sum() > 0


def test_groups_are_several_and_the_halo_reaches_every_feature(inputs):
    _, cells, _, _, _ = inputs
    grid = resolve_cells(cells, RES)
    params = PARAMS
    bw = max(400.0, 2.5 * float(np.sqrt(np.median(grid.area_km2) * 1e6)))
    halo = halo_rings(RES, k_ring=params.k_ring, bandwidth_m=bw, near_repeat_m=400.0)
    pres = parent_resolution(grid.index, RES, PARTITIONS)
    groups = cell_groups(grid.h3.to_pylist(), RES, halo, pres).to_pandas()
    own = groups[groups["own"]]
    assert own["h3"].is_unique and len(own) == cells.num_rows  # each cell is owned by exactly one group
    assert 2 <= own["part"].nunique() <= 4 * PARTITIONS
    # every study cell within the kernel bandwidth or near-repeat reach (+ one cell's radius) of an own cell is there
    edge = h3.average_hexagon_edge_length(RES, unit="m")
    reach = max(bw, 400.0 + 1.2 * edge)
    need = {p: set(g["h3"]) for p, g in groups.groupby("part")}
    xy, hs = grid.xy, grid.h3.to_pylist()
    from scipy.spatial import cKDTree

    tree = cKDTree(xy)
    for i, c in enumerate(hs):
        part = h3.cell_to_parent(c, pres)
        for j in tree.query_ball_point(xy[i], reach):
            assert hs[j] in need[part], (c, hs[j])


def test_bad_input_is_refused_like_the_kernel(inputs, local_spark, tmp_path):
    inc, cells, extra, start, end = inputs
    with pytest.raises(ValueError, match="extra_counts\\['bad'\\] needs columns"):
        spark_cell_features(local_spark, inc, cells, str(tmp_path / "x"), PARAMS, start=start, end=end,
                            extra_counts={"bad": pa.table({"h3": ["x"]})})
    with pytest.raises(ValueError, match="partitions"):
        spark_cell_features(local_spark, inc, cells, str(tmp_path / "x"), PARAMS, partitions=0)
    with pytest.raises(ValueError, match="before start"):
        spark_cell_features(local_spark, inc, cells, str(tmp_path / "x"), PARAMS, start=end, end=start)


@pytest.mark.integration
def test_asset_takes_the_spark_path_with_engine_spark(full_run, tmp_path):
    """The ``cell_features`` asset with ``compute.engine: spark`` writes the rows the embedded engine writes."""
    import shutil

    import dagster as dg

    from orchestration.hotspots import assets as hotspot_assets
    from orchestration.resources.compute import Compute
    from orchestration.resources.lakehouse import LocalLakehouse

    defs, _, result, base = full_run
    assert result.success
    asset = [a for a in dg.load_assets_from_modules([hotspot_assets]) if a.key.to_user_string() == "cell_features"]
    cfg = {"loggers": {"console": {"config": {"log_level": "WARNING"}}},
           "ops": {"cell_features": {"config": {"train_weeks": 6}}}}
    tables, metas = {}, {}
    for engine in ("embedded", "spark"):
        root = tmp_path / engine
        for layer, name in (("silver", "incidents"), ("reference", "police_districts"), ("gold", "events")):
            shutil.copytree(base / "lake" / layer / name, root / layer / name)
        lh = LocalLakehouse(root=str(root))
        compute = Compute(engine=engine, spark_master="local[2]", spark_partitions=PARTITIONS)
        res = dg.materialize(asset, resources={**defs.resources, "lakehouse": lh, "compute": compute}, run_config=cfg,
                             instance=dg.DagsterInstance.ephemeral())
        assert res.success
        tables[engine] = lh.read("gold", "cell_features")
        metas[engine] = res.asset_materializations_for_node("cell_features")[0].metadata
    spark, embedded = _sorted(tables["spark"]), _sorted(tables["embedded"])
    assert tables["spark"].schema.equals(tables["embedded"].schema)
    assert len(spark) == len(embedded) == metas["spark"]["n_cells"].value * 6
    assert embedded["target"].sum() > 0 and embedded["cdr_activity_roll_4"].sum() > 0
    for col in embedded.columns:
        if col.startswith("kde_"):
            y = embedded[col].to_numpy(np.float64)
            np.testing.assert_allclose(spark[col].to_numpy(np.float64), y, rtol=1e-5,
                                       atol=1e-5 * float(np.abs(y).max()), err_msg=col)
        else:
            assert spark[col].equals(embedded[col]), col
