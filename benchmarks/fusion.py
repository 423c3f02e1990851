"""Fusion at scale: events, incident_context and cell_features from ~10 M synthetic CDRs over the Chicago incidents.

Prints rows/s of the embedded (SedonaDB) kernels, the same context join done the
usual way with geopandas (``sjoin`` within sector polygons + pandas merge on cell
and time; ``sjoin`` ``dwithin`` for transactions), the nearest police district of
every cell site and in-scope incident by SedonaDB ``ST_KNN``
(:func:`jobs.geo.areas.nearest_areas`) against geopandas ``sjoin_nearest``, each
with its ratio, the weekly ``cell_features`` table (78 weeks, with the events'
activity), and embedded vs Spark local[2] times on the same data (Spark reads
Delta copies of the tables; ``cell_features`` has no Spark path).

    .venv/bin/python benchmarks/fusion.py --quick        # scale 2.5, ~1 M CDR rows
    .venv/bin/python benchmarks/fusion.py                # scale 26, ~10 M CDR rows
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chicago_data import CSV, data_path  # noqa: E402

RENAME = {"record_id": "event_id", "a_number": "caller", "b_number": "callee", "event_type": "kind", "cgi": "cell_id"}


def silver_like(scale: float, seed: int):
    from jobs.synth import build, generate, iter_cdr
    from jobs.synth.incidents import from_crimemapping

    raw = pv.read_csv(data_path(CSV), convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    incidents = from_crimemapping(raw)
    feeds = generate(incidents, seed=seed, scale=scale, include_cdr=False)
    chunks = [c.rename_columns([RENAME.get(n, n) for n in c.column_names]) for c in iter_cdr(build(incidents, seed=seed, scale=scale))]
    cdr = pa.concat_tables(chunks)
    cdr = cdr.append_column("source", pa.array(np.full(cdr.num_rows, "synthetic_cdr", dtype=object), pa.string()))
    cells = feeds.cell_sites.rename_columns(["geometry" if c == "sector_wkb" else c for c in feeds.cell_sites.column_names])
    from jobs.geo.points import h3_cells

    cells = cells.append_column("h3", h3_cells(cells["lon"].to_numpy(), cells["lat"].to_numpy()))
    tx = feeds.transactions.rename_columns(["occurred_at" if c == "booked_at" else c for c in feeds.transactions.column_names])
    tx = tx.append_column("source", pa.array(np.full(tx.num_rows, "synthetic_transactions", dtype=object), pa.string()))
    incidents = incidents.append_column("source", pa.array(np.full(incidents.num_rows, "chicago", dtype=object), pa.string()))
    incidents = incidents.append_column("h3", h3_cells(incidents["lon"].to_numpy(), incidents["lat"].to_numpy()))
    return incidents, cdr, cells, tx


def districts_table() -> pa.Table:
    """The 25 Chicago police districts as ``area_id, geometry`` (WKB, EPSG:4326)."""
    from benchmarks.chicago_data import load_districts

    geoms = load_districts()
    return pa.table({"area_id": [f"district_{i:02d}" for i in range(len(geoms))], "geometry": geoms})


def geopandas_nearest(lon, lat, districts: pa.Table, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """The usual way: geopandas ``sjoin_nearest`` of the points to the polygons in a metric CRS."""
    import geopandas as gpd
    import shapely

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs)
    polys = gpd.GeoDataFrame({"area_id": districts["area_id"].to_pylist()},
                             geometry=shapely.from_wkb(districts["geometry"].to_numpy(zero_copy_only=False)),
                             crs=4326).to_crs(crs)
    j = gpd.sjoin_nearest(pts, polys, how="left", distance_col="d")
    j = j.sort_values("area_id", kind="stable")
    j = j[~j.index.duplicated(keep="first")].sort_index()  # equally near polygons: the smaller id, as ST_KNN's kernel
    return j["area_id"].to_numpy(object), j["d"].to_numpy("float64")


def geopandas_context(inc, cdr, cells, tx, s, crs):
    """The usual way: geopandas sjoin for the sectors and the radius, pandas for cell and time."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    ig = gpd.GeoDataFrame(inc.select(["incident_id", "occurred_at"]).to_pandas(),
                          geometry=gpd.points_from_xy(inc["lon"].to_numpy(), inc["lat"].to_numpy()), crs=4326)
    sectors = gpd.GeoDataFrame({"cell_id": cells["cell_id"].to_pylist()},
                               geometry=shapely.from_wkb(cells["geometry"].to_numpy(zero_copy_only=False)), crs=4326)
    cover = gpd.sjoin(ig, sectors, predicate="within")[["incident_id", "occurred_at", "cell_id"]]
    c = cdr.select(["event_id", "cell_id", "start_time"]).to_pandas()
    m = cover.merge(c, on="cell_id")
    dt = (m["start_time"] - m["occurred_at"]).dt.total_seconds()
    dump = m[(dt >= -s.tower_before_s) & (dt <= s.tower_after_s)]
    t = tx.filter(pc.is_valid(tx["lon"]))
    tg = gpd.GeoDataFrame(t.select(["txn_id", "occurred_at"]).to_pandas().rename(columns={"occurred_at": "t"}),
                          geometry=gpd.points_from_xy(t["lon"].to_numpy(), t["lat"].to_numpy()), crs=4326).to_crs(crs)
    near = gpd.sjoin(ig.to_crs(crs), tg, predicate="dwithin", distance=s.txn_radius_m)
    dt = (near["t"] - near["occurred_at"]).dt.total_seconds()
    near = near[(dt >= -s.txn_before_s) & (dt <= s.txn_after_s)]
    return len(dump), len(near)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="scale 2.5 (~1 M CDRs) instead of 26 (~10 M)")
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-spark", action="store_true", help="skip the Spark local[2] comparison")
    args = ap.parse_args()
    scale = args.scale or (2.5 if args.quick else 26.0)

    import sedonadb

    from jobs.fusion.context import (ContextSettings, default_metric_crs, incident_context, incidents_in_window,
                                     nearby_candidates, tower_candidates)
    from jobs.fusion.events import build_events
    from jobs.geo.areas import nearest_areas
    from jobs.geo.points import local_metric_crs
    from jobs.grid.activity import activity_counts
    from jobs.grid.cell_features import cell_features, period_grid, timestamps_ns
    from jobs.grid.cells import study_area_cells
    from models.hotspots.learned import default_feature_params

    t = time.perf_counter()
    inc_all, cdr, cells, tx = silver_like(scale, args.seed)
    print(f"synthetic feeds at scale {scale}: {cdr.num_rows:,} CDR rows, {tx.num_rows:,} transactions, "
          f"{cells.num_rows:,} cells, {inc_all.num_rows:,} incidents ({time.perf_counter() - t:.1f} s, not timed below)")
    span = pc.min_max(cdr["start_time"]).as_py()
    inc = incidents_in_window(inc_all, span["min"], span["max"])
    crs, s, ctx = default_metric_crs(inc), ContextSettings(), sedonadb.connect()

    t = time.perf_counter()
    ev = build_events({"incidents": inc_all, "cdr_events": cdr, "transactions": tx}, ctx=ctx, cell_sites=cells)
    t_events = time.perf_counter() - t
    rows_in = inc_all.num_rows + cdr.num_rows + tx.num_rows
    print(f"embedded events: {ev.num_rows:,} rows from {rows_in:,} in {t_events:.2f} s = {rows_in / t_events:,.0f} rows/s")

    t = time.perf_counter()
    out = incident_context(inc, tower=tower_candidates(cdr, cells), nearby=nearby_candidates(transactions=tx),
                           cell_sites=cells, ctx=ctx, settings=s, metric_crs=crs)
    t_ctx = time.perf_counter() - t
    per = {r["relation"]: r["relation_count"] for r in out.group_by("relation").aggregate([("relation", "count")]).to_pylist()}
    print(f"embedded incident_context: {inc.num_rows:,} incidents x {cdr.num_rows + tx.num_rows:,} records -> {per} "
          f"in {t_ctx:.2f} s = {cdr.num_rows / t_ctx:,.0f} CDR rows/s")

    t = time.perf_counter()
    n_dump, n_near = geopandas_context(inc, cdr, cells, tx, s, crs)
    t_gpd = time.perf_counter() - t
    same = (n_dump, n_near) == (per.get("tower_dump", 0), per.get("transaction", 0))
    print(f"peer geopandas sjoin + pandas merge: tower_dump {n_dump:,}, transaction {n_near:,} in {t_gpd:.2f} s = "
          f"{cdr.num_rows / t_gpd:,.0f} CDR rows/s; same counts: {same}; SedonaDB kernel is {t_gpd / t_ctx:.1f}x faster")

    # the points events gives a district: every cell site, and the incidents in scope
    districts = districts_table()
    lon = np.concatenate([cells["lon"].to_numpy(zero_copy_only=False), inc["lon"].to_numpy(zero_copy_only=False)])
    lat = np.concatenate([cells["lat"].to_numpy(zero_copy_only=False), inc["lat"].to_numpy(zero_copy_only=False)])
    keep = ~np.isnan(lon) & ~np.isnan(lat)
    lon, lat = lon[keep], lat[keep]
    t = time.perf_counter()
    knn_ids, knn_d = nearest_areas(lon, lat, districts, ctx=ctx)
    t_knn = time.perf_counter() - t
    import shapely

    polys = shapely.from_wkb(districts["geometry"].to_numpy(zero_copy_only=False))
    centre = shapely.centroid(shapely.union_all(polys))
    t = time.perf_counter()
    gpd_ids, gpd_d = geopandas_nearest(lon, lat, districts, local_metric_crs(centre.x, centre.y))
    t_gpdn = time.perf_counter() - t
    print(f"embedded nearest district (ST_KNN): {len(lon):,} points x {districts.num_rows} districts in {t_knn:.2f} s = "
          f"{len(lon) / t_knn:,.0f} points/s; {int((knn_d > 0).sum()):,} outside every district")
    print(f"peer geopandas sjoin_nearest: {t_gpdn:.2f} s = {len(lon) / t_gpdn:,.0f} points/s; same district: "
          f"{(knn_ids == gpd_ids).mean():.4f}, max distance difference {np.abs(knn_d - gpd_d).max():.3g} m; "
          f"time ratio geopandas / SedonaDB ST_KNN {t_gpdn / t_knn:.2f} (above 1: SedonaDB faster)")

    # cell_features as the asset builds it (weekly, 78 weeks before the last incident's week, res 9)
    pg = period_grid("W")
    last = int(timestamps_ns(inc_all["occurred_at"]).max())
    origin = pd.Timestamp(int(pg.start_ns(pg.index_of(np.array([last]))[0])), tz="UTC")
    grid = study_area_cells(districts["geometry"], resolution=9)
    t = time.perf_counter()
    extra = activity_counts(ev.select(["origin", "occurred_at", "h3"]), resolution=9, freq="W")
    feats = cell_features(inc_all, grid, default_feature_params("W"), start=origin - pd.Timedelta(weeks=78),
                          end=origin - pd.Timedelta(weeks=1), extra_counts=extra)
    t_cf = time.perf_counter() - t
    print(f"embedded cell_features: {feats.num_rows:,} cell-weeks ({grid.num_rows:,} cells x 78 weeks, "
          f"{feats.num_columns} columns) from {inc_all.num_rows:,} incidents + {ev.num_rows:,} events in {t_cf:.2f} s "
          f"= {(inc_all.num_rows + ev.num_rows) / t_cf:,.0f} input rows/s")

    if args.no_spark:
        return
    from deltalake import DeltaTable, write_deltalake

    from jobs.fusion.events import cell_locations
    from jobs.spark.fusion import spark_events, spark_incident_context
    from orchestration.resources.compute import spark_session

    with tempfile.TemporaryDirectory() as d:
        for name, table in (("incidents", inc_all), ("cdr_events", cdr), ("transactions", tx)):
            write_deltalake(f"{d}/{name}", table, mode="overwrite")
        t = time.perf_counter()
        spark = spark_session("local[2]", partitions=8)
        t_start = time.perf_counter() - t
        try:
            t = time.perf_counter()
            spark_events(spark, {o: f"{d}/{o}" for o in ("incidents", "cdr_events", "transactions")}, f"{d}/events",
                         cells=cell_locations(cells, boundaries=None, ctx=ctx), partitions=8)
            t_sev = time.perf_counter() - t
            t = time.perf_counter()
            spark_incident_context(spark, inc, f"{d}/ctx", cdr_uri=f"{d}/cdr_events", cell_sites=cells,
                                   transactions_uri=f"{d}/transactions", settings=s, metric_crs=crs, partitions=8)
            t_sctx = time.perf_counter() - t
        finally:
            spark.stop()
        n_sev, n_sctx = DeltaTable(f"{d}/events").count(), DeltaTable(f"{d}/ctx").count()
    print(f"spark local[2] (session start {t_start:.1f} s): events {n_sev:,} rows in {t_sev:.2f} s "
          f"(embedded {t_events:.2f} s, {t_sev / t_events:.1f}x), incident_context {n_sctx:,} rows in {t_sctx:.2f} s "
          f"(embedded {t_ctx:.2f} s, {t_sctx / t_ctx:.1f}x); same counts: {(n_sev, n_sctx) == (ev.num_rows, out.num_rows)}")


if __name__ == "__main__":
    main()
