"""Fusion assets (gold): ``events``, ``incident_context``, ``entity_links``, ``entities``, GeoParquet map layers.

Kernels live in ``jobs/fusion/``; the ``compute`` resource picks the engine:
``embedded`` runs them in-process on SedonaDB, ``spark`` runs the same kernels per
partition on ``compute.spark_master`` (``jobs/spark/fusion.py``) and commits the
tasks' files in one Delta transaction.
"""


import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from orchestration.lakehouse import changes
from orchestration.lakehouse.changes import save_watermarks
from orchestration.lakehouse.metadata import column_range, head, table_metadata
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.platform.retries import SPARK_RETRY, STORAGE_RETRY

OWNERS = ["team:fusion"]
GROUP = "fusion"
SILVER = ("incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "incident_enrichment", "persons",
          "cameras", "detections")


def _silver(lakehouse: Lakehouse, name: str, columns: list[str] | None = None) -> pa.Table | None:
    return lakehouse.read("silver", name, columns=columns) if lakehouse.exists("silver", name) else None


def _boundaries(lakehouse: Lakehouse) -> pa.Table | None:
    if not lakehouse.exists("reference", "police_districts"):
        return None
    return lakehouse.read("reference", "police_districts", columns=["area_id", "geometry"])


def write_geoparquet(table: pa.Table, path: Path) -> int:
    """Write a gold table with WKB points as GeoParquet (CRS EPSG:4326 in its metadata); return its rows."""
    from jobs.fusion.export import to_geodataframe

    gdf = to_geodataframe(table)
    tmp = path.with_suffix(".parquet.tmp")
    gdf.to_parquet(tmp, index=False, schema_version="1.0.0")
    tmp.replace(path)
    return len(gdf)


def _engine_meta(compute: Compute, seconds: float, rows_in: int, rows_out: int) -> dict:
    return {"engine": dg.MetadataValue.text(compute.engine if compute.engine == "embedded" else
                                            f"spark ({compute.spark_master})"),
            "seconds": dg.MetadataValue.float(round(seconds, 3)),
            "rows_in": dg.MetadataValue.int(rows_in),
            "rows_out_per_s": dg.MetadataValue.float(round(rows_out / max(seconds, 1e-9), 1))}


