"""Reference layers and the first gold table built on silver incidents."""


import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from jobs.schemas import BOUNDARIES, SOURCE_CATALOG
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.sources import SourceCatalog
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.retries import STORAGE_RETRY

OWNERS = ["team:data-engineering"]


@dg.asset(
    key="police_districts",
    retry_policy=STORAGE_RETRY,
    group_name="reference",
    metadata=lake_table("reference", "police_districts", BOUNDARIES),
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


@dg.asset(
    key="source_catalog",
    retry_policy=STORAGE_RETRY,
    group_name="reference",
    metadata=lake_table("reference", "source_catalog", SOURCE_CATALOG),
    kinds={"delta"},
    owners=OWNERS,
    description=(
        "Reference: one row per feed spec (source, canonical table, description, provenance, licence) with the "
        "IANA time zone its times are read in (the spec's `timezone`, else its occurred_at field's, else UTC). "
        "BI views join it to give every timestamp a local twin; rewritten only when a spec changes."
    ),
)
def source_catalog(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog) -> dg.MaterializeResult:
    rows = sorted(({"source": s.name, "table": s.table, "timezone": s.local_timezone, "description": s.description,
                    "provenance": s.provenance, "licence": s.licence} for s in sources.specs()),
                  key=lambda r: r["source"])
    table = pa.Table.from_pylist(rows, schema=SOURCE_CATALOG)
    if lakehouse.exists("reference", "source_catalog") and \
            lakehouse.read("reference", "source_catalog").select(SOURCE_CATALOG.names).to_pylist() == rows:
        result = lakehouse.describe("reference", "source_catalog")  # unchanged: no commit
    else:
        result = lakehouse.overwrite("reference", "source_catalog", table)
    zones = sorted({r["timezone"] for r in rows})
    context.log.info(f"{len(rows)} feeds; time zones {', '.join(zones)}")
    return dg.MaterializeResult(metadata={**table_metadata(result, table),
                                          "time_zones": dg.MetadataValue.text(", ".join(zones))})


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
    metadata=lake_table("gold", "district_daily_counts"),
    kinds={"delta"},
    owners=OWNERS,
    deps=["incidents"],
    description=(
        "Gold: incidents per source, district, offense category, UTC day (`day`) and local day (`local_day`, "
        "in the source's time zone, named in `timezone`), with the boundary layer (`layer`) the district id "
        "belongs to: ids repeat across cities (Chicago district 1, NYC precinct 1), so a join to "
        "`police_districts` takes both. A UTC day can span two local days, so it can have two rows. The series "
        "behind spike detection and the simplest view a BI tool can chart."
    ),
)
@skip_unchanged()
def district_daily_counts(context: dg.AssetExecutionContext, lakehouse: Lakehouse,
                          sources: SourceCatalog) -> dg.MaterializeResult:
    from orchestration.ingest.boundaries import layer_name

    from jobs.localtime import local_dates

    incidents = lakehouse.read("silver", "incidents", columns=["source", "district", "category", "occurred_at"])
    zones = {spec.name: spec.local_timezone for spec in sources.specs("incidents")}
    day = pc.cast(pc.floor_temporal(incidents["occurred_at"], unit="day"), pa.timestamp("us", tz="UTC"))
    local_day, timezone = local_dates(incidents["occurred_at"], incidents["source"], zones)
    grouped = (
        incidents.append_column("day", pc.cast(day, pa.date32())).append_column("local_day", local_day)
        .append_column("timezone", timezone)
        .group_by(["source", "district", "category", "day", "local_day", "timezone"])
        .aggregate([("occurred_at", "count")])
        .rename_columns(["source", "district", "category", "day", "local_day", "timezone", "incidents"])
    )
    layers = {spec.name: layer_name(spec) for spec in sources.specs("incidents") if spec.study_area is not None}
    layer = pa.array([layers.get(s) for s in grouped["source"].to_pylist()], pa.string())
    table = grouped.add_column(1, "layer", layer).sort_by(
        [("source", "ascending"), ("district", "ascending"), ("day", "ascending"), ("local_day", "ascending")])
    result = lakehouse.overwrite("gold", "district_daily_counts", table)
    context.log.info(f"{table.num_rows:,} district-days from {incidents.num_rows:,} incidents")
    return dg.MaterializeResult(metadata=table_metadata(result, table))
