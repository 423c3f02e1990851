"""Patrol exposure audit (#17 item 6): how each week's patrol plan spreads over the districts.

``patrol_exposure`` reads one week of gold ``patrol_plan`` and writes, per district, its share of the
week's patrolled cell-shifts (and of each shift's) against its share of the incidents recorded before
the week, per capita when the forecast source's spec declares a ``population`` layer, and the Gini of
exposure over districts (:mod:`jobs.accountability.exposure`). Also a PNG in reports/hotspots/
(``exposure_<week>.png``): the Gini over every week written so far, and the week's districts.

Partitioned by the same weeks as ``patrol_plan`` (``FORECAST_WEEKS``), one partition per plan, so that
re-planning a week re-audits that week only and the audit of a week always names the plan it audits
(``patrol_plan_version``). Each partition replaces its own rows (``week = <key>``). The incidents and
districts are read at the Delta versions the plan was made from (its provenance columns), so the
comparison is with the crime the planner knew. The Gini over time is the series of weekly rows, not a
separate table: the plot reads it back after each write.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
from pydantic import Field

from jobs.accountability.schemas import EXPOSURE_SCHEMA, WEEK_SCOPE
from orchestration.hotspots.inputs import (HotspotConfig, forecast_source, local_week_start, study_inputs, week_rows,
                                          with_provenance)
from orchestration.hotspots.partitions import FORECAST_WEEKS
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.platform.retries import STORAGE_RETRY
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog

OWNERS = ["team:crime-analysis"]
#: What the plan carries about its making, copied onto the audit's rows.
PLAN_PROVENANCE = ("model_name", "model_version", "method", "incidents_version", "police_districts_version")


class ExposureConfig(HotspotConfig):
    """:class:`HotspotConfig` plus the window of recorded crime the patrols are compared with."""

    crime_weeks: int = Field(52, ge=1, description=(
        "Weeks of recorded incidents before the plan's week that patrol shares are compared with (what the "
        "planner could know)."))


def read_population(spec) -> tuple[list[bytes], "pd.Series"] | None:
    """The spec's ``population`` layer as (WKB polygons in EPSG:4326, residents), or None when it declares
    none; a missing file, field or a bad count is a :class:`jobs.ingest.spec.SpecError` naming file, row
    and field."""
    import numpy as np
    import pyogrio

    from jobs.ingest.spec import SpecError

    pop = spec.population
    if pop is None:
        return None
    path = spec.confine(pop.resolve(spec.base_dir), "population.file")
    where = f"spec {spec.name!r}: population layer {path}"
    if not path.is_file():
        raise SpecError(f"{where}: file not found")
    try:
        frame = pyogrio.read_dataframe(path, layer=pop.layer)
        frame = frame.to_crs(4326) if frame.crs is not None else frame
    except Exception as exc:  # pyogrio's DataSourceError, GDAL's, pyproj's: name the file
        raise SpecError(f"{where}: not a readable vector layer: {exc}") from None
    fields = [c for c in frame.columns if c != frame.geometry.name]
    for field in (pop.population_field, pop.id_field):
        if field and field not in fields:
            raise SpecError(f"{where}: no field {field!r}; fields are {fields}")
    values = pd.to_numeric(frame[pop.population_field], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy(float)) | (values.to_numpy(float) < 0))
    if len(bad):
        row = int(bad[0])
        name = frame[pop.id_field].tolist()[row] if pop.id_field else f"row {row + 1}"
        raise SpecError(f"{where}: {name}: field {pop.population_field!r} is "
                        f"{frame[pop.population_field].tolist()[row]!r}, not a resident count (a number >= 0)")
    return list(frame.geometry.to_wkb()), values.astype(float)


def _population_files(context, kwargs) -> list:
    spec = forecast_source(kwargs["sources"], kwargs["config"].source)
    return [spec.population.resolve(spec.base_dir)] if spec.population is not None else []


@dg.asset(
    key="patrol_exposure",
    retry_policy=STORAGE_RETRY,
    group_name="gold",
    metadata=lake_table("gold", "patrol_exposure", EXPOSURE_SCHEMA),
    kinds={"delta"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["patrol_plan"],
    description=(
        "Gold: each district's exposure to the week's patrol plan, for the whole week and each 8-hour shift: "
        "share of patrolled cell-shifts against share of the incidents recorded in the `crime_weeks` before the "
        "week (`exposure_ratio`), per 1,000 residents when the spec declares a `population` layer, and the Gini "
        "of exposure over districts. A PNG (reports/hotspots/exposure_<week>.png) draws the Gini over the "
        "weeks and the week's districts. docs/accountability.md, \"Exposure\"."
    ),
)
@skip_unchanged(files=_population_files)
def patrol_exposure(context: dg.AssetExecutionContext, config: ExposureConfig, lakehouse: Lakehouse,
                    sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from jobs.accountability.exposure import ExposureParams, areal_population
    from jobs.accountability.exposure import patrol_exposure as exposure
    from jobs.accountability.plots import plot_exposure
    from jobs.ingest.spec import SpecError

    key = context.partition_key
    plan, plan_version, resolution = week_rows(lakehouse, "patrol_plan", key)  # the plan's cells, the served model's
    made = {c: plan.column(c)[0].as_py() for c in PLAN_PROVENANCE if c in plan.column_names}
    read = {k: v for k, v in made.items() if k.endswith("_version") and k != "model_version" and v is not None}
    incidents, _, districts, tz = study_inputs(lakehouse, sources, config, resolution=resolution, versions=read)
    week = local_week_start(key, tz)  # the plan's week starts on its Monday, local midnight
    try:
        layer = read_population(forecast_source(sources, config.source))
    except SpecError as exc:  # declared but unusable: per-capita figures would silently vanish
        raise dg.Failure(str(exc), allow_retries=False) from None
    population = None if layer is None else dict(zip(districts.column("area_id").to_pylist(),
                                                     areal_population(districts, *layer)))
    params = ExposureParams(crime_window_days=7.0 * config.crime_weeks)
    table = exposure(plan, incidents, districts, week_start=week, timezone=tz, params=params, population=population)
    provenance = {**made, **read, "patrol_plan_version": plan_version}
    table = with_provenance(table, provenance)
    result = lakehouse.replace_where("gold", "patrol_exposure", table, f"week = {sql_literal(key)}",
                                     evolve_schema=True)
    history = lakehouse.read("gold", "patrol_exposure", filters=[("scope", "=", WEEK_SCOPE)],
                             columns=["week", "scope", "area_id", "name", "patrol_share", "crime_share", "gini",
                                      "gini_per_capita"]).to_pandas()
    png = reports.folder("hotspots") / f"exposure_{key}.png"
    plot_exposure(history, key, timezone=tz).savefig(png, dpi=100)
    rows = table.to_pandas()
    wk = rows[rows["scope"] == WEEK_SCOPE]
    most = wk.sort_values("exposure_ratio", ascending=False).dropna(subset=["exposure_ratio"]).head(3)
    context.log.info(f"week {key}: {int(wk['patrol_cell_shifts'].sum())} cell-shifts over {len(wk)} districts, "
                     f"Gini {wk['gini'].iloc[0]:.3f}; most over-exposed against recorded crime: " +
                     ", ".join(f"{r['name']} x{r['exposure_ratio']:.2f}" for _, r in most.iterrows()))
    gini_pc = wk["gini_per_capita"].iloc[0]
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "gini": dg.MetadataValue.float(float(wk["gini"].iloc[0])),
        "gini_per_capita": dg.MetadataValue.text("no population layer" if pd.isna(gini_pc) else f"{gini_pc:.4f}"),
        "districts_patrolled": dg.MetadataValue.int(int((wk["patrol_cell_shifts"] > 0).sum())),
        "districts_without_crime": dg.MetadataValue.int(int((wk["crimes"] == 0).sum())),
        "params": dg.MetadataValue.json(params.to_dict()),
        "plot": dg.MetadataValue.path(str(png)),
    })