@dg.asset(
    key="events", group_name=GROUP, kinds={"delta", "sedona", "spark"}, owners=OWNERS,
    retry_policy=SPARK_RETRY,
    deps=["incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "incident_enrichment", "detections",
          "police_districts"],
    description=("Gold: every located, timed record of every source in one table (jobs/fusion/events.py): "
                 "incidents at their point, CDR rows at their serving cell site (not the phone), card/ATM "
                 "transactions at the terminal, geotagged posts, camera detections; district by ST_Contains "
                 "on SedonaDB, H3 res 12, and the entity ids each record names. Incremental: each run applies "
                 "the silver rows changed since the last (change data feed; orchestration/fusion/incremental.py)."),
)
def events(context: dg.AssetExecutionContext, lakehouse: Lakehouse, compute: Compute) -> dg.MaterializeResult:
    import time

    from jobs.fusion.events import ORIGINS, build_events, cell_locations, events_from
    from jobs.fusion.schemas import EVENTS
    from orchestration.fusion import incremental

    t0 = time.perf_counter()
    boundaries = _boundaries(lakehouse)
    origins = [o for o in ORIGINS if lakehouse.exists("silver", o)]
    cell_sites = _silver(lakehouse, "cell_sites")
    if "cdr_events" in origins and cell_sites is None:
        origins.remove("cdr_events")
        context.log.warning("cdr_events without cell_sites: CDR rows cannot be located and are left out of events")
    plan = incremental.plan_events(lakehouse, origins)
    if plan is not None:
        if plan.empty:
            incremental.changes.save_watermarks(lakehouse, incremental.CONSUMER, plan.versions)
            context.log.info("events: no silver row changed since the last build; nothing to do")
            counts = {"appended": 0, "deleted_keys": 0, "rebuilt_origins": 0}
        else:
            enrichment = _silver(lakehouse, "incident_enrichment")
            cells = cell_locations(cell_sites, boundaries=boundaries, ctx=compute.sedona()) \
                if cell_sites is not None and "cdr_events" in origins else None

            def build(origin: str, rows: pa.Table | None) -> pa.Table:
                rows = _silver(lakehouse, origin) if rows is None else rows
                return events_from(origin, rows, ctx=compute.sedona(), boundaries=boundaries, cells=cells,
                                   enrichment=enrichment).cast(EVENTS)

            counts = incremental.apply_plan(lakehouse, plan, build)
            context.log.info(f"events (incremental): {counts['appended']:,} events appended, "
                             f"{counts['deleted_keys']:,} changed keys replaced, "
                             f"{counts['rebuilt_origins']} origin slice(s) rebuilt")
        result = lakehouse.describe("gold", "events", counts["appended"])
        seconds = time.perf_counter() - t0
        return dg.MaterializeResult(metadata={
            **table_metadata(result, head(lakehouse, "gold", "events")),
            "mode": dg.MetadataValue.text("incremental"),
            **{k: dg.MetadataValue.int(v) for k, v in counts.items()},
            **_engine_meta(compute, seconds, sum(t.num_rows for t in plan.rows.values()), counts["appended"]),
        })

    versions = incremental.input_versions(lakehouse, origins)
    rows_in = sum(lakehouse.count("silver", o) for o in origins)
    enrichment = _silver(lakehouse, "incident_enrichment")
    if compute.engine == "spark":
        from jobs.spark.fusion import spark_events

        cells = cell_locations(cell_sites, boundaries=boundaries, ctx=compute.sedona()) if cell_sites is not None else None
        spark_events(compute.spark(), {o: lakehouse.uri("silver", o) for o in origins}, lakehouse.uri("gold", "events"),
                     cells=cells, boundaries=boundaries, enrichment=enrichment, partitions=compute.spark_partitions,
                     storage_options=lakehouse.storage_options())
        result = lakehouse.describe("gold", "events", lakehouse.count("gold", "events"))
    else:
        table = build_events({o: _silver(lakehouse, o) for o in origins}, ctx=compute.sedona(), boundaries=boundaries,
                             cell_sites=cell_sites, enrichment=enrichment)
        result = lakehouse.overwrite("gold", "events", table.cast(EVENTS))
    incremental.after_full_build(lakehouse, origins, versions)
    seconds = time.perf_counter() - t0
    context.log.info(f"events (full build): {result.rows_total:,} rows from {rows_in:,} silver rows in {seconds:.1f} s")
    return dg.MaterializeResult(metadata={**table_metadata(result, head(lakehouse, "gold", "events")),
                                          "mode": dg.MetadataValue.text("full"),
                                          **_engine_meta(compute, seconds, rows_in, result.rows_total)})


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

    def settings(self):
        from jobs.fusion.context import ContextSettings

        return ContextSettings(
            tower_before_s=self.tower_before_min * 60, tower_after_s=self.tower_after_min * 60,
            txn_radius_m=self.txn_radius_m, txn_before_s=self.txn_window_min * 60, txn_after_s=self.txn_window_min * 60,
            post_radius_m=self.post_radius_m, post_before_s=self.post_before_h * 3600, post_after_s=self.post_after_h * 3600,
            place_radius_m=self.place_radius_m, place_before_s=0, place_after_s=self.place_after_h * 3600,
            camera_radius_m=self.camera_radius_m, camera_before_s=self.camera_window_min * 60,
            camera_after_s=self.camera_window_min * 60)


