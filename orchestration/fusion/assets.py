"""Fusion assets (gold): ``events``, ``incident_context``, ``entity_links``, ``entities``, GeoParquet map layers.

Kernels live in ``jobs/fusion/``; the ``compute`` resource picks the engine:
``embedded`` runs them in-process on SedonaDB, ``spark`` runs the same kernels per
partition on ``compute.spark_master`` (``jobs/spark/fusion.py``) and commits the
tasks' files in one Delta transaction (``rebuilds.py``). What each asset rebuilds
when its inputs change is decided beside it: ``events_plan.py`` (events),
``context_plan.py`` (incident context), ``partials.py`` (entity statistics and link
evidence); ``inputs.py`` reads, ``exports.py`` writes the GIS layers and
``merges.py`` the Delta merges they share.
"""


import time

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from orchestration.fusion import context_plan, events_plan, exports, inputs, partials, rebuilds
from orchestration.fusion.inputs import fuzzy_name_links, person_bronze, silver, table_versions
from orchestration.fusion.merges import replace_incident_rows
from orchestration.lakehouse import changes
from jobs.fusion.schemas import ENTITIES, ENTITY_LINKS, EVENTS, INCIDENT_CONTEXT
from orchestration.lakehouse.metadata import head, lake_table, table_metadata
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.platform.retries import SPARK_RETRY, STORAGE_RETRY

OWNERS = ["team:fusion"]
#: The layer of the tables they write; the GIS export goes to ``reports`` (the domain shows as the tag
#: ``crimefusion/domain: fusion``).
GROUP = "gold"
SILVER = ("incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "incident_enrichment", "persons",
          "cameras", "detections")


def _engine_meta(compute: Compute, seconds: float, rows_in: int, rows_out: int) -> dict:
    return {"engine": dg.MetadataValue.text(compute.engine if compute.engine == "embedded" else
                                            f"spark ({compute.spark_master})"),
            "seconds": dg.MetadataValue.float(round(seconds, 3)),
            "rows_in": dg.MetadataValue.int(rows_in),
            "rows_out_per_s": dg.MetadataValue.float(round(rows_out / max(seconds, 1e-9), 1))}


@dg.asset(
    key="events", group_name=GROUP, kinds={"delta", "sedona", "spark"}, owners=OWNERS,
    metadata=lake_table("gold", "events", EVENTS),
    retry_policy=SPARK_RETRY,
    deps=["incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "incident_enrichment", "detections",
          "police_districts", "osint_mentions"],
    description=("Gold: every located, timed record of every source in one table (jobs/fusion/events.py): "
                 "incidents at their point, CDR rows at their serving cell site (not the phone), card/ATM "
                 "transactions at the terminal, geotagged posts, the places post texts name (osint_mention), "
                 "camera detections; district by ST_Contains "
                 "on SedonaDB, H3 res 12, and the entity ids each record names. Incremental: each run applies "
                 "the silver rows changed since the last (change data feed; orchestration/fusion/events_plan.py)."),
)
def events(context: dg.AssetExecutionContext, lakehouse: Lakehouse, compute: Compute) -> dg.MaterializeResult:
    t0 = time.perf_counter()
    boundaries = inputs.boundaries(lakehouse)
    origins = events_plan.present_origins(lakehouse)
    cell_sites = silver(lakehouse, "cell_sites")
    if "cdr_events" in origins and cell_sites is None:
        origins.remove("cdr_events")
        context.log.warning("cdr_events without cell_sites: CDR rows cannot be located and are left out of events")
    plan = events_plan.plan_events(lakehouse, origins)
    if plan is None:
        result, rows_in = rebuilds.rebuild_events(lakehouse, compute, origins, boundaries, cell_sites)
        seconds = time.perf_counter() - t0
        context.log.info(f"events (full build): {result.rows_total:,} rows from {rows_in:,} silver rows in "
                         f"{seconds:.1f} s")
        return dg.MaterializeResult(metadata={**table_metadata(result, head(lakehouse, "gold", "events")),
                                              "mode": dg.MetadataValue.text("full"),
                                              **_engine_meta(compute, seconds, rows_in, result.rows_total)})
    counts = _apply_events_plan(context, lakehouse, compute, plan, origins, boundaries, cell_sites)
    result = lakehouse.describe("gold", "events", counts["appended"])
    seconds = time.perf_counter() - t0
    return dg.MaterializeResult(metadata={
        **table_metadata(result, head(lakehouse, "gold", "events")),
        "mode": dg.MetadataValue.text("incremental"),
        **{k: dg.MetadataValue.int(v) for k, v in counts.items()},
        **_engine_meta(compute, seconds, sum(t.num_rows for t in plan.rows.values()), counts["appended"]),
    })


