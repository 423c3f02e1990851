"""Reference layers and the first gold table built on silver incidents."""


import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lakehouse.metadata import table_metadata
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.sources import SourceCatalog
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.retries import STORAGE_RETRY

OWNERS = ["team:data-engineering"]


@dg.asset(
    key="police_districts",
    retry_policy=STORAGE_RETRY,
    group_name="reference",
    kinds={"delta", "sedona"},
    owners=OWNERS,
    description=(
        "Study-area boundary polygons (police districts, precincts) read from each incident "
        "source's boundary layer (KML, GeoPackage...), one row per area: WKB geometry in "
        "EPSG:4326 and area in km2. Incidents get their district from these by ST_Contains."
    ),
)
def police_districts(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog) -> dg.MaterializeResult:
    from orchestration.ingest.boundaries import layer_name, read_boundaries

    layers = []
    for spec in sources.specs("incidents"):
        if spec.study_area is None:
            continue
        rows = read_boundaries(spec)
        if _stored_layer(lakehouse, layer_name(spec)) == _canonical(rows):
            # the same polygons: no commit, so the tables that follow the districts see no change
            result = lakehouse.describe("reference", "police_districts")
            layers.append(f"{layer_name(spec)} ({rows.num_rows} areas, unchanged)")
            continue
        result = lakehouse.replace_where("reference", "police_districts", rows, f"layer = {sql_literal(layer_name(spec))}")
        layers.append(f"{layer_name(spec)} ({rows.num_rows} areas)")
        context.log.info(f"{spec.name}: {rows.num_rows} boundary polygons from {spec.study_area.boundary}")
    if not layers:
        raise ValueError("no incident source spec declares a study_area: nothing to build police_districts from")
    table = lakehouse.read("reference", "police_districts")
    return dg.MaterializeResult(metadata={**table_metadata(result, table.drop_columns(["geometry"])),
                                          "layers": dg.MetadataValue.text(", ".join(layers))})


def _stored_layer(lakehouse: Lakehouse, layer: str) -> list[dict] | None:
    if not lakehouse.exists("reference", "police_districts"):
        return None
    return _canonical(lakehouse.read("reference", "police_districts", filters=[("layer", "=", layer)]))


def _canonical(rows: pa.Table) -> list[dict]:
    """A layer's rows in a fixed order, to compare a boundary file with what is stored."""
    return sorted(rows.to_pylist(), key=lambda r: str(r.get("area_id")))


@dg.asset(
    key="district_daily_counts",
    retry_policy=STORAGE_RETRY,
    group_name="gold",
    kinds={"delta"},
    owners=OWNERS,
    deps=["incidents"],
    description=(
        "Gold: incidents per source, district, offense category and UTC day, with the boundary layer "
        "(`layer`) the district id belongs to: ids repeat across cities (Chicago district 1, NYC precinct 1), "
        "so a join to `police_districts` takes both. The series behind spike detection and the simplest view "
        "a BI tool can chart."
    ),
)
@skip_unchanged()
def district_daily_counts(context: dg.AssetExecutionContext, lakehouse: Lakehouse,
                          sources: SourceCatalog) -> dg.MaterializeResult:
    from orchestration.ingest.boundaries import layer_name

    incidents = lakehouse.read("silver", "incidents", columns=["source", "district", "category", "occurred_at"])
    day = pc.cast(pc.floor_temporal(incidents["occurred_at"], unit="day"), pa.timestamp("us", tz="UTC"))
    grouped = (
        incidents.append_column("day", pc.cast(day, pa.date32()))
        .group_by(["source", "district", "category", "day"])
        .aggregate([("occurred_at", "count")])
        .rename_columns(["source", "district", "category", "day", "incidents"])
    )
    layers = {spec.name: layer_name(spec) for spec in sources.specs("incidents") if spec.study_area is not None}
    layer = pa.array([layers.get(s) for s in grouped["source"].to_pylist()], pa.string())
    table = grouped.add_column(1, "layer", layer).sort_by(
        [("source", "ascending"), ("district", "ascending"), ("day", "ascending")])
    result = lakehouse.overwrite("gold", "district_daily_counts", table)
    context.log.info(f"{table.num_rows:,} district-days from {incidents.num_rows:,} incidents")
    return dg.MaterializeResult(metadata=table_metadata(result, table))
