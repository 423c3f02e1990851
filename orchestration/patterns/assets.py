"""Crime pattern assets: near repeat (Knox), Gi* hot spots, crime series, repeats.

Figures (PNG) and GIS exports (GeoParquet) go to ``<CRIMEFUSION_HOME>/reports/patterns/``;
the series linkage model to ``<CRIMEFUSION_HOME>/models/series/``.
"""


import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from jobs.patterns.reports import slug, write_figures
from jobs.patterns.tables import ENRICHMENT_TABLE, last_days
from models.crime_series.store import SERIES_MODELS
from jobs.patterns.schemas import NEAR_REPEAT_SCHEMA, REPEATS_SCHEMA, SERIES_SCHEMA
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.automation import ON_SCHEDULE_TAG
from orchestration.platform.retries import STORAGE_RETRY

OWNERS = ["team:crime-analysis"]
#: The layer of the tables they write (the domain shows as the tag ``crimefusion/domain: patterns``).
GROUP = "gold"


def enriched_incidents(lakehouse: Lakehouse, incidents: pa.Table | None = None) -> pa.Table:
    """Silver incidents (``incidents`` when given) with their enrichment and an MO narrative
    (:func:`models.crime_series.linkage.linkable_incidents`)."""
    from models.crime_series.linkage import linkable_incidents

    if incidents is None:
        incidents = lakehouse.read("silver", "incidents").drop_columns(["geometry"])
    enrichment = lakehouse.read("silver", ENRICHMENT_TABLE) if lakehouse.exists("silver", ENRICHMENT_TABLE) else None
    return linkable_incidents(incidents, enrichment)


# -- near repeat ------------------------------------------------------------------

class NearRepeatConfig(dg.Config):
    sds: str = Field(default="0,1,200,400,800,inf", description="Spatial band edges in metres, bands [a, b).")
    tds: str = Field(default="0,1,3,7,14,inf", description="Temporal band edges in days, bands [a, b).")
    method: str = Field(default="manhattan", description="euclidean or manhattan distance.")
    nrep: int = Field(default=99, description="Date permutations of the Knox test.")
    seed: int = Field(default=1, description="Seed of the permutations.")
    metric_crs: str | None = Field(default=None, description="Metric CRS for distances; default the data's UTM zone.")
    window_days: int = Field(default=365, description="Use the last N days of each source (0: all history).")
    min_events: int = Field(default=20, description="Skip a source/category with fewer incidents.")


