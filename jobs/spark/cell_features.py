"""Spark mode of gold ``cell_features``: H3 parent cells with a halo ring, the unchanged kernel per group.

The study cells are grouped by an H3 parent (:func:`parent_resolution`: the
finest parent level with at most ``4 x partitions`` parents, so groups are few
but several). Each group gets its own cells, a halo of every study cell within
:func:`halo_rings` grid steps of them (wide enough for the k-ring sums, the
quartic kernel at its bandwidth and the near-repeat radius), the incidents and
``extra_counts`` rows of those cells; one ``cogroup`` + ``applyInArrow`` task
runs :func:`jobs.grid.cell_features.cell_features` on own + halo cells and keeps
its own cells' rows. Tasks write Parquet files and the driver commits them in
one Delta transaction (:mod:`jobs.spark.delta`).

What the kernel would otherwise decide from the data it sees is decided once on
the driver, from all the data, and passed to every task in the resolved
:class:`jobs.grid.params.CellFeatureParams` (the rule of
:func:`jobs.grid.cell_features.resolve_params`):

- the category and location-type vocabularies (``categories``, ``location_types``);
- the kernel bandwidth (its default reads the median cell area of all cells);
- the output period span (``start``/``end``), and the first history period: the
  kernel's long-run rates (``rate_all``) divide by the periods since the earliest
  incident, so each task is started at that period (``start``) and its earlier
  rows are dropped.

One thing stays per task: the kernel projects cells and incidents to metres
about the mean of the cells it is given (azimuthal equidistant). Distances of a
few hundred metres then differ between the whole study area and a group by
about (r/R)^2/6 of their length (r: distance to the centre, R: Earth's radius),
about 1e-6 for a city, which the quartic weight's slope near the bandwidth
magnifies: the ``kde_*`` columns agree within 1e-5 of the column's largest value
(7.8e-7 measured) rather than bit for bit; every other column is equal
(``tests/jobs/spark/test_spark_cell_features.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.grid.cell_features import (GridCells, _resolved, cell_features, output_span, period_grid, resolve_cells,
                                     resolve_events, timestamps_ns)
from jobs.grid.cells import cells_to_uint64, parent_uint64
from jobs.grid.params import CellFeatureParams
from jobs.spark.arrow import spark_schema
from jobs.spark.delta import FILES_SCHEMA, commit_files, write_task_files

ROWS = pa.schema([("part", pa.string()), ("kind", pa.string()), ("h3", pa.string()), ("t_ns", pa.int64()),
                  ("lon", pa.float64()), ("lat", pa.float64()), ("category", pa.string()),
                  ("location_type", pa.string())])
EXTRA = pa.schema([("part", pa.string()), ("name", pa.string()), ("h3", pa.string()), ("t_ns", pa.int64()),
                   ("value", pa.float64())])


def halo_rings(resolution: int, *, k_ring: int, bandwidth_m: float, near_repeat_m: float) -> int:
    """Grid steps that reach every study cell a cell's features read.

    Ring sums read ``k_ring`` steps; the quartic kernel reads centroids within
    ``bandwidth_m``; near-repeat reads incidents within ``near_repeat_m`` of the
    centroid, which lie in cells whose centroid is at most one circumradius
    (= edge length) further. Cells ``d`` steps apart are at least ``1.5 d``
    edge lengths apart (centroid spacing ``sqrt(3) e``, ``sqrt(3)/2`` of it
    across a ring's side); edges are taken at 80% of the resolution's average
    for H3's distortion, as :func:`jobs.spark.fusion.partition_resolution` does.
    """
    import h3

    edge = 0.8 * h3.average_hexagon_edge_length(resolution, unit="m")
    reach = max(float(bandwidth_m), float(near_repeat_m) + 1.25 * edge / 0.8)  # circumradius, 25% margin
    return max(int(k_ring), int(math.ceil(reach / (1.5 * edge))))


def parent_resolution(cells: np.ndarray, resolution: int, partitions: int) -> int:
    """Finest H3 level above ``resolution`` with at most ``4 x partitions`` parents of ``cells`` (uint64)."""
    for res in range(resolution - 1, -1, -1):
        if len(np.unique(parent_uint64(cells, res))) <= 4 * partitions:
            return res
    return 0


def cell_groups(cells_h3: Sequence[str], resolution: int, halo: int, parent_res: int) -> pa.Table:
    """``(part, h3, own)``: every study cell its parent group needs, own cells and halo cells."""
    import h3

    study = set(cells_h3)
    rows: dict[tuple[str, str], bool] = {}
    for c in cells_h3:
        part = h3.cell_to_parent(c, parent_res)
        rows[(part, c)] = True
        for d in h3.grid_disk(c, halo):
            if d in study and (part, d) not in rows:
                rows[(part, d)] = False
    parts, h3s = zip(*rows) if rows else ((), ())
    return pa.table({"part": pa.array(parts, pa.string()), "h3": pa.array(h3s, pa.string()),
                     "own": pa.array(list(rows.values()), pa.bool_())})


def _cells_at(h3col, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(valid mask, cell string at ``resolution``) of an h3 column at ``resolution`` or finer."""
    import h3

    raw, valid = cells_to_uint64(h3col)
    par = np.zeros_like(raw)
    par[valid] = parent_uint64(raw[valid], resolution)
    return valid, np.array([h3.int_to_str(int(v)) if ok else None for v, ok in zip(par, valid)], dtype=object)


@dataclass(frozen=True)
class _Plan:
    """What every task shares, decided once on the driver from all the data."""

    params: CellFeatureParams  # resolved: vocabularies and bandwidth fixed
    hist_start: pd.Timestamp  # first history period: each task starts there (rate_all's denominator)
    end: pd.Timestamp  # last output period
    out_start_us: int  # first output period, microseconds: earlier rows of a task are history only
    has: tuple[str, ...]  # optional incident columns present
    extras: tuple[str, ...] | None  # extra_counts names (None: no hook)
    schema: pa.Schema  # of the output rows


def spark_cell_features(spark, incidents: pa.Table, cells: pa.Table | pa.Array | Sequence[str], out_uri: str,
                        params: CellFeatureParams | None = None, *, start=None, end=None,
                        extra_counts: Mapping[str, pa.Table] | None = None, partitions: int = 8,
                        parent_res: int | None = None, storage_options: dict | None = None,
                        commit_metadata: Mapping[str, str] | None = None) -> int:
    """Build gold ``cell_features`` on Spark; the rows of :func:`jobs.grid.cell_features.cell_features`.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session (``orchestration.resources.compute.Compute.spark()``).
    incidents, cells, params, start, end, extra_counts
        The arguments of :func:`jobs.grid.cell_features.cell_features`, same meaning and defaults.
    out_uri : str
        Delta table the rows replace (one commit).
    partitions : int
        Spark partitions; also sizes the groups (:func:`parent_resolution`).
    parent_res : int, optional
        H3 level of the groups instead of :func:`parent_resolution`.
    storage_options : dict, optional
        Object-store options of ``out_uri``.
    commit_metadata : mapping, optional
        Written into the commit info of the commit that replaces the rows (the
        ``cell_features`` asset stores the resolved parameters there).

    Returns
    -------
    int
        The Delta version committed.

    Notes
    -----
    Partitioning by H3 parent cell with a halo, as Sedona/GeoSpark's spatial
    partitioning with duplicated boundary objects (Yu et al. 2015, "GeoSpark: a
    cluster computing framework for processing large-scale spatial data").
    """
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer, got {partitions!r}")
    extras = dict(extra_counts or {})
    for name, tbl in extras.items():
        for col in ("h3", "period_start", "value"):
            if col not in tbl.column_names:
                raise ValueError(f"extra_counts[{name!r}] needs columns h3, period_start, value; "
                                 f"found {tbl.column_names}")
    plan, grid = _plan(incidents, cells, params, start, end, None if extra_counts is None else tuple(extras))
    p = plan.params
    # groups: own cells + halo ring
    halo = halo_rings(p.resolution, k_ring=p.k_ring, bandwidth_m=p.kernel_bandwidth_m, near_repeat_m=p.near_repeat_m)
    pres = parent_resolution(grid.index, p.resolution, partitions) if parent_res is None else int(parent_res)
    groups = cell_groups(grid.h3.to_pylist(), p.resolution, halo, pres).to_pandas()
    rows, ext = _shipped_rows(incidents, extras, groups, plan)
    metadata = dict(commit_metadata or {})
    if rows.num_rows == 0:
        return commit_files(out_uri, [], plan.schema, storage_options=storage_options, custom_metadata=metadata)
    sch = spark_schema(ROWS)
    left = spark.createDataFrame(rows.to_pandas(), schema=sch).repartition(partitions, "part")
    right = spark.createDataFrame(ext.to_pandas(), schema=spark_schema(EXTRA)).repartition(partitions, "part")
    out = left.groupBy("part").cogroup(right.groupBy("part")).applyInArrow(_task(plan), spark_schema(plan.schema))

    def write(batches):
        yield from write_task_files(batches, uri=out_uri, schema=plan.schema, storage_options=storage_options)

    files = [r.asDict() for r in out.mapInArrow(write, spark_schema(FILES_SCHEMA)).collect()]
    return commit_files(out_uri, files, plan.schema, storage_options=storage_options, custom_metadata=metadata)


def _plan(incidents: pa.Table, cells, params: CellFeatureParams | None, start, end,
          extras: tuple[str, ...] | None) -> tuple[_Plan, GridCells]:
    """What the kernel decides globally, decided here from all the data (module docstring)."""
    params = CellFeatureParams() if params is None else params
    grid = resolve_cells(cells, params.resolution)
    pg = period_grid(params.freq, params.anchor, params.timezone)
    ev = resolve_events(incidents, grid)
    p_out0, p_out1, p_lo = output_span(ev, pg, start, end)
    has = tuple(c for c in ("lon", "lat", "category", "location_type") if c in incidents.column_names)
    plan = _Plan(params=_resolved(params, grid, ev), hist_start=pd.Timestamp(int(pg.start_ns(p_lo)), tz="UTC"),
                 end=pd.Timestamp(int(pg.start_ns(p_out1)), tz="UTC"), out_start_us=int(pg.start_ns(p_out0)) // 1000,
                 has=has, extras=extras, schema=pa.schema([]))
    # the schema of the output, from the kernel itself on one cell and no incidents
    empty = ROWS.empty_table()
    probe = cell_features(_incidents(plan, empty["t_ns"], {c: empty[c] for c in ("h3", *has)}),
                          pa.array(grid.h3.to_pylist()[:1]), plan.params, start=plan.end, end=plan.end,
                          extra_counts=_extra_tables(plan, None))
    return replace(plan, schema=probe.schema), grid


def _incidents(plan: _Plan, t_ns, cols: dict) -> pa.Table:
    data = {"occurred_at": pa.array(t_ns, pa.int64()).cast(pa.timestamp("ns", tz="UTC")), "h3": cols["h3"]}
    for c in plan.has:
        data[c] = cols[c]
    return pa.table(data)


def _extra_tables(plan: _Plan, rows: pa.Table | None) -> dict[str, pa.Table] | None:
    if plan.extras is None:
        return None
    out = {}
    for name in plan.extras:
        r = rows.filter(pc.equal(rows["name"], name)) if rows is not None and rows.num_rows else EXTRA.empty_table()
        out[name] = pa.table({"h3": r["h3"], "period_start": r["t_ns"].cast(pa.timestamp("ns", tz="UTC")),
                              "value": r["value"]})
    return out


def _shipped_rows(incidents: pa.Table, extras: dict[str, pa.Table], groups: pd.DataFrame,
                  plan: _Plan) -> tuple[pa.Table, pa.Table]:
    """``(ROWS, EXTRA)``: each group's own and halo cells and the incidents and extra counts of those cells."""
    resolution = plan.params.resolution
    # incidents go to every group holding their cell (the merge drops those outside the study area)
    valid, cell = _cells_at(incidents["h3"], resolution)
    keep = np.flatnonzero(valid)
    inc = pd.DataFrame({"cell": cell[keep], "t_ns": timestamps_ns(incidents["occurred_at"])[keep]})
    for c in ("lon", "lat", "category", "location_type"):
        typ = pa.float64() if c in ("lon", "lat") else pa.string()
        inc[c] = (incidents[c].take(pa.array(keep)).cast(typ).to_pandas() if c in plan.has
                  else pd.Series([None] * len(keep), dtype="float64" if c in ("lon", "lat") else object))
    inc = inc.merge(groups[["part", "h3"]], left_on="cell", right_on="h3").drop(columns=["cell"])
    inc["kind"] = "incident"
    own = groups.assign(kind=np.where(groups["own"], "own", "halo")).drop(columns=["own"])
    rows = pd.concat([own, inc], ignore_index=True)
    rows = pa.Table.from_pandas(rows[ROWS.names], schema=ROWS, preserve_index=False)
    ext = []
    for name, tbl in extras.items():
        xvalid, xcell = _cells_at(tbl["h3"], resolution)
        t_ns = timestamps_ns(tbl["period_start"], f"extra_counts[{name!r}].period_start")
        x = pd.DataFrame({"cell": xcell, "t_ns": t_ns, "value": tbl["value"].cast(pa.float64()).to_pandas()})[xvalid]
        x = x.merge(groups[["part", "h3"]], left_on="cell", right_on="h3").drop(columns=["cell"])
        x["name"] = name
        ext.append(x)
    ext = (pa.Table.from_pandas(pd.concat(ext, ignore_index=True)[EXTRA.names], schema=EXTRA, preserve_index=False)
           if ext else EXTRA.empty_table())
    return rows, ext


def _task(plan: _Plan):
    """The ``applyInArrow`` body: the kernel on a group's own + halo cells, keeping its own cells' output rows."""
    def kernel(left: pa.Table, right: pa.Table) -> pa.Table:
        cells_of = left.filter(pc.not_equal(left["kind"], "incident"))
        mine = set(left.filter(pc.equal(left["kind"], "own"))["h3"].to_pylist())
        if not mine:
            return plan.schema.empty_table()
        found = left.filter(pc.equal(left["kind"], "incident"))
        table = cell_features(_incidents(plan, found["t_ns"], {c: found[c] for c in ("h3", *plan.has)}),
                              pa.array(sorted(cells_of["h3"].to_pylist()), pa.string()), plan.params,
                              start=plan.hist_start, end=plan.end, extra_counts=_extra_tables(plan, right))
        starts = table["period_start"].cast(pa.int64())
        own_rows = pc.and_(pc.is_in(table["h3"], pa.array(sorted(mine), pa.string())),
                           pc.greater_equal(starts, plan.out_start_us))
        return table.filter(own_rows).select(plan.schema.names).cast(plan.schema)

    return kernel
