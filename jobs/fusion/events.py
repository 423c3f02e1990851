"""Gold ``events``: every located, timed record of every source in one table.

Each silver feed maps onto :data:`jobs.fusion.schemas.EVENTS`:

| origin | kind | located by (``location_basis``) | entity ids |
| --- | --- | --- | --- |
| ``incidents`` | offense category | the reported point (``reported``) | ``person:`` offenders and victims |
| ``cdr_events`` | voice / sms / data | the **serving cell site** (``serving_cell``): the cell site's lon/lat, not the phone's | ``phone:`` served party, ``phone:`` other party, ``device:`` IMEI |
| ``transactions`` | channel (card, atm) | the terminal or merchant (``terminal``) | ``account:`` account, ``account:`` counterparty |
| ``osint_posts`` | ``post`` | the geotag (``geotag``); posts without one are not events | ``handle:`` author and mentions |
| ``detections`` | detected class | the ground foot point (``camera``) | ``camera:`` camera, ``vehicle:`` track of a vehicle class (:func:`vehicle_ids`) |
| ``osint_mentions`` (gold) | ``osint_mention`` | the place the text names (``named_place``, or ``named_place_time`` when the text also names the time) | the post's ``handle:`` author and mentions |

Rows without a location (transfers, untagged posts, CDRs on unknown cells) are left
out: they are still in silver and in ``entity_links``. Districts come from the
incident itself, else from :func:`jobs.geo.areas.assign_areas` (SedonaDB
``ST_Contains``, nearest polygon within ``tolerance_m`` by ``ST_KNN``), computed once per cell site
for CDRs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.cdr import other_party, served_party
from jobs.fusion.arrow_ops import combined, list_of, require
from jobs.fusion.schemas import EVENTS
from jobs.schemas import UTC_TS

ORIGINS = ("incidents", "cdr_events", "transactions", "osint_posts", "detections", "osint_mentions")
#: Origins read from a gold table, not silver (``gold/osint_mentions``: what post texts name).
GOLD_ORIGINS = ("osint_mentions",)
#: The ``kind`` of a resolved place mention's event.
MENTION_KIND = "osint_mention"
#: Columns of ``silver/osint_posts`` a mention event takes from its post.
MENTION_POST_COLUMNS = ["post_id", "source", "author", "mentions"]


def _finish(n: int, *, event_id, source, origin: str, kind, occurred_at, lon, lat, h3, district, basis: str | pa.Array,
            cell_id=None, entity_ids) -> pa.Table:
    from jobs.geo.points import h3_cells, points_wkb

    lon = combined(lon).cast(pa.float64()).to_numpy(zero_copy_only=False)
    lat = combined(lat).cast(pa.float64()).to_numpy(zero_copy_only=False)
    h3 = combined(h3) if h3 is not None else pa.nulls(n, pa.string())
    if h3.null_count:  # fill missing cells from the coordinates
        h3 = pc.coalesce(h3, h3_cells(lon, lat))
    return pa.table(
        {
            "event_id": combined(event_id).cast(pa.string()),
            "source": combined(source).cast(pa.string()),
            "origin": pa.array(np.full(n, origin, dtype=object), pa.string()),
            "kind": pc.fill_null(combined(kind).cast(pa.string()), "unknown"),
            "occurred_at": combined(occurred_at).cast(UTC_TS),
            "lon": pa.array(lon),
            "lat": pa.array(lat),
            "geometry": points_wkb(lon, lat),
            "h3": h3,
            "district": district,
            "location_basis": basis if isinstance(basis, pa.Array) else pa.array(np.full(n, basis, dtype=object),
                                                                                 pa.string()),
            "cell_id": combined(cell_id) if cell_id is not None else pa.nulls(n, pa.string()),
            "entity_ids": entity_ids,
        },
        schema=EVENTS,
    )


def located_mask(table: pa.Table, lon: str = "lon", lat: str = "lat") -> pa.ChunkedArray:
    """Rows with both coordinates present and not NaN: the rows that become events."""
    ok = pc.and_(pc.is_valid(table[lon]), pc.is_valid(table[lat]))
    return pc.and_(ok, pc.invert(pc.or_(pc.is_nan(pc.fill_null(table[lon], 0.0)),
                                        pc.is_nan(pc.fill_null(table[lat], 0.0)))))


def _located(table: pa.Table, lon: str = "lon", lat: str = "lat") -> pa.Table:
    return table.filter(located_mask(table, lon, lat))


def _districts(table: pa.Table, boundaries: pa.Table | None, ctx, tolerance_m: float) -> pa.Array:
    if boundaries is None or boundaries.num_rows == 0 or table.num_rows == 0:
        return pa.nulls(table.num_rows, pa.string())
    from jobs.geo.areas import assign_areas

    areas, _ = assign_areas(combined(table["lon"]).to_numpy(zero_copy_only=False),
                            combined(table["lat"]).to_numpy(zero_copy_only=False), boundaries, ctx=ctx,
                            tolerance_m=tolerance_m)
    return areas


def _prefixed(origin: str, ids) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(f"{origin}:"), combined(ids).cast(pa.string()), "")


def event_ids(origin: str, keys: pa.Array) -> pa.Array:
    """The ``event_id`` an origin's row key gets in ``gold/events``."""
    return pc.binary_join_element_wise(pa.scalar(f"{origin}:"), keys.cast(pa.string()), "")