def scoped_incidents(lakehouse: Lakehouse, all_incidents: bool) -> pa.Table:
    """Incidents to build context for: all, or those inside the CDRs' time span."""
    return _scope(lakehouse, all_incidents)[0]


def _scope(lakehouse: Lakehouse, all_incidents: bool) -> tuple[pa.Table, tuple | None]:
    """The incidents in scope and the CDR span that bounds them (``None`` when every incident is in scope)."""
    from jobs.fusion.context import incidents_in_window

    inc = lakehouse.read("silver", "incidents", columns=["incident_id", "occurred_at", "lon", "lat"])
    if all_incidents or not lakehouse.exists("silver", "cdr_events"):
        return inc, None
    lo, hi = column_range(lakehouse, "silver", "cdr_events", "start_time")
    if lo is None:
        return inc.slice(0, 0), None
    return incidents_in_window(inc, lo, hi), (lo, hi)


@dg.asset(
    key="incident_context", group_name=GROUP, kinds={"delta", "sedona", "spark"}, owners=OWNERS,
    retry_policy=SPARK_RETRY,
    deps=["incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "detections"],
    description=("Gold: per incident, the tower dump (phones served by a sector covering it, ST_Contains), "
                 "transactions at terminals, OSINT posts (geotag or named place) and camera detections within "
                 "radius and window (ST_DWithin in metres); contacts_present flags phones that called each "
                 "other from the scene. Default: incidents inside the CDR window only."),
)
def incident_context(context: dg.AssetExecutionContext, config: IncidentContextConfig, lakehouse: Lakehouse,
                     compute: Compute) -> dg.MaterializeResult:
    import time

    from jobs.fusion.context import (default_metric_crs, incident_context as build_context, nearby_candidates,
                                     place_gazetteer, tower_candidates)
    from jobs.fusion.schemas import INCIDENT_CONTEXT

    from orchestration.fusion import incremental

    t0 = time.perf_counter()
    s = config.settings()
    versions = {f"silver/{n}": lakehouse.version("silver", n)
                for n in ("incidents", "cell_sites", *incremental.CONTEXT_TIMES) if lakehouse.exists("silver", n)}
    inc, span = _scope(lakehouse, config.all_incidents)
    inc = inc.filter(pc.and_(pc.is_valid(inc["lon"]), pc.is_valid(inc["lat"])))
    cell_sites = _silver(lakehouse, "cell_sites")
    posts_loc = _silver(lakehouse, "osint_posts", ["place_name", "lon", "lat"])
    places = place_gazetteer(posts_loc) if posts_loc is not None else None
    has = {n: lakehouse.exists("silver", n) for n in ("cdr_events", "transactions", "osint_posts", "detections")}
    if not has["detections"]:
        context.log.info("no silver/detections table yet: camera detections are skipped")
    crs = default_metric_crs(inc) if inc.num_rows else "EPSG:4326"
    consumer = incremental.context_consumer(s, config.all_incidents, crs)
    moved_places = incremental.changed_places(lakehouse, places)
    plan = incremental.plan_context(lakehouse, consumer, inc, span, s, moved_places)
    if span is not None:
        versions.update({"scope/start_us": incremental.epoch_us(span[0]), "scope/end_us": incremental.epoch_us(span[1])})
    mode = "full" if plan is None else "incremental"
    if plan is not None:
        def window(name: str, lo, hi) -> pa.Table | None:
            if not has.get(name):
                return None
            col = incremental.CONTEXT_TIMES[name]
            return lakehouse.read("silver", name, filters=[(col, ">=", lo), (col, "<=", hi)])

        parts = []
        for group, lo, hi in incremental.context_windows(plan.incidents, s):
            cdr = window("cdr_events", lo, hi)
            tower = tower_candidates(cdr, cell_sites) if cdr is not None and cell_sites is not None else None
            nearby = nearby_candidates(transactions=window("transactions", lo, hi), posts=window("osint_posts", lo, hi),
                                       detections=window("detections", lo, hi), places=places)
            parts.append(build_context(group, tower=tower, nearby=nearby, cell_sites=cell_sites, ctx=compute.sedona(),
                                       settings=s, metric_crs=crs))
        fresh = pa.concat_tables([p.cast(INCIDENT_CONTEXT) for p in parts]) if parts else INCIDENT_CONTEXT.empty_table()
        if not fresh.num_rows and not plan.removed and not moved_places:
            changes.save_watermarks(lakehouse, consumer, versions)  # no commit unless an input moved
            context.log.info("incident_context: no incident's context changed")
            return dg.MaterializeResult(metadata={"mode": dg.MetadataValue.text("unchanged"),
                                                  "metric_crs": dg.MetadataValue.text(crs)})
        incremental.replace_incident_rows(lakehouse, plan.removed, fresh)
        result = lakehouse.describe("gold", "incident_context", fresh.num_rows)
        context.log.info(f"incident_context (incremental): {plan.incidents.num_rows:,} incident(s) rebuilt, "
                         f"{len(plan.removed):,} replaced or removed")
        inc = plan.incidents
    elif compute.engine == "spark" and inc.num_rows:
        from jobs.spark.fusion import spark_incident_context

        uri = lambda n: lakehouse.uri("silver", n) if has[n] else None  # noqa: E731
        spark_incident_context(compute.spark(), inc, lakehouse.uri("gold", "incident_context"),
                               cdr_uri=uri("cdr_events") if cell_sites is not None else None, cell_sites=cell_sites,
                               transactions_uri=uri("transactions"), posts_uri=uri("osint_posts"),
                               detections_uri=uri("detections"), places=places, settings=s, metric_crs=crs,
                               partitions=compute.spark_partitions, storage_options=lakehouse.storage_options())
        result = lakehouse.describe("gold", "incident_context", lakehouse.count("gold", "incident_context"))
    else:
        tower = None
        if has["cdr_events"] and cell_sites is not None and inc.num_rows:
            tower = tower_candidates(_silver(lakehouse, "cdr_events"), cell_sites)
        nearby = nearby_candidates(transactions=_silver(lakehouse, "transactions"), posts=_silver(lakehouse, "osint_posts"),
                                   detections=_silver(lakehouse, "detections"), places=places) if inc.num_rows else None
        table = build_context(inc, tower=tower, nearby=nearby, cell_sites=cell_sites, ctx=compute.sedona(), settings=s,
                              metric_crs=crs) if inc.num_rows else INCIDENT_CONTEXT.empty_table()
        result = lakehouse.overwrite("gold", "incident_context", table.cast(INCIDENT_CONTEXT))
    if moved_places is None or moved_places:  # the gazetteer is new or a place moved
        lakehouse.overwrite("gold", "place_gazetteer", places if places is not None else
                            pa.table({"place_name": pa.array([], pa.string()), "lon": pa.array([], pa.float64()),
                                      "lat": pa.array([], pa.float64())}))
    changes.save_watermarks(lakehouse, consumer, versions)
    for name in versions:
        if name.startswith("silver/"):
            changes.enable_change_feed(lakehouse, "silver", name.split("/", 1)[1])
    seconds = time.perf_counter() - t0
    full = lakehouse.read("gold", "incident_context", columns=["relation"])
    counts = {r["relation"]: r["relation_count"] for r in full.group_by("relation").aggregate([("relation", "count")]).to_pylist()}
    context.log.info(f"incident_context ({mode}): {inc.num_rows:,} incidents, {result.rows_total:,} rows {counts} "
                     f"in {seconds:.1f} s")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, head(lakehouse, "gold", "incident_context")),
        **_engine_meta(compute, seconds, inc.num_rows, result.rows_total),
        "mode": dg.MetadataValue.text(mode),
        "incidents": dg.MetadataValue.int(inc.num_rows), "metric_crs": dg.MetadataValue.text(crs),
        "rows_per_relation": dg.MetadataValue.json(counts)})