def _apply_events_plan(context: dg.AssetExecutionContext, lakehouse: Lakehouse, compute: Compute,
                       plan: events_plan.EventsPlan, origins: list[str], boundaries: pa.Table | None,
                       cell_sites: pa.Table | None) -> dict[str, int]:
    """Replace the events of the silver rows that changed; the counts of what was done."""
    from jobs.fusion.events import cell_locations, events_from

    if plan.empty:
        changes.save_watermarks(lakehouse, events_plan.CONSUMER, plan.versions)
        context.log.info("events: no silver row changed since the last build; nothing to do")
        return {"appended": 0, "deleted_keys": 0, "rebuilt_origins": 0, "refreshed_origins": 0}
    enrichment = silver(lakehouse, "incident_enrichment")
    cells = cell_locations(cell_sites, boundaries=boundaries, ctx=compute.sedona()) \
        if cell_sites is not None and "cdr_events" in origins else None
    posts = events_plan.mention_posts(lakehouse) if plan.refresh else None

    def build(origin: str, rows: pa.Table | None) -> pa.Table:
        rows = lakehouse.read(events_plan.origin_layer(origin), origin) if rows is None else rows
        return events_from(origin, rows, ctx=compute.sedona(), boundaries=boundaries, cells=cells,
                           enrichment=enrichment, posts=posts).cast(EVENTS)

    counts = events_plan.apply_plan(lakehouse, plan, build)
    context.log.info(f"events (incremental): {counts['appended']:,} events appended, "
                     f"{counts['deleted_keys']:,} changed keys replaced, "
                     f"{counts['rebuilt_origins']} origin slice(s) rebuilt, "
                     f"{counts['refreshed_origins']} compared with a rebuild")
    return counts


class IncidentContextConfig(dg.Config):
    all_incidents: bool = Field(default=False, description=(
        "Build context for every incident. Default: only incidents inside the span the CDRs cover "
        "(the synthetic window, ~4 weeks at the end of 2017), which keeps `make run` fast."))
    tower_before_min: int = Field(default=180, description="Tower dump: minutes before the incident.")
    tower_after_min: int = Field(default=60, description="Tower dump: minutes after the incident.")
    txn_radius_m: float = Field(default=300.0, description="Transactions: terminal within this distance.")
    txn_window_min: int = Field(default=120, description="Transactions: minutes before and after.")
    post_radius_m: float = Field(default=500.0, description="Geotagged posts within this distance.")
    post_before_h: int = Field(default=72, description="Posts: hours before (announcements).")
    post_after_h: int = Field(default=12, description="Posts: hours after (reports).")
    place_radius_m: float = Field(default=1000.0, description="Posts naming a place located within this distance.")
    place_after_h: int = Field(default=6, description="Posts naming a place: hours after.")
    camera_radius_m: float = Field(default=100.0, description="Camera detections within this distance.")
    camera_window_min: int = Field(default=30, description="Camera detections: minutes before and after.")
    mention_radius_m: float = Field(default=1000.0, description="Places post texts name (osint_mention events) "
                                                               "within this distance.")
    mention_before_h: int = Field(default=3, description="Mention events: hours before (announcements).")
    mention_after_h: int = Field(default=6, description="Mention events: hours after (reports).")

    def settings(self):
        from jobs.fusion.context import ContextSettings

        return ContextSettings(
            tower_before_s=self.tower_before_min * 60, tower_after_s=self.tower_after_min * 60,
            txn_radius_m=self.txn_radius_m, txn_before_s=self.txn_window_min * 60, txn_after_s=self.txn_window_min * 60,
            post_radius_m=self.post_radius_m, post_before_s=self.post_before_h * 3600, post_after_s=self.post_after_h * 3600,
            place_radius_m=self.place_radius_m, place_before_s=0, place_after_s=self.place_after_h * 3600,
            camera_radius_m=self.camera_radius_m, camera_before_s=self.camera_window_min * 60,
            camera_after_s=self.camera_window_min * 60, mention_radius_m=self.mention_radius_m,
            mention_before_s=self.mention_before_h * 3600, mention_after_s=self.mention_after_h * 3600)


