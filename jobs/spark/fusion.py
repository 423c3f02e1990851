"""Spark mode of the fusion kernels: the same kernels per partition, SedonaDB inside each task.

- ``events`` is row-local: each silver table is read from its snapshot's files,
  and every Spark partition goes through :func:`jobs.fusion.events.events_from`
  (``mapInArrow``) with the small tables (cell locations, districts, enrichment)
  shipped to the tasks.
- ``incident_context`` is partitioned by **H3 parent cell with a halo ring**:
  incidents go to the parent of their own point, candidates (CDR rows at their
  cell site, transactions, posts, detections) to their parent *and its k-ring*,
  at the finest resolution whose cells are wider than the reach of any relation
  (largest radius, or the largest cell-sector range for tower dumps). Every
  incident then meets every candidate that can match it in exactly one group, and
  :func:`jobs.fusion.context.incident_context` runs per group (``cogroup`` +
  ``applyInArrow``) with one metric CRS for all.

Tasks write Parquet files; the driver commits them in one Delta transaction
(:mod:`jobs.spark.delta`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.context import ContextSettings, incident_context, nearby_candidates, tower_candidates
from jobs.fusion.schemas import CANDIDATES, EVENTS, INCIDENT_CONTEXT
from jobs.fusion.events import ORIGINS, events_from
from jobs.spark.arrow import from_ipc, sedona_context, spark_schema, to_ipc
from jobs.spark.delta import FILES_SCHEMA, commit_files, read_delta, write_task_files

def _commit(df, uri: str, schema: pa.Schema, storage_options: dict | None) -> int:
    so = storage_options

    def write(batches):
        yield from write_task_files(batches, uri=uri, schema=schema, storage_options=so)

    files = [r.asDict() for r in df.mapInArrow(write, spark_schema(FILES_SCHEMA)).collect()]
    return commit_files(uri, files, schema, storage_options=storage_options)


# -- events ------------------------------------------------------------------------

def spark_events(spark, tables: dict[str, str], out_uri: str, *, cells: pa.Table | None = None,
                 boundaries: pa.Table | None = None, enrichment: pa.Table | None = None, tolerance_m: float = 250.0,
                 partitions: int = 8, storage_options: dict | None = None) -> int:
    """Build gold ``events`` on Spark from silver Delta tables (origin -> table URI); return the Delta version.

    ``cells`` is :func:`jobs.fusion.events.cell_locations` computed once on the driver.
    """
    unknown = set(tables) - set(ORIGINS)
    if unknown:
        raise ValueError(f"unknown events origin(s) {sorted(unknown)}; expected {', '.join(ORIGINS)}")
    small = {"cells": to_ipc(cells), "boundaries": to_ipc(boundaries), "enrichment": to_ipc(enrichment)}
    frames = []
    for origin, uri in tables.items():
        def kernel(batches, origin=origin):
            shipped = {k: from_ipc(v) for k, v in small.items()}
            parts = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
            if not parts:
                return
            out = events_from(origin, pa.concat_tables(parts), ctx=sedona_context(), boundaries=shipped["boundaries"],
                              cells=shipped["cells"], enrichment=shipped["enrichment"], tolerance_m=tolerance_m)
            yield from out.to_batches()

        df = read_delta(spark, uri, storage_options=storage_options).repartition(partitions)
        frames.append(df.mapInArrow(kernel, spark_schema(EVENTS)))
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return _commit(out, out_uri, EVENTS, storage_options)


# -- incident context ------------------------------------------------------------------

def partition_resolution(reach_m: float) -> int:
    """Finest H3 resolution whose cells (edge length, 80% for distortion) are wider than ``reach_m``."""
    import h3

    for res in range(12, -1, -1):
        if 0.8 * h3.average_hexagon_edge_length(res, unit="m") >= reach_m:
            return res
    raise ValueError(f"reach {reach_m} m is wider than any H3 cell; lower the context radii")


def _parts(lon: np.ndarray, lat: np.ndarray, res: int, halo: int) -> tuple[np.ndarray, np.ndarray]:
    """(row index, partition key) pairs: each point's parent cell, and its k-ring when ``halo`` > 0."""
    import h3

    from jobs.geo.points import h3_cells

    cells = h3_cells(lon, lat, res).to_numpy(zero_copy_only=False)
    rows, keys, ring = [], [], {}
    for i, c in enumerate(cells):
        if c is None:
            continue
        if halo:
            if c not in ring:
                ring[c] = sorted(h3.grid_disk(c, halo))
            for k in ring[c]:
                rows.append(i)
                keys.append(k)
        else:
            rows.append(i)
            keys.append(c)
    return np.asarray(rows, dtype=np.int64), np.asarray(keys, dtype=object)