@dg.asset(
    key="near_repeat",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "near_repeat", NEAR_REPEAT_SCHEMA),
    kinds={"delta", "python"},
    owners=OWNERS,
    deps=["incidents"],
    description=(
        "Gold: Knox near-repeat test per source and offense category (Ratcliffe's Near Repeat "
        "Calculator conventions): observed and expected pairs, Knox ratio and permutation p-value per "
        "distance x time band, as a long table. Days are counted in the source's local time zone "
        "(spec occurred_at timezone), distances in the data's UTM zone. By default only the last "
        "365 days of each source are tested, so that a full run stays fast. A heat-table PNG per "
        "category is written to <CRIMEFUSION_HOME>/reports/patterns/."
    ),
)
@skip_unchanged()
def near_repeat(context: dg.AssetExecutionContext, config: NearRepeatConfig, lakehouse: Lakehouse,
                sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from jobs.patterns.near_repeat import knox_test, parse_band_edges
    from jobs.patterns.plots import knox_heatmap
    from jobs.patterns.crime_series import metric_xy
    from jobs.localtime import local_days
    from jobs.patterns.tables import knox_rows

    if config.method not in ("euclidean", "manhattan"):
        raise ValueError(f"near_repeat config: method must be 'euclidean' or 'manhattan', got {config.method!r}")
    sds, tds = parse_band_edges(config.sds, name="sds"), parse_band_edges(config.tds, name="tds")
    version = lakehouse.version("silver", "incidents")
    incidents = lakehouse.read("silver", "incidents", columns=["source", "category", "occurred_at", "lon", "lat"])
    incidents = incidents.filter(pc.and_(pc.is_valid(incidents["lon"]), pc.is_valid(incidents["lat"])))
    zones = {spec.name: spec.local_timezone for spec in sources.specs("incidents")}
    out_dir = reports.folder("patterns")
    parts, plots, skipped = [], [], []
    for source in sorted(set(incidents["source"].to_pylist())):
        rows, start, end = last_days(incidents.filter(pc.equal(incidents["source"], source)), config.window_days)
        tz = zones.get(source, "UTC")
        for category in sorted(set(rows["category"].to_pylist())):
            sub = rows.filter(pc.equal(rows["category"], category))
            if sub.num_rows < config.min_events:
                skipped.append(f"{source}/{category} ({sub.num_rows} incidents)")
                continue
            x, y, crs = metric_xy(sub["lon"].to_numpy(), sub["lat"].to_numpy(), config.metric_crs)
            res = knox_test(x, y, local_days(sub["occurred_at"], tz), sds=sds, tds=tds, method=config.method,
                            nrep=config.nrep, seed=config.seed)
            parts.append(knox_rows(res, source=source, category=category, seed=config.seed, method=config.method,
                                   metric_crs=crs, tz=tz, window_start=start, window_end=end,
                                   incidents_version=version))
            fig = knox_heatmap(res, title=f"{source} / {category}: Knox ratios, {res.n_events:,} incidents, "
                                          f"{res.nrep} permutations ({tz} days)")
            path = out_dir / f"near_repeat_{slug(source)}_{slug(category)}.png"
            plots.append((path, fig))
            context.log.info(f"{source}/{category}: {res.n_events:,} incidents, {res.n_pairs:,} pairs, "
                             f"{res.n_close_pairs:,} close pairs")
    if not parts:
        raise ValueError(f"near_repeat: no source/category has {config.min_events}+ located incidents; "
                         f"skipped: {skipped or 'no incidents'}")
    table = pa.concat_tables(parts)
    result = lakehouse.overwrite("gold", "near_repeat", table)
    first_md = write_figures(plots, "Knox heat table")
    significant = table.filter(pc.and_(pc.less_equal(table["p_value"], 0.05), pc.greater(table["knox_ratio"], 1.0)))
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table),
        "heat_table": dg.MetadataValue.md(first_md),
        "plots": dg.MetadataValue.json([str(p) for p, _ in plots]),
        "significant_cells": dg.MetadataValue.int(significant.num_rows),
        "incidents_version": dg.MetadataValue.int(version or 0),
        "skipped": dg.MetadataValue.json(skipped),
    })


# -- Gi* hot spots ----------------------------------------------------------------

class HotspotsGiConfig(dg.Config):
    resolution: int = Field(default=9, description="H3 resolution of the cells (9: ~0.1 km2).")
    k: int = Field(default=1, description="Neighbourhood ring distance of Gi*.")
    window_days: int = Field(default=365, description="Count the last N days of incidents (0: all history).")
    nperm: int = Field(default=999, description="Conditional permutations for p_sim.")
    seed: int = Field(default=1, description="Seed of the permutations.")
    fdr: bool = Field(default=True, description="Classify on Benjamini-Hochberg adjusted p-values.")
    alpha: float = Field(default=0.05, description="Level of the significant flag.")


