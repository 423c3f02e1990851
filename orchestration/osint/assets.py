"""OSINT assets (gold): ``osint_mentions``, the places, times, identifiers and crime words post texts name;
``chatter_alerts``, spikes of crime chatter per area and day and announcements of a time and a place;
``osint_incident_links``, posts linked to the incidents they may report or announce, scored.

Kernels live in ``jobs/osint/``: the gazetteer (``gazetteer.py``) is built here from the
lakehouse and the specs on each run (a few hundred names: milliseconds), then every post
is read once (``mentions.py``). See docs/osint.md.
"""

import time

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from jobs.osint.chatter import CHATTER_ALERTS
from jobs.osint.links import OSINT_INCIDENT_LINKS
from jobs.osint.mentions import OSINT_MENTIONS
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.osint import inputs
from orchestration.platform.retries import STORAGE_RETRY
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog

OWNERS = ["team:osint"]
GROUP = "gold"


def build_gazetteer_for(context, lakehouse: Lakehouse, sources: SourceCatalog, posts: pa.Table, spec) -> pa.Table:
    """The gazetteer of one posts feed: its place tags, the boundary areas, incident streets and spec
    landmarks inside the feed's study area."""
    from jobs.fusion.context import place_gazetteer
    from jobs.osint.gazetteer import area_places, build_gazetteer, landmark_places, street_places, tagged_places

    located = posts.filter(pc.and_(pc.is_valid(posts["lon"]), pc.is_valid(posts["lat"])))
    parts = [tagged_places(place_gazetteer(located))]
    areas = inputs.boundaries(lakehouse)
    if areas is not None and areas.num_rows:
        parts.append(area_places(areas))
    for source, blocks in inputs.street_sources(lakehouse, sources):
        streets = street_places(blocks["block"], blocks["lon"].to_numpy(zero_copy_only=False),
                                blocks["lat"].to_numpy(zero_copy_only=False))
        context.log.info(f"gazetteer: {streets.num_rows:,} streets from {source}'s addresses")
        parts.append(streets)
    for layer, labels, lon, lat in inputs.landmark_layers(sources, context.log):
        parts.append(landmark_places(layer, labels, lon, lat))
    return build_gazetteer(parts, bounds=inputs.study_bounds(spec, located), boundaries=areas)


@dg.asset(
    key="osint_mentions", group_name=GROUP, kinds={"delta", "python"}, owners=OWNERS,
    metadata=lake_table("gold", "osint_mentions", OSINT_MENTIONS),
    retry_policy=STORAGE_RETRY,
    deps=["osint_posts", "police_districts", "incidents"],
    description=("Gold: one row per place, time or identifier a post's text names (jobs/osint/). Places from a "
                 "gazetteer of the posts' own place tags, the study area's districts, incident streets and spec "
                 "landmarks, exact, abbreviated, Spanish or misspelt, with lon/lat, H3 and district; times "
                 "('tonight', 'el sábado 9pm', dates) resolved against posted_at on the study area's wall clock; "
                 "handles, phones and accounts pseudonymised with ingestion's key; each post's language."),
)
@skip_unchanged()
def osint_mentions(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog,
                   pseudonymiser: Pseudonymiser) -> dg.MaterializeResult:
    from jobs.osint.mentions import extract_mentions

    t0 = time.perf_counter()
    posts = inputs.posts(lakehouse)
    key = pseudonymiser.key_bytes()
    specs = {s.name: s for s in sources.specs("osint_posts")}
    parts, places = [], 0
    for source in sorted(set(posts["source"].to_pylist())):
        rows = posts.filter(pc.equal(posts["source"], source))
        spec = specs.get(source)
        tz = spec.local_timezone if spec is not None else "UTC"
        gazetteer = build_gazetteer_for(context, lakehouse, sources, rows, spec)
        places += gazetteer.num_rows
        parts.append(extract_mentions(rows, gazetteer, tz=tz, key=key))
        context.log.info(f"{source}: {rows.num_rows:,} posts, {gazetteer.num_rows:,} gazetteer places, "
                         f"{parts[-1].num_rows:,} mentions ({tz})")
    table = pa.concat_tables(parts) if parts else OSINT_MENTIONS.empty_table()
    result = lakehouse.overwrite("gold", "osint_mentions", table)
    counts = {d["values"]: d["counts"] for d in pc.value_counts(table["kind"]).to_pylist()}
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "posts": dg.MetadataValue.int(posts.num_rows), "gazetteer_places": dg.MetadataValue.int(places),
        "mentions_by_kind": dg.MetadataValue.json({k: counts[k] for k in sorted(counts)}),
        "seconds": dg.MetadataValue.float(round(time.perf_counter() - t0, 3)),
    })