def incident_events(incidents: pa.Table, *, enrichment: pa.Table | None = None) -> pa.Table:
    """Incidents as events; offender and victim ids from the incident or its enrichment row."""
    require(incidents, ["incident_id", "source", "occurred_at", "category", "lon", "lat"], "incidents")
    t = _located(incidents)
    offenders = t["offender_ids"] if "offender_ids" in t.column_names else pa.nulls(t.num_rows, pa.list_(pa.string()))
    victims = t["victim_ids"] if "victim_ids" in t.column_names else pa.nulls(t.num_rows, pa.list_(pa.string()))
    parts = [("person", offenders), ("person", victims)]
    if enrichment is not None and enrichment.num_rows:
        require(enrichment, ["incident_id"], "incident_enrichment")
        idx = pc.index_in(t["incident_id"], value_set=combined(enrichment["incident_id"]))
        for col in ("offender_ids", "victim_ids"):
            if col in enrichment.column_names:
                parts.append(("person", pc.take(combined(enrichment[col]), idx)))
    h3 = t["h3"] if "h3" in t.column_names else None
    district = combined(t["district"]) if "district" in t.column_names else pa.nulls(t.num_rows, pa.string())
    return _finish(t.num_rows, event_id=_prefixed("incidents", t["incident_id"]), source=t["source"], origin="incidents",
                   kind=t["category"], occurred_at=t["occurred_at"], lon=t["lon"], lat=t["lat"], h3=h3,
                   district=district, basis="reported", entity_ids=list_of(t.num_rows, parts))


def cell_locations(cell_sites: pa.Table, *, boundaries: pa.Table | None, ctx, tolerance_m: float = 250.0) -> pa.Table:
    """Per cell: the site's lon/lat, H3 and district (what a CDR row on that cell is located by)."""
    require(cell_sites, ["cell_id", "lon", "lat"], "cell_sites")
    cells = _located(cell_sites.select([c for c in ("cell_id", "lon", "lat", "h3") if c in cell_sites.column_names]))
    if "h3" not in cells.column_names:
        cells = cells.append_column("h3", pa.nulls(cells.num_rows, pa.string()))
    return cells.append_column("district", _districts(cells, boundaries, ctx, tolerance_m))


def cdr_events(cdr: pa.Table, cells: pa.Table) -> pa.Table:
    """CDR rows as events, located at the serving cell site (``cells`` from :func:`cell_locations`)."""
    require(cdr, ["event_id", "source", "caller", "callee", "start_time", "kind", "cell_id"], "cdr_events")
    idx = pc.index_in(cdr["cell_id"], value_set=combined(cells["cell_id"]))
    keep = pc.is_valid(idx)
    t, idx = cdr.filter(keep), pc.drop_null(idx)
    take = lambda c: pc.take(combined(cells[c]), idx)  # noqa: E731
    imei = t["imei"] if "imei" in t.column_names else pa.nulls(t.num_rows, pa.string())
    parts = [("phone", served_party(t)), ("phone", other_party(t)), ("device", imei)]
    return _finish(t.num_rows, event_id=_prefixed("cdr_events", t["event_id"]), source=t["source"], origin="cdr_events",
                   kind=t["kind"], occurred_at=t["start_time"], lon=take("lon"), lat=take("lat"), h3=take("h3"),
                   district=take("district"), basis="serving_cell", cell_id=t["cell_id"],
                   entity_ids=list_of(t.num_rows, parts))