@dg.asset(
    key="hotspots_gi",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "hotspots_gi"),  # GI_STAR_SCHEMA plus the layer and window columns
    kinds={"delta", "geoparquet"},
    owners=OWNERS,
    deps=["incidents", "police_districts"],
    description=(
        "Gold: Getis-Ord Gi* hot and cold spots of incident counts on H3 cells (resolution 9 by default) "
        "over the last 365 days, per boundary layer (city); the study area is every cell of the layer's "
        "police-district polygons (cells "
        "without incidents count 0). Classes as ArcGIS Hot Spot Analysis (99/95/90 %, FDR-adjusted "
        "permutation p-values). A map PNG and a GeoParquet export (EPSG:4326) of the cells are written "
        "to <CRIMEFUSION_HOME>/reports/patterns/."
    ),
)
@skip_unchanged()
def hotspots_gi(context: dg.AssetExecutionContext, config: HotspotsGiConfig, lakehouse: Lakehouse,
                reports: Reports) -> dg.MaterializeResult:
    from jobs.geo.points import h3_parent
    from jobs.patterns.gi_star import gi_star, hex_polygons, study_area_cells
    from jobs.patterns.plots import hotspot_map
    from orchestration.platform.gis import write_geoparquet
    from jobs.patterns.tables import gi_rows

    if not 0 <= config.resolution <= 12:
        raise ValueError(f"hotspots_gi config: resolution must be 0..12 (incidents are indexed at 12), got {config.resolution}")
    version = lakehouse.version("silver", "incidents")
    all_boundaries = lakehouse.read("reference", "police_districts")
    all_incidents = lakehouse.read("silver", "incidents", columns=["occurred_at", "h3"])
    all_incidents = all_incidents.filter(pc.is_valid(all_incidents["h3"]))
    parents = h3_parent(all_incidents["h3"].combine_chunks(), config.resolution)
    out_dir = reports.folder("patterns")
    parts, summary, maps = [], {}, []
    for layer in sorted(set(all_boundaries["layer"].to_pylist())):
        boundaries = all_boundaries.filter(pc.equal(all_boundaries["layer"], layer))
        area = study_area_cells(boundaries, config.resolution)
        if len(area) < 3:
            context.log.warning(f"{layer}: only {len(area)} cells at resolution {config.resolution}; skipped")
            continue
        in_layer = pc.is_in(parents, pa.array(area))
        incidents, start, end = last_days(all_incidents.filter(in_layer).append_column(
            "cell", parents.filter(in_layer)), config.window_days)
        if incidents.num_rows == 0:
            context.log.warning(f"{layer}: no incidents inside the study area; skipped")
            continue
        counts = incidents.select(["cell"]).group_by("cell").aggregate([("cell", "count")]) \
            .rename_columns(["h3", "count"])
        gi = gi_star(counts, k=config.k, study_area=area, nperm=config.nperm, seed=config.seed, fdr=config.fdr,
                     alpha=config.alpha)
        gi_cells = gi["h3"].to_pylist()
        polys = hex_polygons(gi_cells)
        n = gi.num_rows
        parts.append(gi_rows(gi, polys, layer=layer, resolution=config.resolution, k=config.k, window_start=start,
                             window_end=end, incidents_version=version))
        classes = gi["class"].to_numpy()
        n_hot, n_cold = int((classes > 0).sum()), int((classes < 0).sum())
        summary[layer] = {"cells": n, "incidents": incidents.num_rows, "hot": n_hot, "cold": n_cold,
                          "window": f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"}
        fig = hotspot_map(gi_cells, classes, boundaries,
                          f"{layer}: Gi* hot spots, H3 res {config.resolution}, k={config.k}, {incidents.num_rows:,} "
                          f"incidents ({start:%Y-%m-%d} to {end:%Y-%m-%d}): {n_hot} hot, {n_cold} cold cells")
        maps.append((out_dir / f"hotspots_gi_{slug(layer)}.png", fig))
        context.log.info(f"{layer}: {n:,} study-area cells, {n_hot} hot and {n_cold} cold spots")
    if not parts:
        raise ValueError("hotspots_gi: no boundary layer has incidents inside it; materialise police_districts "
                         "and incidents first")
    table = pa.concat_tables(parts)
    outside = all_incidents.num_rows - int(pc.sum(pc.is_in(parents, table["h3"])).as_py() or 0)
    result = lakehouse.overwrite("gold", "hotspots_gi", table)
    first_md = write_figures(maps, f"Gi* hot spot map, {next(iter(summary))}")
    geo_path = out_dir / "hotspots_gi.parquet"
    write_geoparquet(table, geo_path)
    n_hot = int(pc.sum(pc.greater(table["class"], 0)).as_py())
    n_cold = int(pc.sum(pc.less(table["class"], 0)).as_py())
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.drop_columns(["geometry"])),
        "map": dg.MetadataValue.md(first_md),
        "maps": dg.MetadataValue.json([str(path) for path, _ in maps]),
        "geoparquet": dg.MetadataValue.path(str(geo_path)),
        "hot_spots": dg.MetadataValue.int(n_hot),
        "cold_spots": dg.MetadataValue.int(n_cold),
        "by_layer": dg.MetadataValue.json(summary),
        "incidents_outside_study_areas": dg.MetadataValue.int(outside),
        "incidents_version": dg.MetadataValue.int(version or 0),
    })