class EntityConfig(dg.Config):
    same_as_threshold: float = Field(default=0.8, description="Person same-as links below this score are dropped.")
    fuzzy_name_threshold: float = Field(default=0.85, description=(
        "Same-as links from raw names in bronze (Jaro-Winkler + date of birth) below this score are dropped."))


def fuzzy_name_links(lakehouse: Lakehouse, sources, threshold: float, known_ids: set[str]) -> tuple[pa.Table, int]:
    """``same-as`` links from fuzzy raw-name matching on every bronze table of a ``persons`` spec.

    Raw names are read in bronze only; the links carry person ids and scores. Pairs whose
    ids are not in silver ``persons`` (rejected rows) are dropped. Returns the links and
    the number of bronze rows read.
    """
    import pandas as pd

    from jobs.fusion.names import fuzzy_person_matches
    from jobs.fusion.schemas import ENTITY_LINKS
    from orchestration.ingest.pipeline import bronze_table

    frames, rows_read = [], 0
    for spec in sources.specs("persons"):
        name_f, dob_f = spec.fields.get("name"), spec.fields.get("date_of_birth")
        id_cols = spec.id.columns or []
        if name_f is None or dob_f is None or not name_f.column or not dob_f.column or len(id_cols) != 1:
            continue
        table = bronze_table(spec)
        if not lakehouse.exists("bronze", table):
            continue
        raw = lakehouse.read("bronze", table, columns=[id_cols[0], name_f.column, dob_f.column])
        rows_read += raw.num_rows
        fmt = dob_f.format if dob_f.format and dob_f.format != "iso8601" else "%Y-%m-%d"
        m = fuzzy_person_matches(raw, threshold=threshold, id_column=id_cols[0], name_column=name_f.column,
                                 dob_column=dob_f.column, dob_format=fmt).to_pandas()
        frames.append(m)
    m = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["person_id_a", "person_id_b", "score", "evidence"])
    m = m[m["person_id_a"].isin(known_ids) & m["person_id_b"].isin(known_ids)]
    m = m.sort_values("score", ascending=False, kind="stable").drop_duplicates(["person_id_a", "person_id_b"])
    n = len(m)
    return pa.table({
        "src": pa.array(("person:" + m["person_id_a"]).tolist(), pa.string()),
        "dst": pa.array(("person:" + m["person_id_b"]).tolist(), pa.string()),
        "link_type": pa.array(["same-as"] * n, pa.string()),
        "n_evidence": pa.array([1] * n, pa.int64()),
        "first_seen": pa.nulls(n, ENTITY_LINKS.field("first_seen").type),
        "last_seen": pa.nulls(n, ENTITY_LINKS.field("last_seen").type),
        "evidence": pa.array(m["evidence"].tolist(), pa.string()),
        "confidence": pa.array(m["score"].astype("float64").tolist(), pa.float64()),
    }, schema=ENTITY_LINKS), rows_read