@dg.asset(
    key="incident_context", group_name=GROUP, kinds={"delta", "sedona", "spark"}, owners=OWNERS,
    metadata=lake_table("gold", "incident_context", INCIDENT_CONTEXT),
    retry_policy=SPARK_RETRY,
    deps=["incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "detections", "events"],
    description=("Gold: per incident, the tower dump (phones served by a sector covering it, ST_Contains), "
                 "transactions at terminals, OSINT posts (geotag or named place), places post texts name "
                 "(osint_mention events) and camera detections within "
                 "radius and window (ST_DWithin in metres); contacts_present flags phones that called each "
                 "other from the scene. Default: incidents inside the CDR window only."),
)
def incident_context(context: dg.AssetExecutionContext, config: IncidentContextConfig, lakehouse: Lakehouse,
                     compute: Compute) -> dg.MaterializeResult:
    from jobs.fusion.context import default_metric_crs, place_gazetteer
    from jobs.fusion.context_windows import epoch_us

    t0 = time.perf_counter()
    s = config.settings()
    versions = {f"silver/{n}": lakehouse.version("silver", n)
                for n in ("incidents", "cell_sites", *context_plan.CONTEXT_TIMES) if lakehouse.exists("silver", n)}
    versions.update(context_plan.events_version(lakehouse))
    inc, span = context_plan.incident_scope(lakehouse, config.all_incidents)
    inc = inc.filter(pc.and_(pc.is_valid(inc["lon"]), pc.is_valid(inc["lat"])))
    cell_sites = silver(lakehouse, "cell_sites")
    posts_loc = silver(lakehouse, "osint_posts", ["place_name", "lon", "lat"])
    places = place_gazetteer(posts_loc) if posts_loc is not None else None
    has = {n: lakehouse.exists("silver", n) for n in ("cdr_events", "transactions", "osint_posts", "detections")}
    if not has["detections"]:
        context.log.info("no silver/detections table yet: camera detections are skipped")
    crs = default_metric_crs(inc) if inc.num_rows else "EPSG:4326"
    consumer = context_plan.context_consumer(s, config.all_incidents, crs)
    moved_places = context_plan.changed_places(lakehouse, places)
    plan = context_plan.plan_context(lakehouse, consumer, inc, span, s, moved_places)
    if span is not None:
        versions.update({"scope/start_us": epoch_us(span[0]), "scope/end_us": epoch_us(span[1])})
    mode = "full" if plan is None else "incremental"
    if plan is not None:
        fresh = context_plan.planned_context(lakehouse, plan, cell_sites=cell_sites, places=places, has=has,
                                             settings=s, metric_crs=crs, ctx=compute.sedona())
        if not fresh.num_rows and not plan.removed and not moved_places:
            changes.save_watermarks(lakehouse, consumer, versions)  # no commit unless an input moved
            context.log.info("incident_context: no incident's context changed")
            return dg.MaterializeResult(metadata={"mode": dg.MetadataValue.text("unchanged"),
                                                  "metric_crs": dg.MetadataValue.text(crs)})
        replace_incident_rows(lakehouse, plan.removed, fresh)
        result = lakehouse.describe("gold", "incident_context", fresh.num_rows)
        context.log.info(f"incident_context (incremental): {plan.incidents.num_rows:,} incident(s) rebuilt, "
                         f"{len(plan.removed):,} replaced or removed")
        inc = plan.incidents
    else:
        result = rebuilds.rebuild_context(lakehouse, compute, inc, cell_sites=cell_sites, places=places, has=has,
                                          settings=s, metric_crs=crs)
    if moved_places is None or moved_places:  # the gazetteer is new or a place moved
        lakehouse.overwrite("gold", "place_gazetteer", places if places is not None else
                            pa.table({"place_name": pa.array([], pa.string()), "lon": pa.array([], pa.float64()),
                                      "lat": pa.array([], pa.float64())}))
    changes.save_watermarks(lakehouse, consumer, versions)
    for name in versions:
        if name.startswith(("silver/", "gold/")):
            changes.enable_change_feed(lakehouse, *name.split("/", 1))
    seconds = time.perf_counter() - t0
    counts = _value_counts(lakehouse.read("gold", "incident_context", columns=["relation"]), "relation")
    context.log.info(f"incident_context ({mode}): {inc.num_rows:,} incidents, {result.rows_total:,} rows {counts} "
                     f"in {seconds:.1f} s")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, head(lakehouse, "gold", "incident_context")),
        **_engine_meta(compute, seconds, inc.num_rows, result.rows_total),
        "mode": dg.MetadataValue.text(mode),
        "incidents": dg.MetadataValue.int(inc.num_rows), "metric_crs": dg.MetadataValue.text(crs),
        "rows_per_relation": dg.MetadataValue.json(counts)})


