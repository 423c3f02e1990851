"""Gold ``incident_context``: what was around each incident, when it happened.

Relations (one row per incident and record):

- ``tower_dump``: CDR rows served by a cell whose **coverage sector contains the
  incident** (SedonaDB ``ST_Contains`` of the point in the sector polygons), from
  ``tower_before_s`` before to ``tower_after_s`` after the incident. This is the
  tower dump an investigator requests from the operator. ``contacts_present``
  counts the other phones of the same dump the phone exchanged calls or SMS with
  inside the window: planted co-located groups call each other from the scene,
  passers-by rarely do, so ``contacts_present >= 1`` is the flag scored against
  ``truth/colocations``.
- ``transaction``: card and ATM transactions whose terminal lies within
  ``txn_radius_m`` (SedonaDB ``ST_DWithin`` distance join in a metric CRS).
- ``osint_post``: geotagged posts within ``post_radius_m``.
- ``osint_place``: posts that name a place (``place_name``) whose location lies
  within ``place_radius_m``; a place is located at the median geotag of the posts
  that name it (:func:`place_gazetteer`: the feed is its own gazetteer).
- ``camera_detection``: geolocated detections (``silver/detections``) within
  ``camera_radius_m``; skipped when there is no detections table.
- ``osint_mention``: places post texts name (gold ``events`` of kind
  ``osint_mention``, :func:`jobs.fusion.events.mention_events`) within
  ``mention_radius_m``, at the time the text names or else when it was posted;
  from ``mention_before_s`` before (an announcement) to ``mention_after_s`` after
  (a report). The record is the mention event, the entity its post's author.

Distances are metres in ``metric_crs`` (default: the UTM zone of the incidents'
median point); the caller passes the CRS explicitly when it splits the work (Spark
mode), so all partitions measure alike. Records are first brought into a
uniform *candidates* table (:func:`tower_candidates`, :func:`nearby_candidates`)
whose rows are local: a partition holding an incident and every candidate within
reach computes exactly the rows the whole table would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.cdr import other_party, served_party
from jobs.fusion.arrow_ops import combined, entity_ref, require, ts_us, us_ts
from jobs.fusion.events import detection_ids
from jobs.fusion.schemas import CANDIDATES, INCIDENT_CONTEXT

_S = 1_000_000  # microseconds per second


@dataclass(frozen=True)
class ContextSettings:
    """Windows (seconds) and radii (metres) of each relation; see the module docstring."""

    tower_before_s: int = 3 * 3600
    tower_after_s: int = 3600
    txn_radius_m: float = 300.0
    txn_before_s: int = 2 * 3600
    txn_after_s: int = 2 * 3600
    post_radius_m: float = 500.0
    post_before_s: int = 72 * 3600
    post_after_s: int = 12 * 3600
    place_radius_m: float = 1000.0
    place_before_s: int = 0
    place_after_s: int = 6 * 3600
    camera_radius_m: float = 100.0
    camera_before_s: int = 1800
    camera_after_s: int = 1800
    mention_radius_m: float = 1000.0
    mention_before_s: int = 3 * 3600
    mention_after_s: int = 6 * 3600
    flag_min_contacts: int = 1

    def __post_init__(self):
        for k, v in asdict(self).items():
            if v is None or v < 0:
                raise ValueError(f"ContextSettings.{k} must be >= 0, got {v!r}")

    def window(self, relation: str) -> tuple[int, int, float]:
        """(before_s, after_s, radius_m) of a relation."""
        p = {"transaction": "txn", "osint_post": "post", "osint_place": "place", "camera_detection": "camera",
             "tower_dump": "tower", "osint_mention": "mention"}[relation]
        return getattr(self, f"{p}_before_s"), getattr(self, f"{p}_after_s"), getattr(self, f"{p}_radius_m", 0.0)

    def reach_m(self, max_cell_range_m: float = 0.0) -> float:
        """How far from an incident a candidate can lie and still match (the halo Spark mode needs)."""
        return max(self.txn_radius_m, self.post_radius_m, self.place_radius_m, self.camera_radius_m,
                   self.mention_radius_m, max_cell_range_m)


# -- candidates -------------------------------------------------------------------

def _cand(relation: str, record_id, entity_id, t_us, lon, lat, h3=None, cell_id=None, other_id=None) -> pa.Table:
    n = len(record_id)
    nulls = lambda: pa.nulls(n, pa.string())  # noqa: E731
    return pa.table({
        "relation": pa.array(np.full(n, relation, dtype=object), pa.string()),
        "record_id": combined(record_id), "entity_id": combined(entity_id),
        "other_id": combined(other_id) if other_id is not None else nulls(),
        "t_us": pa.array(np.asarray(t_us, dtype=np.int64)),
        "lon": combined(lon).cast(pa.float64()), "lat": combined(lat).cast(pa.float64()),
        "h3": combined(h3) if h3 is not None else nulls(), "cell_id": combined(cell_id) if cell_id is not None else nulls(),
    }, schema=CANDIDATES)


def _prefixed(origin: str, ids) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(f"{origin}:"), combined(ids).cast(pa.string()), "")


def tower_candidates(cdr: pa.Table, cell_sites: pa.Table) -> pa.Table:
    """CDR rows as candidates located at their serving cell's site (rows on unknown cells dropped)."""
    require(cdr, ["event_id", "caller", "callee", "start_time", "cell_id"], "cdr_events")
    require(cell_sites, ["cell_id", "lon", "lat"], "cell_sites")
    idx = pc.index_in(cdr["cell_id"], value_set=combined(cell_sites["cell_id"]))
    t = cdr.filter(pc.is_valid(idx))
    idx = pc.drop_null(idx)
    h3 = pc.take(combined(cell_sites["h3"]), idx) if "h3" in cell_sites.column_names else None
    return _cand("tower_dump", _prefixed("cdr_events", t["event_id"]), entity_ref("phone", served_party(t)),
                 ts_us(t["start_time"]), pc.take(combined(cell_sites["lon"]), idx),
                 pc.take(combined(cell_sites["lat"]), idx), h3=h3, cell_id=t["cell_id"],
                 other_id=entity_ref("phone", other_party(t)))