def spark_incident_context(spark, incidents: pa.Table, out_uri: str, *, cdr_uri: str | None = None,
                           cell_sites: pa.Table | None = None, transactions_uri: str | None = None,
                           posts_uri: str | None = None, detections_uri: str | None = None,
                           places: pa.Table | None = None, mentions: pa.Table | None = None,
                           settings: ContextSettings | None = None, metric_crs: str, partitions: int = 8,
                           storage_options: dict | None = None) -> int:
    """Build gold ``incident_context`` on Spark (H3 parent cells with a halo ring); return the Delta version.

    ``incidents`` (the scoped incidents), ``cell_sites``/``places`` and ``mentions`` (the gold events of
    kind ``osint_mention``, a few per post) are small and come from the driver; the feeds are read on the
    executors from their snapshots' files.
    """
    s = settings or ContextSettings()
    max_range = float(pc.max(cell_sites["range_m"]).as_py() or 0.0) if cell_sites is not None and \
        "range_m" in cell_sites.column_names else 0.0
    res = partition_resolution(s.reach_m(max_range))
    shipped_cells = to_ipc(cell_sites.select([c for c in ("cell_id", "lon", "lat", "h3", "geometry")
                                            if c in cell_sites.column_names])) if cell_sites is not None else None
    shipped_places = to_ipc(places)
    cand_schema = CANDIDATES.append(pa.field("part", pa.string()))

    def with_parts(table: pa.Table, halo: int) -> pa.Table:
        rows, keys = _parts(table["lon"].to_numpy(zero_copy_only=False), table["lat"].to_numpy(zero_copy_only=False),
                            res, halo)
        return table.take(pa.array(rows)).append_column("part", pa.array(keys, pa.string()))

    def make_candidates(kind):
        def kernel(batches):
            parts = [pa.Table.from_batches([b]) for b in batches if b.num_rows]
            if not parts:
                return
            t = pa.concat_tables(parts)
            if kind == "cdr":
                cand = tower_candidates(t, from_ipc(shipped_cells))
            else:
                cand = nearby_candidates(**{kind: t}, places=from_ipc(shipped_places))
            yield from with_parts(cand, 1).to_batches()
        return kernel

    cands = []
    for kind, uri in (("cdr", cdr_uri), ("transactions", transactions_uri), ("posts", posts_uri),
                      ("detections", detections_uri)):
        if uri is None:
            continue
        if kind == "cdr" and cell_sites is None:
            raise ValueError("tower dumps need cell_sites")
        df = read_delta(spark, uri, storage_options=storage_options).repartition(partitions)
        cands.append(df.mapInArrow(make_candidates(kind), spark_schema(cand_schema)))
    if mentions is not None and mentions.num_rows:
        named = with_parts(nearby_candidates(mentions=mentions), 1)
        cands.append(spark.createDataFrame(named.to_pandas(), schema=spark_schema(cand_schema)))
    inc = incidents.select(["incident_id", "occurred_at", "lon", "lat"])
    inc = inc.filter(pc.and_(pc.is_valid(inc["lon"]), pc.is_valid(inc["lat"])))
    inc = with_parts(inc, 0)
    if not cands or inc.num_rows == 0:
        return commit_files(out_uri, [], INCIDENT_CONTEXT, storage_options=storage_options)
    cand_df = cands[0]
    for c in cands[1:]:
        cand_df = cand_df.unionByName(c)
    inc_df = spark.createDataFrame(inc.to_pandas(), schema=spark_schema(inc.schema)).repartition(partitions)
    settings_, crs = s, metric_crs

    def kernel(left: pa.Table, right: pa.Table) -> pa.Table:
        if left.num_rows == 0 or right.num_rows == 0:
            return INCIDENT_CONTEXT.empty_table()
        right = right.drop_columns(["part"])
        tower = right.filter(pc.equal(right["relation"], "tower_dump"))
        nearby = right.filter(pc.not_equal(right["relation"], "tower_dump"))
        return incident_context(left.drop_columns(["part"]), tower=tower, nearby=nearby,
                                cell_sites=from_ipc(shipped_cells), ctx=sedona_context(), settings=settings_, metric_crs=crs)

    out = inc_df.groupBy("part").cogroup(cand_df.groupBy("part")).applyInArrow(kernel, spark_schema(INCIDENT_CONTEXT))
    return _commit(out, out_uri, INCIDENT_CONTEXT, storage_options)