def _value_counts(table: pa.Table, column: str) -> dict:
    """``{value: rows}`` of one column."""
    return {r[column]: r[f"{column}_count"] for r in table.group_by(column).aggregate([(column, "count")]).to_pylist()}


class EntityConfig(dg.Config):
    same_as_threshold: float = Field(default=0.8, description="Person same-as links below this score are dropped.")
    fuzzy_name_threshold: float = Field(default=0.85, description=(
        "Same-as links from raw names in bronze (Jaro-Winkler + date of birth) below this score are dropped."))


@dg.asset(
    key="entity_links", group_name=GROUP, kinds={"delta"}, owners=OWNERS,
    metadata=lake_table("gold", "entity_links", ENTITY_LINKS),
    retry_policy=STORAGE_RETRY,
    deps=["cdr_events", "persons", "transactions", "osint_posts", "detections", "incident_context", "osint_mentions"],
    description=("Gold: typed links (same-as, uses, called, transacted-with, mentioned, named-in-post, seen-near) "
                 "between entities, with evidence and confidence (jobs/fusion/entities.py documents every rule); "
                 "named-in-post links a post's author to the handles, phones and accounts its text names "
                 "(gold/osint_mentions, recomputed whole when it moved); "
                 "seen-near includes tracked vehicles -> their camera and vehicles near an incident <-> its "
                 "flagged tower-dump phones."),
)
def entity_links(context: dg.AssetExecutionContext, config: EntityConfig, lakehouse: Lakehouse,
                 sources: SourceCatalog, compute: Compute) -> dg.MaterializeResult:
    from jobs.fusion.entities import entity_links as build_links
    from jobs.fusion.names import with_fuzzy_links

    modes = _update_link_evidence(context, lakehouse, compute)
    # the links are a function of these tables alone: when none moved, the stored links stand
    consumer = changes.consumer_key("gold/entity_links", [config.same_as_threshold, config.fuzzy_name_threshold])
    versions = table_versions(lakehouse, [("gold", "cdr_link_partials"), ("silver", "persons"), ("silver", "detections"),
                                          ("gold", "incident_context"), ("gold", "osint_mentions"),
                                          ("silver", "osint_posts"),
                                          *[("gold", v[0]) for v in partials.RECORD_LINKS.values()],
                                          *person_bronze(sources)])
    if lakehouse.exists("gold", "entity_links") and changes.watermarks(lakehouse, consumer) == versions:
        context.log.info("entity_links: no input changed since the last build; the links stand")
        return dg.MaterializeResult(metadata={"mode": dg.MetadataValue.text("unchanged"),
                                              "evidence": dg.MetadataValue.json(modes)})
    gold = lambda name: lakehouse.read("gold", name) if lakehouse.exists("gold", name) else None  # noqa: E731
    persons = silver(lakehouse, "persons")
    record_partials = [gold(v[0]) for v in partials.RECORD_LINKS.values() if lakehouse.exists("gold", v[0])]
    mentions, authors = inputs.named_identifiers(lakehouse)
    links = build_links(cdr_partials=gold("cdr_link_partials"), persons=persons, context=gold("incident_context"),
                        mentions=mentions, posts=authors,
                        detections=silver(lakehouse, "detections"), same_as_threshold=config.same_as_threshold,
                        record_partials=pa.concat_tables(record_partials) if record_partials else None)
    if persons is not None and persons.num_rows:
        # Raw names exist only in bronze: fuzzy-match them there, keep ids and scores only.
        fuzzy, n_raw = fuzzy_name_links(lakehouse, sources, config.fuzzy_name_threshold,
                                        set(persons["person_id"].to_pylist()))
        links = with_fuzzy_links(links, fuzzy)
        context.log.info(f"fuzzy raw-name matching: {n_raw:,} bronze person rows, {fuzzy.num_rows:,} pairs "
                         f">= {config.fuzzy_name_threshold}")
    result = lakehouse.overwrite("gold", "entity_links", links)
    changes.save_watermarks(lakehouse, consumer, versions)
    return dg.MaterializeResult(metadata={**table_metadata(result, links),
                                          "links_per_type": dg.MetadataValue.json(_value_counts(links, "link_type")),
                                          "mode": dg.MetadataValue.text("rebuilt"),
                                          "evidence": dg.MetadataValue.json(modes),
                                          "cdr_evidence": dg.MetadataValue.text(modes["cdr"])})


