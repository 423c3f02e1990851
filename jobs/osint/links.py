"""Gold ``osint_incident_links``: posts linked to the incidents they may report or announce, scored.

A post is a candidate for an incident when a place it names (its resolved place mentions in
``osint_mentions``) or its geotag lies within ``max_distance_m`` of the incident, and the incident
falls in the post's time window: the ``report_window_h`` hours before it was posted when its text
names no time, else within ``named_window_h`` hours of a time it names (an announcement names a
time after it was posted, a report may name the hour it saw). Each candidate is scored

    score = σ(bias + w_text·similarity − distance_m / distance_scale_m − offset_h / time_scale_h)

with σ the logistic function, ``similarity`` the cosine of the post's text and the incident's
description (category, location type, weapon and narrative, WordLlama vectors, clipped at 0), and
``offset_h`` the hours between the incident and the post's time anchor (posted_at for a report
without a named time, else the nearest named time). The score rises with the similarity and
falls with distance and time offset (monotone in each); the weights are set by principle, not
fitted: one ``distance_scale_m`` or one ``time_scale_h`` away costs as much as ``w_text`` times
a full similarity gap, and ``bias`` puts a same-place, same-time candidate with no shared words
at σ(bias). The best ``k`` incidents of each post are kept.

The join is vectorised: incidents are sorted by time, each (post location, time window) finds its
range of incidents with one ``searchsorted``, the pairs are expanded with NumPy and the
distances computed at once on a local metric plane; no Python loop over posts or incidents.
Time-first, because a window of hours holds far fewer incidents than a disc of kilometres over years.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OSINT_INCIDENT_LINKS = pa.schema([
    pa.field("post_id", pa.string(), nullable=False),
    pa.field("incident_id", pa.string(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),  # in [0, 1]; see the module's formula
    pa.field("distance_m", pa.float64(), nullable=False),  # nearest named place or geotag to the incident
    pa.field("time_gap_h", pa.float64(), nullable=False),  # posted_at minus occurred_at: > 0 report, < 0 announce
    pa.field("text_similarity", pa.float64(), nullable=False),  # cosine of post and incident description, >= 0
    pa.field("relation", pa.string(), nullable=False),  # report | announce
    pa.field("rank", pa.int32(), nullable=False),  # 1 = the post's best incident
])

_EARTH_M = 6_371_008.8
_HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class LinkSettings:
    """Where and when an incident is a post's candidate, and how candidates are scored (module docstring)."""

    max_distance_m: float = 3000.0
    report_window_h: float = 24.0
    named_window_h: float = 12.0
    distance_scale_m: float = 1000.0
    time_scale_h: float = 6.0
    w_text: float = 4.0
    bias: float = 1.0
    k: int = 3
    #: the default threshold: links scoring below are kept in the table but not counted as links by the check
    threshold: float = 0.5
    #: pairs expanded at once (memory bound of the join)
    chunk_pairs: int = 2_000_000

    def __post_init__(self):
        for name in ("max_distance_m", "report_window_h", "named_window_h", "distance_scale_m", "time_scale_h"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.k < 1 or self.chunk_pairs < 1:
            raise ValueError(f"k and chunk_pairs must be >= 1, got {self.k}, {self.chunk_pairs}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")


def score(similarity, distance_m, offset_h, settings: LinkSettings = LinkSettings()) -> np.ndarray:
    """The module's logistic score of candidates (arrays of equal length), in [0, 1]."""
    z = (settings.bias + settings.w_text * np.clip(np.asarray(similarity, float), 0, 1)
         - np.asarray(distance_m, float) / settings.distance_scale_m
         - np.abs(np.asarray(offset_h, float)) / settings.time_scale_h)
    return 1.0 / (1.0 + np.exp(-z))


def _micros(values) -> np.ndarray:
    return pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), pa.int64()).to_numpy(zero_copy_only=False)


def _col(t: pa.Table, name: str) -> np.ndarray:
    return t[name].to_numpy(zero_copy_only=False)