def place_gazetteer(posts: pa.Table) -> pa.Table:
    """``place_name, lon, lat``: each named place at the median geotag of the posts naming it."""
    require(posts, ["place_name", "lon", "lat"], "osint_posts")
    df = posts.select(["place_name", "lon", "lat"]).to_pandas().dropna()
    g = df.groupby("place_name", sort=True)[["lon", "lat"]].median().reset_index()
    return pa.Table.from_pandas(g, preserve_index=False)


def moved_places(old: pa.Table, new: pa.Table | None) -> list[str]:
    """Place names whose location differs between two :func:`place_gazetteer` tables (moved, new or gone), sorted."""
    def located(table: pa.Table | None) -> dict:
        if table is None:
            return {}
        return {n: (x, y) for n, x, y in zip(*(table[c].to_pylist() for c in ("place_name", "lon", "lat")))}

    before, after = located(old), located(new)
    return sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))


def _first_entity(entity_ids) -> pa.Array:
    """The first id of each row's ``entity_ids`` list (the author, for post and mention events); null when empty."""
    ids = combined(entity_ids)
    first = pc.list_slice(ids, 0, 1)
    out = np.full(len(ids), None, dtype=object)
    out[pc.list_parent_indices(first).to_numpy()] = pc.list_flatten(first).to_numpy(zero_copy_only=False)
    return pa.array(out, pa.string())


def nearby_candidates(*, transactions: pa.Table | None = None, posts: pa.Table | None = None,
                      detections: pa.Table | None = None, places: pa.Table | None = None,
                      mentions: pa.Table | None = None) -> pa.Table:
    """Located transactions, posts (by geotag, and by named place via ``places``), detections and mention
    events (gold ``events`` rows of kind ``osint_mention``) as candidates."""
    parts = []
    if transactions is not None and transactions.num_rows:
        require(transactions, ["txn_id", "account", "occurred_at", "lon", "lat"], "transactions")
        t = transactions.filter(pc.and_(pc.is_valid(transactions["lon"]), pc.is_valid(transactions["lat"])))
        parts.append(_cand("transaction", _prefixed("transactions", t["txn_id"]), entity_ref("account", t["account"]),
                           ts_us(t["occurred_at"]), t["lon"], t["lat"],
                           h3=t["h3"] if "h3" in t.column_names else None))
    if posts is not None and posts.num_rows:
        require(posts, ["post_id", "author", "posted_at", "lon", "lat"], "osint_posts")
        t = posts.filter(pc.and_(pc.is_valid(posts["lon"]), pc.is_valid(posts["lat"])))
        parts.append(_cand("osint_post", _prefixed("osint_posts", t["post_id"]), entity_ref("handle", t["author"]),
                           ts_us(t["posted_at"]), t["lon"], t["lat"], h3=t["h3"] if "h3" in t.column_names else None))
        if places is not None and places.num_rows and "place_name" in posts.column_names:
            idx = pc.index_in(posts["place_name"], value_set=combined(places["place_name"]))
            t = posts.filter(pc.is_valid(idx))
            idx = pc.drop_null(idx)
            parts.append(_cand("osint_place", _prefixed("osint_posts", t["post_id"]), entity_ref("handle", t["author"]),
                               ts_us(t["posted_at"]), pc.take(combined(places["lon"]), idx),
                               pc.take(combined(places["lat"]), idx)))
    if detections is not None and detections.num_rows:
        require(detections, ["camera_id", "source", "frame_time", "frame_index", "lon", "lat"], "detections")
        t = detections.append_column("_id", detection_ids(detections))
        t = t.filter(pc.and_(pc.is_valid(t["lon"]), pc.is_valid(t["lat"])))
        parts.append(_cand("camera_detection", _prefixed("detections", t["_id"]), entity_ref("camera", t["camera_id"]),
                           ts_us(t["frame_time"]), t["lon"], t["lat"], h3=t["h3"] if "h3" in t.column_names else None))
    if mentions is not None and mentions.num_rows:
        require(mentions, ["event_id", "occurred_at", "lon", "lat", "h3", "entity_ids"], "events (osint_mention)")
        parts.append(_cand("osint_mention", mentions["event_id"], _first_entity(mentions["entity_ids"]),
                           ts_us(mentions["occurred_at"]), mentions["lon"], mentions["lat"], h3=mentions["h3"]))
    return pa.concat_tables(parts) if parts else CANDIDATES.empty_table()