@dg.asset(
    key="chatter_alerts", group_name=GROUP, kinds={"delta", "python"}, owners=OWNERS,
    metadata=lake_table("gold", "chatter_alerts", CHATTER_ALERTS),
    retry_policy=STORAGE_RETRY,
    deps=["osint_mentions"],
    description=("Gold: spikes of crime chatter (violence, weapons, drugs, police... in English and Spanish) per "
                 "area and local day against each series' seasonal baseline, false discoveries controlled "
                 "(the spike kernel of jobs/anomalies/spikes.py), and announcements: posts naming a place and a "
                 "time after they were posted (jobs/osint/chatter.py)."),
)
@skip_unchanged()
def chatter_alerts(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog) -> dg.MaterializeResult:
    from jobs.osint.chatter import announcements, chatter_spikes

    mentions = lakehouse.read("gold", "osint_mentions")
    posts = lakehouse.read("silver", "osint_posts", columns=["post_id", "source", "posted_at"])
    specs = {s.name: s for s in sources.specs("osint_posts")}
    parts = []
    for source in sorted(set(posts["source"].to_pylist())):
        spec = specs.get(source)
        tz = spec.local_timezone if spec is not None else "UTC"
        mine = posts.filter(pc.equal(posts["source"], source))
        rows = mentions.filter(pc.is_in(mentions["post_id"], value_set=mine["post_id"].combine_chunks()))
        span = pc.min_max(mine["posted_at"])
        spikes = chatter_spikes(rows, tz=tz, start=span["min"].as_py(), end=span["max"].as_py())
        ann = announcements(rows)
        context.log.info(f"{source}: {spikes.num_rows:,} chatter spike(s), {ann.num_rows:,} announcement(s) ({tz})")
        parts += [spikes, ann]
    table = pa.concat_tables(parts) if parts else CHATTER_ALERTS.empty_table()
    result = lakehouse.overwrite("gold", "chatter_alerts", table)
    counts = {d["values"]: d["counts"] for d in pc.value_counts(table["alert_type"]).to_pylist()}
    return dg.MaterializeResult(metadata={**table_metadata(result, table.slice(0, 5)),
                                          "alerts_by_type": dg.MetadataValue.json(counts)})


@dg.asset(
    key="osint_incident_links", group_name=GROUP, kinds={"delta", "python"}, owners=OWNERS,
    metadata=lake_table("gold", "osint_incident_links", OSINT_INCIDENT_LINKS),
    retry_policy=STORAGE_RETRY,
    deps=["osint_mentions", "osint_posts", "incidents"],
    description=("Gold: posts linked to the incidents they may report (incident in the hours before the post, or "
                 "near a time it names) or announce (near a future time it names), within 3 km of a place it "
                 "names or its geotag; scored by a logistic of distance, time offset and WordLlama text "
                 "similarity to the incident's description; best 3 incidents a post (jobs/osint/links.py)."),
)
@skip_unchanged()
def osint_incident_links(context: dg.AssetExecutionContext, lakehouse: Lakehouse) -> dg.MaterializeResult:
    from jobs.ask.semantic import embed, redact
    from jobs.osint.links import LinkSettings, link_posts

    t0 = time.perf_counter()
    mentions = lakehouse.read("gold", "osint_mentions", columns=["post_id", "kind", "lon", "lat", "time_at"])
    posts = lakehouse.read("silver", "osint_posts", columns=["post_id", "posted_at", "text", "lon", "lat"])
    incidents = inputs.incidents(lakehouse)
    settings = LinkSettings()
    table = link_posts(mentions, posts, incidents, settings=settings,
                       embed=lambda texts: embed([redact(t) for t in texts]))
    result = lakehouse.overwrite("gold", "osint_incident_links", table)
    linked = table.filter(pc.greater_equal(table["score"], settings.threshold))
    context.log.info(f"{table.num_rows:,} candidate links of {posts.num_rows:,} posts, {linked.num_rows:,} scoring "
                     f">= {settings.threshold}")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "links_over_threshold": dg.MetadataValue.int(linked.num_rows),
        "threshold": dg.MetadataValue.float(settings.threshold),
        "seconds": dg.MetadataValue.float(round(time.perf_counter() - t0, 3)),
    })