def post_locations(mentions: pa.Table, posts: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(post index, lon, lat)`` of every resolved place a post names and of its geotag, if any."""
    index = {p: i for i, p in enumerate(posts["post_id"].to_pylist())}
    places = mentions.filter(pc.and_(pc.equal(mentions["kind"], "place"), pc.is_valid(mentions["lon"])))
    pi = np.array([index.get(p, -1) for p in places["post_id"].to_pylist()], dtype=np.int64)
    keep = pi >= 0
    idx, lon, lat = [pi[keep]], [_col(places, "lon")[keep]], [_col(places, "lat")[keep]]
    if "lon" in posts.column_names and "lat" in posts.column_names:
        glon = posts["lon"].to_numpy(zero_copy_only=False).astype(float)
        glat = posts["lat"].to_numpy(zero_copy_only=False).astype(float)
        geo = np.flatnonzero(np.isfinite(glon) & np.isfinite(glat))
        idx, lon, lat = idx + [geo], lon + [glon[geo]], lat + [glat[geo]]
    return np.concatenate(idx), np.concatenate(lon).astype(float), np.concatenate(lat).astype(float)


def post_windows(mentions: pa.Table, posts: pa.Table, settings: LinkSettings) -> tuple[np.ndarray, ...]:
    """``(post index, anchor, lo, hi)`` in µs: each time a post names (± ``named_window_h``), or, for a post
    naming none, its posted_at with the ``report_window_h`` hours before it."""
    index = {p: i for i, p in enumerate(posts["post_id"].to_pylist())}
    times = mentions.filter(pc.and_(pc.equal(mentions["kind"], "time"), pc.is_valid(mentions["time_at"])))
    ti = np.array([index.get(p, -1) for p in times["post_id"].to_pylist()], dtype=np.int64)
    keep = ti >= 0
    ti, tt = ti[keep], _micros(times["time_at"])[keep]
    posted = _micros(posts["posted_at"])
    plain = np.setdiff1d(np.arange(posts.num_rows), ti)
    nw, rw = int(settings.named_window_h * _HOUR_US), int(settings.report_window_h * _HOUR_US)
    idx = np.concatenate([ti, plain])
    anchor = np.concatenate([tt, posted[plain]])
    lo = np.concatenate([tt - nw, posted[plain] - rw])
    hi = np.concatenate([tt + nw, posted[plain]])
    return idx, anchor, lo, hi


def _plane(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    """Metres on the plane tangent at latitude ``lat0`` (equirectangular: < 0.1 % error over tens of km)."""
    return np.column_stack([np.radians(lon) * np.cos(np.radians(lat0)) * _EARTH_M, np.radians(lat) * _EARTH_M])


def candidates(mentions: pa.Table, posts: pa.Table, incidents: pa.Table,
               settings: LinkSettings = LinkSettings()) -> dict[str, np.ndarray]:
    """Every (post, incident) pair within distance and time: ``post``, ``incident`` (row indices),
    ``distance_m`` (nearest of the post's places), ``offset_h`` (to the nearest anchor), one row a pair."""
    empty = {k: np.zeros(0, t) for k, t in (("post", np.int64), ("incident", np.int64), ("distance_m", float),
                                            ("offset_h", float))}
    loc_post, lon, lat = post_locations(mentions, posts)
    win_post, anchor, lo, hi = post_windows(mentions, posts, settings)
    ilon, ilat = _col(incidents, "lon").astype(float), _col(incidents, "lat").astype(float)
    ok = np.flatnonzero(np.isfinite(ilon) & np.isfinite(ilat))
    if not len(loc_post) or not len(ok):
        return empty
    # (location, window) rows of each post: every place it names with every time window it has
    order = np.argsort(win_post, kind="stable")
    win_post, anchor, lo, hi = win_post[order], anchor[order], lo[order], hi[order]
    first = np.searchsorted(win_post, loc_post, "left")
    count = np.searchsorted(win_post, loc_post, "right") - first
    li = np.repeat(np.arange(len(loc_post)), count)
    wi = np.repeat(first, count) + _ranks(count)
    itime = _micros(incidents["occurred_at"])[ok]
    by_time = np.argsort(itime, kind="stable")
    itime, inc = itime[by_time], ok[by_time]
    lat0 = float(np.median(ilat[ok]))
    ixy, lxy = _plane(ilon[inc], ilat[inc], lat0), _plane(lon, lat, lat0)
    start = np.searchsorted(itime, lo[wi], "left")
    n = np.searchsorted(itime, hi[wi], "right") - start
    parts = []
    bounds = np.concatenate([[0], np.cumsum(n)])
    step = max(1, settings.chunk_pairs)
    for a, b in _chunks(bounds, step):
        cnt = n[a:b]
        row = np.repeat(np.arange(a, b), cnt)
        j = np.repeat(start[a:b], cnt) + _ranks(cnt)
        d = np.hypot(*(ixy[j] - lxy[li[row]]).T)
        near = d <= settings.max_distance_m
        row, j, d = row[near], j[near], d[near]
        off = np.abs(itime[j] - anchor[wi[row]]) / _HOUR_US
        parts.append((loc_post[li[row]], inc[j], d, off))
    post, incident, dist, off = (np.concatenate(x) for x in zip(*parts)) if parts else ([],) * 4
    if not len(post):
        return empty
    # one row a pair: its nearest place and nearest anchor (both only raise the score)
    key = np.lexsort((off, dist, incident, post))
    post, incident = post[key], incident[key]
    first_of = np.concatenate([[True], (post[1:] != post[:-1]) | (incident[1:] != incident[:-1])])
    best_d = np.minimum.reduceat(dist[key], np.flatnonzero(first_of))
    best_o = np.minimum.reduceat(off[key], np.flatnonzero(first_of))
    return {"post": post[first_of], "incident": incident[first_of], "distance_m": best_d, "offset_h": best_o}


def _ranks(count: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each count c, concatenated."""
    total = int(count.sum())
    if not total:
        return np.zeros(0, np.int64)
    ends = np.cumsum(count)
    return np.arange(total) - np.repeat(ends - count, count)


def _chunks(bounds: np.ndarray, step: int):
    """``(a, b)`` row ranges whose pair counts (``bounds`` cumulative) stay near ``step``."""
    a, rows = 0, len(bounds) - 1
    while a < rows:
        b = int(np.searchsorted(bounds, bounds[a] + step, "right")) - 1
        b = min(max(b, a + 1), rows)
        yield a, b
        a = b


def incident_texts(incidents: pa.Table) -> list[str]:
    """What an incident's description says: its category, location type, weapon and narrative, where known."""
    cols = [c for c in ("category", "location_type", "weapon", "mo_text") if c in incidents.column_names]
    values = [[(v or "").replace("_", " ") for v in incidents[c].to_pylist()] for c in cols]
    return [" ".join(x for x in row if x) for row in zip(*values)] if values else [""] * incidents.num_rows


def link_posts(mentions: pa.Table, posts: pa.Table, incidents: pa.Table, *,
               embed: Callable[[list[str]], np.ndarray], settings: LinkSettings = LinkSettings()) -> pa.Table:
    """The best ``settings.k`` incidents of each post (:data:`OSINT_INCIDENT_LINKS`), best first.

    Parameters
    ----------
    mentions
        Gold ``osint_mentions`` (``post_id, kind, lon, lat, time_at``).
    posts
        ``post_id, posted_at, text`` and optionally the geotag ``lon, lat`` (silver ``osint_posts``).
    incidents
        ``incident_id, occurred_at, lon, lat`` and the descriptive columns that exist (``category``,
        ``location_type``, ``weapon``, ``mo_text``).
    embed
        Texts to unit vectors (rows), e.g. :func:`jobs.ask.semantic.embed`; texts should be redacted of
        identifiers by the caller.
    """
    for name, t, cols in (("osint_posts", posts, ("post_id", "posted_at", "text")),
                          ("incidents", incidents, ("incident_id", "occurred_at", "lon", "lat"))):
        missing = [c for c in cols if c not in t.column_names]
        if missing:
            raise ValueError(f"{name} has no column(s) {missing} (columns: {t.column_names})")
    c = candidates(mentions, posts, incidents, settings)
    if not len(c["post"]):
        return OSINT_INCIDENT_LINKS.empty_table()
    sim = similarities(posts["text"].to_pylist(), incident_texts(incidents), c["post"], c["incident"], embed)
    s = score(sim, c["distance_m"], c["offset_h"], settings)
    gap = (_micros(posts["posted_at"])[c["post"]] - _micros(incidents["occurred_at"])[c["incident"]]) / _HOUR_US
    order = np.lexsort((-s, c["post"]))
    post = c["post"][order]
    rank = _ranks(np.unique(post, return_counts=True)[1]) + 1
    keep = order[rank <= settings.k]
    rank = rank[rank <= settings.k]
    return pa.table({
        "post_id": pc.take(posts["post_id"], pa.array(c["post"][keep])),
        "incident_id": pc.take(incidents["incident_id"], pa.array(c["incident"][keep])),
        "score": pa.array(s[keep], pa.float64()), "distance_m": pa.array(c["distance_m"][keep], pa.float64()),
        "time_gap_h": pa.array(gap[keep], pa.float64()), "text_similarity": pa.array(sim[keep], pa.float64()),
        "relation": pa.array(np.where(gap[keep] >= 0, "report", "announce"), pa.string()),
        "rank": pa.array(rank, pa.int32()),
    }, schema=OSINT_INCIDENT_LINKS)


def similarities(post_texts: list, incident_texts_: list[str], post: np.ndarray, incident: np.ndarray,
                 embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Cosine (clipped at 0) of each pair's post text and incident description; each distinct text embedded once."""
    ptxt = [post_texts[i] or "" for i in post.tolist()]
    itxt = [incident_texts_[i] for i in incident.tolist()]
    pu, pinv = np.unique(np.array(ptxt, dtype=object), return_inverse=True)
    iu, iinv = np.unique(np.array(itxt, dtype=object), return_inverse=True)
    pv, iv = embed(list(pu)), embed(list(iu))
    return np.clip(np.einsum("ij,ij->i", pv[pinv], iv[iinv]), 0.0, 1.0)


def link_scores(links: pa.Table, truth: pa.Table, threshold: float) -> dict[str, float]:
    """Precision and recall of the links scoring at least ``threshold`` against truth ``post_id, incident_id``
    (post ids compared after the feed prefix silver adds, as :func:`jobs.osint.mentions.place_scores` does)."""
    kept = links.filter(pc.greater_equal(links["score"], threshold))
    found = {(p.split(":", 1)[-1], i) for p, i in zip(kept["post_id"].to_pylist(), kept["incident_id"].to_pylist())}
    want = {(p.split(":", 1)[-1], i) for p, i in zip(truth["post_id"].to_pylist(), truth["incident_id"].to_pylist())}
    tp = len(found & want)
    return {"precision": tp / len(found) if found else 0.0, "recall": tp / len(want) if want else 0.0,
            "found": len(found), "truth": len(want), "true_positives": tp}