def transaction_events(transactions: pa.Table, *, boundaries: pa.Table | None, ctx, tolerance_m: float = 250.0) -> pa.Table:
    """Located transactions (card and ATM rows) as events, at the terminal or merchant."""
    require(transactions, ["txn_id", "source", "account", "occurred_at", "channel", "lon", "lat"], "transactions")
    t = _located(transactions)
    cp = t["counterparty"] if "counterparty" in t.column_names else pa.nulls(t.num_rows, pa.string())
    return _finish(t.num_rows, event_id=_prefixed("transactions", t["txn_id"]), source=t["source"], origin="transactions",
                   kind=t["channel"], occurred_at=t["occurred_at"], lon=t["lon"], lat=t["lat"],
                   h3=t["h3"] if "h3" in t.column_names else None, district=_districts(t, boundaries, ctx, tolerance_m),
                   basis="terminal", entity_ids=list_of(t.num_rows, [("account", t["account"]), ("account", cp)]))


def post_events(posts: pa.Table, *, boundaries: pa.Table | None, ctx, tolerance_m: float = 250.0) -> pa.Table:
    """Geotagged OSINT posts as events."""
    require(posts, ["post_id", "source", "author", "posted_at", "lon", "lat"], "osint_posts")
    t = _located(posts)
    mentions = t["mentions"] if "mentions" in t.column_names else pa.nulls(t.num_rows, pa.list_(pa.string()))
    return _finish(t.num_rows, event_id=_prefixed("osint_posts", t["post_id"]), source=t["source"], origin="osint_posts",
                   kind=pa.array(np.full(t.num_rows, "post", dtype=object), pa.string()), occurred_at=t["posted_at"],
                   lon=t["lon"], lat=t["lat"], h3=t["h3"] if "h3" in t.column_names else None,
                   district=_districts(t, boundaries, ctx, tolerance_m), basis="geotag",
                   entity_ids=list_of(t.num_rows, [("handle", t["author"]), ("handle", mentions)]))


def mention_keys(mentions: pa.Table) -> pa.Array:
    """The row key of a mention, ``<post_id>@<span_start>-<span_end>``: stable across rebuilds of the table."""
    span = [combined(mentions[c]).cast(pa.string()) for c in ("span_start", "span_end")]
    return pc.binary_join_element_wise(combined(mentions["post_id"]).cast(pa.string()),
                                       pc.binary_join_element_wise(*span, "-"), "@")


def _named_times(places: pd.DataFrame, times: pd.DataFrame) -> pd.Series:
    """Per place mention, the resolved time its post names nearest to it in the text (NaT: the post names none)."""
    if places.empty or times.empty:
        return pd.Series(pd.NaT, index=places.index, dtype="datetime64[us, UTC]")
    pairs = places[["post_id", "span_start"]].reset_index().merge(
        times[["post_id", "span_start", "time_at"]], on="post_id", suffixes=("", "_t"))
    pairs["gap"] = (pairs["span_start_t"] - pairs["span_start"]).abs()
    best = pairs.sort_values(["index", "gap", "span_start_t"], kind="stable").drop_duplicates("index")
    return best.set_index("index")["time_at"].reindex(places.index)


def resolved_places(mentions: pa.Table, post_ids, *, min_score: float | None = None) -> tuple[pa.Table, pa.Array]:
    """The place mentions that become events (:func:`mention_events`' rule) and, for each, its row in ``post_ids``."""
    require(mentions, ["post_id", "kind", "span_start", "span_end", "lon", "lat", "score"], "osint_mentions")
    if min_score is None:
        from jobs.osint.mentions import MentionSettings

        min_score = MentionSettings().min_place_score
    places = mentions.filter(pc.and_(pc.and_(pc.equal(mentions["kind"], "place"), located_mask(mentions)),
                                     pc.greater_equal(mentions["score"], min_score)))
    idx = pc.index_in(places["post_id"], value_set=combined(post_ids))
    return places.filter(pc.is_valid(idx)), pc.drop_null(idx)