@dg.asset(
    key="entity_links", group_name=GROUP, kinds={"delta"}, owners=OWNERS,
    retry_policy=STORAGE_RETRY,
    deps=["cdr_events", "persons", "transactions", "osint_posts", "detections", "incident_context"],
    description=("Gold: typed links (same-as, uses, called, transacted-with, mentioned, seen-near) between "
                 "entities, with evidence and confidence (jobs/fusion/entities.py documents every rule); "
                 "seen-near includes tracked vehicles -> their camera and vehicles near an incident <-> its "
                 "flagged tower-dump phones."),
)
def entity_links(context: dg.AssetExecutionContext, config: EntityConfig, lakehouse: Lakehouse,
                 sources: SourceCatalog, compute: Compute) -> dg.MaterializeResult:
    from jobs.fusion.entities import entity_links as build_links
    from orchestration.fusion import incremental

    spark_partials = None
    if compute.engine == "spark":
        from jobs.spark.entities import spark_cdr_link_partials

        # a full rebuild of the CDR link evidence (the bulk) is reduced in Spark tasks
        def spark_partials(uri):
            return spark_cdr_link_partials(compute.spark(), uri, partitions=compute.spark_partitions,
                                           storage_options=lakehouse.storage_options())

    update = incremental.update_cdr_link_partials(lakehouse, spark_partials=spark_partials)
    context.log.info(f"CDR link evidence ({update['mode']}): {update['rows']:,} rows summarised")
    record_updates = {s: incremental.update_record_link_partials(lakehouse, s) for s in incremental.RECORD_LINKS}
    for s, u in record_updates.items():
        context.log.info(f"{s} link evidence ({u['mode']}): {u['rows']:,} rows summarised")
    # the links are a function of these tables alone: when none moved, the stored links stand
    consumer = changes.consumer_key("gold/entity_links", [config.same_as_threshold, config.fuzzy_name_threshold])
    versions = _versions(lakehouse, [("gold", "cdr_link_partials"), ("silver", "persons"), ("silver", "detections"),
                                     ("gold", "incident_context"), *[("gold", v[0]) for v in incremental.RECORD_LINKS.values()],
                                     *_person_bronze(sources)])
    modes = {"cdr": update["mode"], **{s: u["mode"] for s, u in record_updates.items()}}
    if lakehouse.exists("gold", "entity_links") and changes.watermarks(lakehouse, consumer) == versions:
        context.log.info("entity_links: no input changed since the last build; the links stand")
        return dg.MaterializeResult(metadata={"mode": dg.MetadataValue.text("unchanged"),
                                              "evidence": dg.MetadataValue.json(modes)})
    ctx_table = lakehouse.read("gold", "incident_context") if lakehouse.exists("gold", "incident_context") else None
    persons = _silver(lakehouse, "persons")
    record_partials = [lakehouse.read("gold", v[0]) for v in incremental.RECORD_LINKS.values()
                       if lakehouse.exists("gold", v[0])]
    partials = lakehouse.read("gold", "cdr_link_partials") if lakehouse.exists("gold", "cdr_link_partials") else None
    links = build_links(cdr_partials=partials, persons=persons, context=ctx_table,
                        detections=_silver(lakehouse, "detections"), same_as_threshold=config.same_as_threshold,
                        record_partials=pa.concat_tables(record_partials) if record_partials else None)
    if persons is not None and persons.num_rows:
        # Raw names exist only in bronze: fuzzy-match them there, keep ids and scores only.
        fuzzy, n_raw = fuzzy_name_links(lakehouse, sources, config.fuzzy_name_threshold,
                                        set(persons["person_id"].to_pylist()))
        if fuzzy.num_rows:
            have = {(s, d) for s, d, t in zip(links["src"].to_pylist(), links["dst"].to_pylist(),
                                              links["link_type"].to_pylist()) if t == "same-as"}
            new = pc.invert(pa.array([(s, d) in have for s, d in zip(fuzzy["src"].to_pylist(), fuzzy["dst"].to_pylist())],
                                     pa.bool_()))
            links = pa.concat_tables([links, fuzzy.filter(new)]).sort_by(
                [("link_type", "ascending"), ("src", "ascending"), ("dst", "ascending")])
        context.log.info(f"fuzzy raw-name matching: {n_raw:,} bronze person rows, {fuzzy.num_rows:,} pairs "
                         f">= {config.fuzzy_name_threshold}")
    result = lakehouse.overwrite("gold", "entity_links", links)
    changes.save_watermarks(lakehouse, consumer, versions)
    counts = {r["link_type"]: r["link_type_count"] for r in links.group_by("link_type").aggregate([("link_type", "count")]).to_pylist()}
    return dg.MaterializeResult(metadata={**table_metadata(result, links), "links_per_type": dg.MetadataValue.json(counts),
                                          "mode": dg.MetadataValue.text("rebuilt"),
                                          "evidence": dg.MetadataValue.json(modes),
                                          "cdr_evidence": dg.MetadataValue.text(update["mode"])})