# -- the kernel -----------------------------------------------------------------------

def default_metric_crs(incidents: pa.Table) -> str:
    """The UTM zone of the incidents' median point."""
    from jobs.geo.points import local_metric_crs

    lon = pc.approximate_median(incidents["lon"]).as_py()
    lat = pc.approximate_median(incidents["lat"]).as_py()
    if lon is None or lat is None:
        raise ValueError("incidents have no coordinates to pick a metric CRS from; pass metric_crs")
    return local_metric_crs(lon, lat)


def _project(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return t.transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))


def _view(ctx, name: str, table: pa.Table) -> None:
    ctx.create_data_frame(table).to_view(name, overwrite=True)


def _tower_dump(inc: pa.Table, cand: pa.Table, cells: pa.Table, s: ContextSettings, ctx) -> pd.DataFrame:
    """Rows of the tower-dump relation (SedonaDB ST_Contains, then an equi + range join on cell and time)."""
    _view(ctx, "_cf_inc", inc)
    _view(ctx, "_cf_cells", cells)
    _view(ctx, "_cf_cdr", cand.select(["record_id", "entity_id", "other_id", "t_us", "lon", "lat", "h3", "cell_id"]))
    before, after = s.tower_before_s * _S, s.tower_after_s * _S
    df = ctx.sql(f"""
        WITH cover AS (
          SELECT i.incident_id, i.t_us AS it, i.x AS ix, i.y AS iy, c.cell_id
          FROM _cf_inc i
          JOIN (SELECT cell_id, ST_GeomFromWKB(geometry) AS g FROM _cf_cells) c
            ON ST_Contains(c.g, ST_Point(i.lon, i.lat))
        )
        SELECT k.incident_id, r.record_id, r.entity_id, r.other_id, r.t_us, r.t_us - k.it AS dt_us,
               k.ix, k.iy, r.lon, r.lat, r.h3, r.cell_id
        FROM cover k JOIN _cf_cdr r
          ON r.cell_id = k.cell_id AND r.t_us >= k.it - {before} AND r.t_us <= k.it + {after}
    """).to_pandas()
    for v in ("_cf_inc", "_cf_cells", "_cf_cdr"):
        ctx.drop_view(v)
    df["relation"] = "tower_dump"
    if df.empty:
        df["contacts_present"] = pd.Series(dtype="int64")
        return df
    # contacts present: distinct other phones of the same dump this phone exchanged records with
    present = df[["incident_id", "entity_id"]].drop_duplicates()
    pairs = df.loc[df["other_id"].notna() & (df["other_id"] != df["entity_id"]), ["incident_id", "entity_id", "other_id"]]
    pairs = pairs.merge(present.rename(columns={"entity_id": "other_id"}), on=["incident_id", "other_id"])
    both = pd.concat([pairs, pairs.rename(columns={"entity_id": "other_id", "other_id": "entity_id"})])
    counts = both.drop_duplicates().groupby(["incident_id", "entity_id"]).size().rename("contacts_present")
    df = df.merge(counts.reset_index(), on=["incident_id", "entity_id"], how="left")
    df["contacts_present"] = df["contacts_present"].fillna(0).astype("int64")
    return df