# -- crime series -------------------------------------------------------------------

class CrimeSeriesConfig(dg.Config):
    method: str = Field(default="logistic", description="Pairwise model: logistic or gbm.")
    threshold: float = Field(default=0.5, description="Pairs with P(same series) >= threshold are linked.")
    max_distance_m: float = Field(default=3000.0, description="Blocking: largest distance of a candidate pair (m).")
    max_days: float = Field(default=90.0, description="Blocking: largest time between a candidate pair (days).")
    window_days: int = Field(default=365, description="Link incidents of the last N days (0: all history).")
    train_seed: int = Field(default=7, description="Seed of the synthetic training series and of the split.")
    train_series: int = Field(default=80, description="Series planted in the synthetic training set.")
    train_days: int = Field(default=90, description="Days of incidents the training series are planted over.")
    train_source: str | None = Field(default=None, description="Source whose incidents carry the training series; default the largest.")


@dg.asset(
    key="crime_series",
    retry_policy=STORAGE_RETRY,
    tags=ON_SCHEDULE_TAG,
    group_name=GROUP,
    metadata=lake_table("gold", "crime_series", SERIES_SCHEMA),
    kinds={"delta", "scikitlearn"},
    owners=OWNERS,
    deps=["incidents", "incident_enrichment"],
    description=(
        "Gold: incidents linked into crime series (incident_id, series_id, confidence). A pairwise "
        "linkage model (distance, days apart, same category / location type / weapon / offender, TF-IDF "
        "MO similarity) is trained on series planted by the synthetic generator over the silver "
        "incidents, with whole series held out (ROC AUC in metadata), then scores blocked candidate pairs "
        "of the last 365 days' enriched incidents; pairs above the threshold are merged (connected "
        "components). Needs MO narratives: silver/incident_enrichment or incidents.mo_text."
    ),
)
@skip_unchanged()
def crime_series(context: dg.AssetExecutionContext, config: CrimeSeriesConfig, lakehouse: Lakehouse,
                 reports: Reports) -> dg.MaterializeResult:
    from sklearn.metrics import roc_auc_score

    from jobs.patterns.crime_series import cluster_series
    from jobs.patterns.schemas import SERIES_SCHEMA
    from models.crime_series.linkage import label_pairs, score_pairs, synthetic_series, train_linkage
    from models.crime_series.store import save_linkage_model

    version = lakehouse.version("silver", "incidents")
    silver = lakehouse.read("silver", "incidents").drop_columns(["geometry"])
    if silver.num_rows == 0:
        raise ValueError("crime_series: silver incidents are empty; materialise incidents first")
    sizes = silver.group_by("source").aggregate([("incident_id", "count")]).sort_by([("incident_id_count", "descending")])
    train_source = config.train_source or sizes["source"][0].as_py()
    # distances are metric in the source's own UTM zone, so training and scoring stay within one city
    training, truth = synthetic_series(silver.filter(pc.equal(silver["source"], train_source)),
                                       seed=config.train_seed, n_series=config.train_series, days=config.train_days)
    report = train_linkage(training, truth, method=config.method, seed=config.train_seed,  # type: ignore[arg-type]
                           max_distance_m=config.max_distance_m, max_days=config.max_days,
                           threshold=config.threshold)
    summary = report.summary() | {"train_source": train_source}
    context.log.info(f"linkage model: held-out ROC AUC {report.heldout_auc:.4f} on {report.n_test_series} series "
                     f"planted over {train_source}")

    pairs = score_pairs(enriched_incidents(lakehouse, silver), report.model, threshold=config.threshold,
                        window_days=config.window_days, max_distance_m=config.max_distance_m, max_days=config.max_days)
    for source, n in pairs.by_source.items():
        context.log.info(f"{source}: {n['incidents']:,} enriched incidents, {n['pairs']:,} candidate pairs, "
                         f"{n['linked']:,} linked")
    ids, i, j, proba = pairs.incident_ids, pairs.i, pairs.j, pairs.proba
    table = cluster_series(ids, i, j, proba, threshold=config.threshold) if ids else SERIES_SCHEMA.empty_table()
    if not ids:
        context.log.warning("no incident has an MO narrative (silver/incident_enrichment or incidents.mo_text): "
                            "crime_series is empty")
    if lakehouse.exists("truth", "series") and len(i):
        y = label_pairs(ids, i, j, lakehouse.read("truth", "series"))
        if 0 < y.sum() < len(y):
            summary["lake_truth_auc"] = round(float(roc_auc_score(y, proba)), 4)
            context.log.info(f"AUC against the lake's planted series (truth/series): {summary['lake_truth_auc']}")
    summary.update({"incidents_version": version, "enriched_incidents": len(ids),
                    "candidate_pairs": int(len(i)), "linked_pairs": int((proba >= config.threshold).sum())})
    model_path = save_linkage_model(reports.models(SERIES_MODELS), report.model, summary)
    result = lakehouse.overwrite("gold", "crime_series", table)
    n_series = len(set(table["series_id"].to_pylist()))
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table),
        "heldout_auc": dg.MetadataValue.float(report.heldout_auc),
        "series_found": dg.MetadataValue.int(n_series),
        "linkage_report": dg.MetadataValue.json(summary),
        "model_path": dg.MetadataValue.path(str(model_path)),
        "incidents_version": dg.MetadataValue.int(version or 0),
    })