def _versions(lakehouse: Lakehouse, tables: list[tuple[str, str]]) -> dict[str, int]:
    """``{"layer/name": version}`` of the tables that exist (the inputs a derived table was built from)."""
    return {f"{layer}/{name}": lakehouse.version(layer, name) for layer, name in tables if lakehouse.exists(layer, name)}


def _person_bronze(sources: SourceCatalog) -> list[tuple[str, str]]:
    from orchestration.ingest.pipeline import bronze_table

    return [("bronze", bronze_table(spec)) for spec in sources.specs("persons")]


@dg.asset(
    key="entities", group_name=GROUP, kinds={"delta"}, owners=OWNERS,
    retry_policy=STORAGE_RETRY,
    deps=["events", "entity_links", "persons", "cameras"],
    description=("Gold: every person, phone, device, account, handle, vehicle (a tracked vehicle in camera "
                 "detections) and camera, with its record count, first "
                 "and last sighting, the tables naming it and its resolved identity (cluster of same-as links). "
                 "Its event statistics (gold/entity_stats) follow gold/events' changes "
                 "(orchestration/fusion/incremental.py)."),
)
def entities(context: dg.AssetExecutionContext, config: EntityConfig, lakehouse: Lakehouse,
             compute: Compute) -> dg.MaterializeResult:
    import time

    t0 = time.perf_counter()
    from jobs.fusion.entities import entities_from_stats
    from orchestration.fusion import incremental

    spark_stats = None
    if compute.engine == "spark":
        from jobs.spark.entities import spark_entity_stats

        # a full rebuild of the event statistics scans events in Spark tasks; clustering runs on the driver
        def spark_stats(uri):
            return spark_entity_stats(compute.spark(), uri, partitions=compute.spark_partitions,
                                      storage_options=lakehouse.storage_options())

    update = incremental.update_entity_stats(lakehouse, spark_stats=spark_stats)
    consumer = changes.consumer_key("gold/entities", [config.same_as_threshold])
    versions = _versions(lakehouse, [("gold", "entity_stats"), ("gold", "entity_links"), ("silver", "persons"),
                                     ("silver", "cameras")])
    if lakehouse.exists("gold", "entities") and changes.watermarks(lakehouse, consumer) == versions:
        context.log.info("entities: no input changed since the last build; the table stands")
        return dg.MaterializeResult(metadata={"mode": dg.MetadataValue.text("unchanged")})
    links, persons, cameras = (lakehouse.read("gold", "entity_links"), _silver(lakehouse, "persons"),
                               _silver(lakehouse, "cameras"))
    table = entities_from_stats(lakehouse.read("gold", "entity_stats"), links, persons=persons, cameras=cameras,
                                same_as_threshold=config.same_as_threshold)
    result = lakehouse.overwrite("gold", "entities", table)
    changes.save_watermarks(lakehouse, consumer, versions)
    context.log.info(f"entities: {table.num_rows:,} rows ({compute.engine}); event statistics {update['mode']} "
                     f"({update['rows']:,}) in {time.perf_counter() - t0:.1f} s")
    counts = {r["kind"]: r["kind_count"] for r in table.group_by("kind").aggregate([("kind", "count")]).to_pylist()}
    return dg.MaterializeResult(metadata={**table_metadata(result, table), "entities_per_kind": dg.MetadataValue.json(counts)})