def _nearby(inc: pa.Table, cand: pa.Table, s: ContextSettings, ctx) -> pd.DataFrame:
    """Rows of the distance relations: SedonaDB ST_DWithin join in metres, then the time window."""
    frames = []
    for relation in ("transaction", "osint_post", "osint_place", "camera_detection", "osint_mention"):
        part = cand.filter(pc.equal(cand["relation"], relation))
        if part.num_rows == 0:
            continue
        before, after, radius = s.window(relation)
        lo = int(pc.min(inc["t_us"]).as_py()) - before * _S
        hi = int(pc.max(inc["t_us"]).as_py()) + after * _S
        part = part.filter(pc.and_(pc.greater_equal(part["t_us"], lo), pc.less_equal(part["t_us"], hi)))
        if part.num_rows == 0:
            continue
        _view(ctx, "_cf_inc", inc)
        _view(ctx, "_cf_rec", part)
        df = ctx.sql(f"""
            SELECT i.incident_id, r.record_id, r.entity_id, r.t_us, r.t_us - i.t_us AS dt_us, i.x AS ix, i.y AS iy,
                   r.lon, r.lat, r.h3, r.cell_id, ST_Distance(ST_Point(i.x, i.y), ST_Point(r.x, r.y)) AS distance_m
            FROM _cf_inc i JOIN _cf_rec r
              ON ST_DWithin(ST_Point(i.x, i.y), ST_Point(r.x, r.y), {float(radius)})
            WHERE r.t_us >= i.t_us - {before * _S} AND r.t_us <= i.t_us + {after * _S}
        """).to_pandas()
        ctx.drop_view("_cf_inc")
        ctx.drop_view("_cf_rec")
        df["relation"] = relation
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    # a post matched by its own geotag is not repeated as a place match for the same incident
    geo = df.loc[df["relation"] == "osint_post", ["incident_id", "record_id"]]
    if len(geo):
        place = df["relation"] == "osint_place"
        dup = pd.MultiIndex.from_frame(df.loc[place, ["incident_id", "record_id"]]).isin(pd.MultiIndex.from_frame(geo))
        df = df.drop(df.index[place][dup])
    return df