def mention_events(mentions: pa.Table, posts: pa.Table, *, min_score: float | None = None) -> pa.Table:
    """Resolved place mentions of post texts (``gold/osint_mentions``) as events of kind ``osint_mention``.

    A place mention becomes an event when it is located and its ``score`` is at least ``min_score`` (default
    the mentions table's own ``min_place_score``, :class:`jobs.osint.mentions.MentionSettings`: an alias
    shared by several places has its score divided among them, so an ambiguous name is no event). It
    happens at the time the post names nearest to it in the text (``location_basis`` ``named_place_time``),
    else when the post was posted (``named_place``); it carries the place's lon/lat, H3 and district, the
    post's feed and the post's ``handle:`` author and mentions, like the post's own event. ``event_id`` is
    ``osint_mentions:<post_id>@<span_start>-<span_end>`` (:func:`mention_keys`). Mentions of posts absent from
    ``posts`` (withdrawn since the mentions were read) are left out.
    """
    require(mentions, ["posted_at", "span_start", "h3", "district", "time_at"], "osint_mentions")
    require(posts, ["post_id", "source", "author"], "osint_posts")
    places, idx = resolved_places(mentions, posts["post_id"], min_score=min_score)
    times = mentions.filter(pc.and_(pc.equal(mentions["kind"], "time"), pc.is_valid(mentions["time_at"])))
    named = _named_times(places.select(["post_id", "span_start"]).to_pandas(),
                         times.select(["post_id", "span_start", "time_at"]).to_pandas())
    basis = pa.array(np.where(named.notna().to_numpy(), "named_place_time", "named_place").astype(object), pa.string())
    occurred = pc.coalesce(pa.array(named, UTC_TS), combined(places["posted_at"]).cast(UTC_TS))
    post = lambda c: pc.take(combined(posts[c]), idx)  # noqa: E731
    handles = post("mentions") if "mentions" in posts.column_names else pa.nulls(places.num_rows, pa.list_(pa.string()))
    return _finish(places.num_rows, event_id=_prefixed("osint_mentions", mention_keys(places)), source=post("source"),
                   origin="osint_mentions", kind=pa.array(np.full(places.num_rows, MENTION_KIND, dtype=object)),
                   occurred_at=occurred, lon=places["lon"], lat=places["lat"], h3=places["h3"],
                   district=combined(places["district"]), basis=basis,
                   entity_ids=list_of(places.num_rows, [("handle", post("author")), ("handle", handles)]))


def changed_slice(old: pa.Table, new: pa.Table) -> tuple[pa.Array, pa.Table]:
    """What turns the events ``old`` into ``new`` (one origin's slice): ``event_id``s to delete, rows to append.

    A row whose id is in both with other values is deleted and appended again; equal rows are left alone,
    so rebuilding a slice that did not change writes nothing.
    """
    def rows(t: pa.Table) -> dict:
        cols = [t[c].to_pylist() for c in EVENTS.names]
        return {r[0]: r for r in zip(*cols)}

    before, after = rows(old.select(EVENTS.names)), rows(new.select(EVENTS.names))
    gone = sorted(k for k, r in before.items() if after.get(k) != r)
    fresh = [i for i, k in enumerate(new["event_id"].to_pylist()) if before.get(k) != after[k]]
    return pa.array(gone, pa.string()), new.take(pa.array(fresh, pa.int64()))


def detection_ids(detections: pa.Table) -> pa.Array:
    """A stable id per detection: ``<camera>:<video source>:<frame index>:t<track id>``.

    The track id is unique within a frame and travels with the row, so the id
    does not depend on which rows share a partition (Spark mode gives the same
    ids). Untracked detections fall back to ``r<row within the frame>``.
    """
    keys = [combined(detections[c]).cast(pa.string()) for c in ("camera_id", "source", "frame_index")]
    base = pc.binary_join_element_wise(*keys, ":")
    df = pa.table({"k": base}).to_pandas()
    nth = pa.array(("r" + df.groupby("k", sort=False).cumcount().astype(str)).to_numpy())
    if "track_id" in detections.column_names:
        track = pc.binary_join_element_wise(pa.scalar("t"), combined(detections["track_id"]).cast(pa.string()), "")
        nth = pc.coalesce(track, nth)
    return pc.binary_join_element_wise(base, nth, ":")


#: Detector classes that are vehicles: the demo model's ``vehicle`` and COCO's road vehicles (YOLO).
VEHICLE_CLASSES = ("vehicle", "car", "truck", "bus", "motorcycle")


def vehicle_ids(detections: pa.Table) -> pa.Array:
    """Vehicle entity value of each detection: ``<camera>:<video source>:t<track id>``, null for other rows.

    A vehicle is one **track** of a vehicle class (:data:`VEHICLE_CLASSES`): without
    plates, the same car seen by two cameras, or in two clips, is two entities.
    Untracked detections name no vehicle (one box is no identity).
    """
    n = detections.num_rows
    if "track_id" not in detections.column_names:
        return pa.nulls(n, pa.string())
    keys = [combined(detections[c]).cast(pa.string()) for c in ("camera_id", "source")]
    track = pc.binary_join_element_wise(pa.scalar("t"), combined(detections["track_id"]).cast(pa.string()), "")
    ids = pc.binary_join_element_wise(*keys, track, ":")
    is_vehicle = pc.is_in(pc.utf8_lower(combined(detections["class_name"])), value_set=pa.array(VEHICLE_CLASSES))
    return pc.if_else(pc.fill_null(is_vehicle, False), ids, pa.scalar(None, pa.string()))