class MapLayersConfig(dg.Config):
    days: int = Field(default=28, ge=1, le=3660, description=(
        "Days of events the GIS export holds, counted back from the latest event: one GeoParquet file per "
        "UTC day. History beyond them stays in gold/events (DuckDB, Spark, BI tools)."))


@dg.asset(
    key="fusion_map_layers", group_name=GROUP, kinds={"geoparquet"}, owners=OWNERS,
    retry_policy=STORAGE_RETRY,
    deps=["events", "incident_context"],
    description=("GeoParquet exports for GIS (QGIS, geopandas), EPSG:4326 in the GeoParquet metadata, under "
                 "<CRIMEFUSION_HOME>/exports/fusion/: the events of the last `days` (default 28) as one file "
                 "per UTC day (events/<YYYY-MM-DD>.parquet; only the days whose events changed since the last "
                 "export are rewritten, days that left the window are removed) and incident_context.parquet."),
)
def fusion_map_layers(context: dg.AssetExecutionContext, config: MapLayersConfig,
                      lakehouse: Lakehouse, reports: Reports) -> dg.MaterializeResult:
    from orchestration.lakehouse.changes import changed_periods

    out = {}
    folder = reports.exports("fusion") / "events"
    consumer = "export/" + str(folder)
    version = lakehouse.version("gold", "events")
    latest = column_range(lakehouse, "gold", "events", "occurred_at")[1]
    first = None if latest is None else \
        dt.datetime.combine(latest.date(), dt.time(), tzinfo=dt.timezone.utc) - dt.timedelta(days=config.days - 1)
    files = {_day_of(p): p for p in folder.glob("*.parquet")} if folder.is_dir() else None
    if files is None or first is None:
        days, mode = [], "full"
    else:
        days, mode = changed_periods(lakehouse, "gold", "events", "occurred_at", consumer, version, period="day",
                                     existing=lambda: list(files))
    if mode == "full" and first is not None:  # the window's days, read once
        days = [first + dt.timedelta(days=k) for k in range(config.days)]
    folder.mkdir(parents=True, exist_ok=True)
    for day, path in (files or {}).items():
        if first is None or day < first:
            path.unlink(missing_ok=True)  # left the window
    written, rewritten = 0, 0
    for day in days:
        if first is None or day < first:
            continue  # a late change to a day outside the window: it stays in gold/events only
        path = folder / f"{day.date().isoformat()}.parquet"
        rows = lakehouse.read("gold", "events", filters=[("occurred_at", ">=", day),
                                                         ("occurred_at", "<", day + dt.timedelta(days=1))])
        rewritten += 1
        if rows.num_rows:
            written += write_geoparquet(rows, path)
        else:
            path.unlink(missing_ok=True)  # the day's events are gone
    out["events"] = {"path": str(folder), "days_rewritten": rewritten, "rows": written, "mode": mode,
                     "window_days": config.days}
    context.log.info(f"events ({mode}): {rewritten:,} day file(s) of the last {config.days} rewritten, "
                     f"{written:,} rows -> {folder}")
    path = reports.exports("fusion") / "incident_context.parquet"
    versions = {"gold/events": version}
    if lakehouse.exists("gold", "incident_context"):
        versions["gold/incident_context"] = lakehouse.version("gold", "incident_context")
        if path.exists() and changes.watermarks(lakehouse, consumer).get("gold/incident_context") == \
                versions["gold/incident_context"]:
            out["incident_context"] = {"path": str(path), "rows": None, "mode": "unchanged"}
        else:  # the whole table: it is rewritten per incident, so its changes are not per day
            rows = write_geoparquet(lakehouse.read("gold", "incident_context"), path)
            out["incident_context"] = {"path": str(path), "rows": rows, "mode": "rewritten"}
            context.log.info(f"incident_context: {rows:,} rows -> {path}")
    save_watermarks(lakehouse, consumer, versions)
    return dg.MaterializeResult(metadata={"layers": dg.MetadataValue.json(out)})


def _day_of(path: Path) -> dt.datetime:
    return dt.datetime.fromisoformat(path.stem).replace(tzinfo=dt.timezone.utc)