def incident_context(incidents: pa.Table, *, tower: pa.Table | None = None, nearby: pa.Table | None = None,
                     cell_sites: pa.Table | None = None, ctx, settings: ContextSettings | None = None,
                     metric_crs: str | None = None) -> pa.Table:
    """Context rows of every incident (the kernel: embedded mode calls it once, Spark once per partition).

    Parameters
    ----------
    incidents
        ``incident_id``, ``occurred_at``, ``lon``, ``lat`` of the incidents to build context for.
    tower
        :func:`tower_candidates` (CDR rows at their cell site); None skips tower dumps.
    nearby
        :func:`nearby_candidates`; None skips the distance relations.
    cell_sites
        ``cell_id`` and ``geometry`` (WKB coverage sector), required with ``tower``.
    ctx
        SedonaDB context, owned by the caller.
    settings
        Windows and radii (:class:`ContextSettings`).
    metric_crs
        CRS in metres for distances; default the UTM zone of the incidents' median point.

    Returns
    -------
    pa.Table
        :data:`jobs.fusion.schemas.INCIDENT_CONTEXT`, sorted by incident, relation, record.

    Notes
    -----
    A tower dump (cell dump) lists every handset served by the cells covering a
    place in a time window; Sedona's ``ST_Contains``/``ST_DWithin`` joins build it
    with a spatial index (Apache Sedona / SedonaDB, https://sedona.apache.org).
    """
    s = settings or ContextSettings()
    require(incidents, ["incident_id", "occurred_at", "lon", "lat"], "incidents")
    inc = incidents.filter(pc.and_(pc.is_valid(incidents["lon"]), pc.is_valid(incidents["lat"])))
    if inc.num_rows == 0:
        return INCIDENT_CONTEXT.empty_table()
    crs = metric_crs or default_metric_crs(inc)
    x, y = _project(inc["lon"].to_numpy(zero_copy_only=False), inc["lat"].to_numpy(zero_copy_only=False), crs)
    inc = pa.table({"incident_id": combined(inc["incident_id"]), "t_us": ts_us(inc["occurred_at"]),
                    "lon": combined(inc["lon"]).cast(pa.float64()), "lat": combined(inc["lat"]).cast(pa.float64()),
                    "x": x, "y": y})
    frames = []
    if tower is not None and tower.num_rows:
        if cell_sites is None or "geometry" not in cell_sites.column_names:
            raise ValueError("tower dumps need cell_sites with the coverage sector polygons (geometry)")
        cells = cell_sites.select(["cell_id", "geometry"]).filter(pc.is_valid(cell_sites["geometry"]))
        td = _tower_dump(inc, tower, cells, s, ctx)
        if len(td):
            td["distance_m"] = np.hypot(*(np.subtract(a, b) for a, b in zip(_project(td["lon"], td["lat"], crs),
                                                                           (td["ix"], td["iy"]))))
            td["confidence"] = np.where(td["contacts_present"] >= s.flag_min_contacts, 0.8, 0.2)
            frames.append(td)
    if nearby is not None and nearby.num_rows:
        cand = nearby
        cx, cy = _project(cand["lon"].to_numpy(zero_copy_only=False), cand["lat"].to_numpy(zero_copy_only=False), crs)
        cand = cand.append_column("x", pa.array(cx)).append_column("y", pa.array(cy))
        nb = _nearby(inc, cand, s, ctx)
        if len(nb):
            radius = nb["relation"].map(lambda r: s.window(r)[2]).astype(float)
            # closer is more telling; a named place is vaguer than a geotag
            vague = nb["relation"].isin(["osint_place", "osint_mention"])
            nb["confidence"] = np.round((1.0 - nb["distance_m"] / radius.clip(lower=1.0)).clip(0.0, 1.0)
                                        * np.where(vague, 0.5, 1.0), 6)
            nb["contacts_present"] = pd.NA
            frames.append(nb)
    if not frames:
        return INCIDENT_CONTEXT.empty_table()
    df = pd.concat(frames, ignore_index=True)
    df = df.sort_values(["incident_id", "relation", "record_id"], kind="stable").reset_index(drop=True)
    from jobs.geo.points import points_wkb

    lon, lat = df["lon"].to_numpy("float64"), df["lat"].to_numpy("float64")
    return pa.table({
        "incident_id": pa.array(df["incident_id"], pa.string()),
        "relation": pa.array(df["relation"], pa.string()),
        "record_id": pa.array(df["record_id"], pa.string()),
        "entity_id": pa.array(df["entity_id"], pa.string()),
        "occurred_at": us_ts(df["t_us"].to_numpy("int64")),
        "dt_s": pa.array((df["dt_us"].to_numpy("int64") // _S)),
        "distance_m": pa.array(np.round(df["distance_m"].to_numpy("float64"), 3)),
        "cell_id": pa.array(df["cell_id"], pa.string()),
        "lon": pa.array(lon), "lat": pa.array(lat), "geometry": points_wkb(lon, lat),
        "h3": pa.array(df["h3"], pa.string()),
        "contacts_present": pa.array(df["contacts_present"].astype("Int64"), pa.int64()),
        "confidence": pa.array(df["confidence"].to_numpy("float64")),
    }, schema=INCIDENT_CONTEXT)


def context_from_records(incidents: pa.Table, *, cdr: pa.Table | None = None, cell_sites: pa.Table | None = None,
                         transactions: pa.Table | None = None, posts: pa.Table | None = None,
                         detections: pa.Table | None = None, places: pa.Table | None = None,
                         mentions: pa.Table | None = None, ctx, settings: ContextSettings | None = None,
                         metric_crs: str | None = None) -> pa.Table:
    """:func:`incident_context` of ``incidents`` from the silver records themselves (candidates built here).

    Tower dumps need both ``cdr`` and ``cell_sites``; a table that is ``None`` skips its relations.
    ``mentions``: gold ``events`` rows of kind ``osint_mention``.
    Embedded mode calls it once, or once per group of incidents whose windows do not overlap
    (:func:`jobs.fusion.context_windows.context_windows`) with the records of that group's window.
    """
    if not incidents.num_rows:
        return INCIDENT_CONTEXT.empty_table()
    tower = tower_candidates(cdr, cell_sites) if cdr is not None and cell_sites is not None else None
    nearby = nearby_candidates(transactions=transactions, posts=posts, detections=detections, places=places,
                               mentions=mentions)
    return incident_context(incidents, tower=tower, nearby=nearby, cell_sites=cell_sites, ctx=ctx, settings=settings,
                            metric_crs=metric_crs)


def incidents_in_window(incidents: pa.Table, start, end) -> pa.Table:
    """Incidents with ``start <= occurred_at <= end`` (the span the other feeds cover)."""
    ts = incidents["occurred_at"].type
    return incidents.filter(pc.and_(pc.greater_equal(incidents["occurred_at"], pa.scalar(start, ts)),
                                    pc.less_equal(incidents["occurred_at"], pa.scalar(end, ts))))