def _update_link_evidence(context: dg.AssetExecutionContext, lakehouse: Lakehouse, compute: Compute) -> dict[str, str]:
    """Bring the link partials (CDR, transactions, posts) up to date with silver; how each was updated."""
    spark_partials = None
    if compute.engine == "spark":
        from jobs.spark.entities import spark_cdr_link_partials

        # a full rebuild of the CDR link evidence (the bulk) is reduced in Spark tasks
        def spark_partials(uri):
            return spark_cdr_link_partials(compute.spark(), uri, partitions=compute.spark_partitions,
                                           storage_options=lakehouse.storage_options())

    updates = partials.update_link_evidence(lakehouse, spark_partials=spark_partials)
    for name, u in updates.items():
        context.log.info(f"{'CDR' if name == 'cdr' else name} link evidence ({u['mode']}): {u['rows']:,} rows summarised")
    return {name: u["mode"] for name, u in updates.items()}


@dg.asset(
    key="entities", group_name=GROUP, kinds={"delta"}, owners=OWNERS,
    metadata=lake_table("gold", "entities", ENTITIES),
    retry_policy=STORAGE_RETRY,
    deps=["events", "entity_links", "persons", "cameras"],
    description=("Gold: every person, phone, device, account, handle, vehicle (a tracked vehicle in camera "
                 "detections) and camera, with its record count, first "
                 "and last sighting, the tables naming it and its resolved identity (cluster of same-as links). "
                 "Its event statistics (gold/entity_stats) follow gold/events' changes "
                 "(orchestration/fusion/partials.py)."),
)
def entities(context: dg.AssetExecutionContext, config: EntityConfig, lakehouse: Lakehouse,
             compute: Compute) -> dg.MaterializeResult:
    from jobs.fusion.entities import entities_from_stats

    t0 = time.perf_counter()
    spark_stats = None
    if compute.engine == "spark":
        from jobs.spark.entities import spark_entity_stats

        # a full rebuild of the event statistics scans events in Spark tasks; clustering runs on the driver
        def spark_stats(uri):
            return spark_entity_stats(compute.spark(), uri, partitions=compute.spark_partitions,
                                      storage_options=lakehouse.storage_options())

    update = partials.update_entity_stats(lakehouse, spark_stats=spark_stats)
    consumer = changes.consumer_key("gold/entities", [config.same_as_threshold])
    versions = table_versions(lakehouse, [("gold", "entity_stats"), ("gold", "entity_links"), ("silver", "persons"),
                                          ("silver", "cameras")])
    if lakehouse.exists("gold", "entities") and changes.watermarks(lakehouse, consumer) == versions:
        context.log.info("entities: no input changed since the last build; the table stands")
        return dg.MaterializeResult(metadata={"mode": dg.MetadataValue.text("unchanged")})
    links, persons, cameras = (lakehouse.read("gold", "entity_links"), silver(lakehouse, "persons"),
                               silver(lakehouse, "cameras"))
    table = entities_from_stats(lakehouse.read("gold", "entity_stats"), links, persons=persons, cameras=cameras,
                                same_as_threshold=config.same_as_threshold)
    result = lakehouse.overwrite("gold", "entities", table)
    changes.save_watermarks(lakehouse, consumer, versions)
    context.log.info(f"entities: {table.num_rows:,} rows ({compute.engine}); event statistics {update['mode']} "
                     f"({update['rows']:,}) in {time.perf_counter() - t0:.1f} s")
    return dg.MaterializeResult(metadata={**table_metadata(result, table),
                                          "entities_per_kind": dg.MetadataValue.json(_value_counts(table, "kind"))})