def detection_events(detections: pa.Table, *, boundaries: pa.Table | None, ctx, tolerance_m: float = 250.0) -> pa.Table:
    """Geolocated camera detections (``vision.schemas.DETECTIONS``) as events, naming camera and vehicle track."""
    require(detections, ["camera_id", "source", "frame_time", "frame_index", "class_name", "lon", "lat"], "detections")
    ids = detection_ids(detections)
    t = detections.append_column("_id", ids)
    t = _located(t)
    return _finish(t.num_rows, event_id=_prefixed("detections", t["_id"]), source=t["source"], origin="detections",
                   kind=t["class_name"], occurred_at=t["frame_time"], lon=t["lon"], lat=t["lat"],
                   h3=t["h3"] if "h3" in t.column_names else None, district=_districts(t, boundaries, ctx, tolerance_m),
                   basis="camera",
                   entity_ids=list_of(t.num_rows, [("camera", t["camera_id"]), ("vehicle", vehicle_ids(t))]))


def events_from(origin: str, table: pa.Table, *, ctx, boundaries: pa.Table | None = None, cells: pa.Table | None = None,
                enrichment: pa.Table | None = None, posts: pa.Table | None = None,
                tolerance_m: float = 250.0) -> pa.Table:
    """Events of one silver table, or of ``gold/osint_mentions`` (the per-partition kernel of Spark mode).

    Parameters
    ----------
    origin
        One of :data:`ORIGINS`.
    table
        Rows of that silver table (any subset: the kernel is row-local).
    ctx
        SedonaDB context for district assignment.
    boundaries
        ``reference/police_districts`` (``area_id``, ``geometry``); None leaves districts null.
    cells
        :func:`cell_locations` output, required for ``cdr_events``.
    enrichment
        ``silver/incident_enrichment`` for incidents' offender and victim ids.
    posts
        ``silver/osint_posts`` (:data:`MENTION_POST_COLUMNS`), required for ``osint_mentions``: each mention
        event takes its post's feed and handles.
    """
    if origin == "osint_mentions":
        if posts is None:
            raise ValueError("osint_mentions events need the posts they come from (silver/osint_posts)")
        return mention_events(table, posts)
    if origin == "incidents":
        return incident_events(table, enrichment=enrichment)
    if origin == "cdr_events":
        if cells is None:
            raise ValueError("cdr_events events need the cell locations (cell_locations(cell_sites, ...))")
        return cdr_events(table, cells)
    if origin == "transactions":
        return transaction_events(table, boundaries=boundaries, ctx=ctx, tolerance_m=tolerance_m)
    if origin == "osint_posts":
        return post_events(table, boundaries=boundaries, ctx=ctx, tolerance_m=tolerance_m)
    if origin == "detections":
        return detection_events(table, boundaries=boundaries, ctx=ctx, tolerance_m=tolerance_m)
    raise ValueError(f"unknown events origin {origin!r}; expected one of {', '.join(ORIGINS)}")


def build_events(tables: dict[str, pa.Table], *, ctx, boundaries: pa.Table | None = None,
                 cell_sites: pa.Table | None = None, enrichment: pa.Table | None = None,
                 tolerance_m: float = 250.0) -> pa.Table:
    """The fused events table from silver tables keyed by origin (missing origins are skipped).

    ``osint_mentions`` (gold) takes its posts from ``tables["osint_posts"]``.

    Returns
    -------
    pa.Table
        :data:`jobs.fusion.schemas.EVENTS`, sorted by ``event_id``.
    """
    unknown = set(tables) - set(ORIGINS)
    if unknown:
        raise ValueError(f"unknown events origin(s) {sorted(unknown)}; expected {', '.join(ORIGINS)}")
    cells = None
    if tables.get("cdr_events") is not None:
        if cell_sites is None:
            raise ValueError("cdr_events need cell_sites: CDR rows are located at their serving cell site")
        cells = cell_locations(cell_sites, boundaries=boundaries, ctx=ctx, tolerance_m=tolerance_m)
    parts = [events_from(o, t, ctx=ctx, boundaries=boundaries, cells=cells, enrichment=enrichment,
                         posts=tables.get("osint_posts"), tolerance_m=tolerance_m)
             for o, t in tables.items() if t is not None]
    out = pa.concat_tables(parts) if parts else EVENTS.empty_table()
    return out.sort_by("event_id")