# -- repeats --------------------------------------------------------------------------

class RepeatsConfig(dg.Config):
    resolution: int = Field(default=12, description="H3 resolution of a repeat location (12: about one address).")
    radius_m: float = Field(default=0.0, description="If > 0: places are incidents within this many metres (chained) instead of cells.")
    min_incidents: int = Field(default=2, description="Smallest number of incidents of a repeat.")
    window_days: int = Field(default=365, description="Only the last N days (0: all history).")


@dg.asset(
    key="repeats",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "repeats", REPEATS_SCHEMA),
    kinds={"delta"},
    owners=OWNERS,
    deps=["incidents", "incident_enrichment"],
    description=(
        "Gold: repeat locations (same H3 res-12 cell, or within r metres), repeat victims and repeat "
        "offenders (victim_ids / offender_ids of the enrichment) with at least 2 incidents in the last "
        "365 days of each source: count, first and last time, shortest and median gap between consecutive incidents."
    ),
)
@skip_unchanged()
def repeats(context: dg.AssetExecutionContext, config: RepeatsConfig, lakehouse: Lakehouse) -> dg.MaterializeResult:
    from jobs.patterns.repeats import repeats as find_repeats
    from jobs.patterns.schemas import REPEATS_SCHEMA
    from models.crime_series.linkage import enrich

    incidents = lakehouse.read("silver", "incidents").drop_columns(["geometry"])
    if lakehouse.exists("silver", ENRICHMENT_TABLE):
        enrichment = lakehouse.read("silver", ENRICHMENT_TABLE)
        people = [c for c in ("victim_ids", "offender_ids") if c in enrichment.column_names]
        enriched = enrich(incidents.drop_columns([c for c in people if c in incidents.column_names]),
                          enrichment.select(["incident_id", *people]))
        # incidents without enrichment keep null person lists
        rest = incidents.filter(pc.invert(pc.is_in(incidents["incident_id"], enriched["incident_id"])))
        incidents = pa.concat_tables([enriched, rest.select(enriched.column_names).cast(enriched.schema)])
    # each source has its own window: feeds end on different dates
    parts = [find_repeats(incidents.filter(pc.equal(incidents["source"], source)), resolution=config.resolution,
                          radius_m=config.radius_m or None, min_incidents=config.min_incidents,
                          window_days=config.window_days or None)
             for source in sorted(set(incidents["source"].to_pylist()))]
    table = pa.concat_tables(parts) if parts else REPEATS_SCHEMA.empty_table()
    result = lakehouse.overwrite("gold", "repeats", table)
    by_kind = table.group_by("kind").aggregate([("key", "count")])
    counts = dict(zip(by_kind["kind"].to_pylist(), by_kind["key_count"].to_pylist()))
    context.log.info(f"repeats: {counts}")
    return dg.MaterializeResult(metadata={**table_metadata(result, table), "by_kind": dg.MetadataValue.json(counts)})