class MapLayersConfig(dg.Config):
    days: int = Field(default=28, ge=1, le=3660, description=(
        "Days of events the GIS export holds, counted back from the latest event: one GeoParquet file per "
        "UTC day. History beyond them stays in gold/events (DuckDB, Spark, BI tools)."))


@dg.asset(
    key="fusion_map_layers", group_name="reports", kinds={"geoparquet"}, owners=OWNERS,  # files, no lake table
    retry_policy=STORAGE_RETRY,
    deps=["events", "incident_context"],
    description=("GeoParquet exports for GIS (QGIS, geopandas), EPSG:4326 in the GeoParquet metadata, under "
                 "<CRIMEFUSION_HOME>/exports/fusion/: the events of the last `days` (default 28) as one file "
                 "per UTC day (events/<YYYY-MM-DD>.parquet; only the days whose events changed since the last "
                 "export are rewritten, days that left the window are removed) and incident_context.parquet."),
)
def fusion_map_layers(context: dg.AssetExecutionContext, config: MapLayersConfig,
                      lakehouse: Lakehouse, reports: Reports) -> dg.MaterializeResult:
    folder = reports.exports("fusion") / "events"
    consumer = "export/" + str(folder)
    versions = {"gold/events": lakehouse.version("gold", "events")}
    out = {"events": exports.export_event_days(lakehouse, folder, config.days, consumer, versions["gold/events"])}
    context.log.info(f"events ({out['events']['mode']}): {out['events']['days_rewritten']:,} day file(s) of the last "
                     f"{config.days} rewritten, {out['events']['rows']:,} rows -> {folder}")
    if lakehouse.exists("gold", "incident_context"):
        versions["gold/incident_context"] = lakehouse.version("gold", "incident_context")
        path = reports.exports("fusion") / "incident_context.parquet"
        out["incident_context"] = exports.export_incident_context(lakehouse, path, consumer,
                                                                  versions["gold/incident_context"])
        if out["incident_context"]["mode"] == "rewritten":
            context.log.info(f"incident_context: {out['incident_context']['rows']:,} rows -> {path}")
    changes.save_watermarks(lakehouse, consumer, versions)
    return dg.MaterializeResult(metadata={"layers": dg.MetadataValue.json(out)})
