"""Gold ``osint_mentions``: one row per place, time, identifier or crime word a post's text names.

:func:`extract_mentions` reads each post once: fold the text (:mod:`jobs.osint.text`),
find places (:class:`jobs.osint.places.PlaceMatcher`), crime vocabulary
(:mod:`jobs.osint.topics`), times (:mod:`jobs.osint.times`,
resolved against ``posted_at`` in the study area's time zone), identifiers
(:mod:`jobs.osint.identifiers`, pseudonymised with ingestion's key) and the language
(:mod:`jobs.osint.language`). :func:`place_scores` scores the place mentions against a
truth table (the synthetic generator's ``truth/osint_places``).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.osint.identifiers import find_identifiers, pseudonyms
from jobs.osint.language import detect
from jobs.osint.places import PlaceMatcher, fold_places
from jobs.osint.text import fold
from jobs.osint.times import ATOMS, resolve
from jobs.osint.topics import find_topics

OSINT_MENTIONS = pa.schema([
    pa.field("post_id", pa.string(), nullable=False),
    pa.field("posted_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("kind", pa.string(), nullable=False),  # place | time | identifier | topic
    # place: gazetteer kind; time: grain; identifier: handle/phone/account; topic: violence/weapons/drugs...
    pa.field("subkind", pa.string()),
    pa.field("span_start", pa.int32(), nullable=False),
    pa.field("span_end", pa.int32(), nullable=False),
    pa.field("text", pa.string()),  # the span as written; null for identifiers (never copied out)
    pa.field("value", pa.string()),  # place_id | local ISO date-time with offset | pseudonym | topic word
    pa.field("place_name", pa.string()),
    pa.field("lon", pa.float64()), pa.field("lat", pa.float64()),
    pa.field("h3", pa.string()), pa.field("district", pa.string()),
    pa.field("time_at", pa.timestamp("us", tz="UTC")),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("method", pa.string(), nullable=False),  # exact | fuzzy | pattern
    pa.field("language", pa.string(), nullable=False),
])

#: Month-first numeric dates ("12/24") are read day-first in posts in these languages.
DAY_FIRST = frozenset({"es", "pl", "fr", "pt", "de"})


@dataclass(frozen=True)
class MentionSettings:
    """What :func:`extract_mentions` reads and how hard it tries."""

    fuzzy: bool = True
    #: Lowest spelling similarity of a place kept (a corrected spelling's RapidFuzz ratio to its alias).
    min_place_score: float = 0.8
    workers: int = 1
    chunk: int = 50_000

    def __post_init__(self):
        if not 0 <= self.min_place_score <= 1:
            raise ValueError(f"min_place_score must be in [0, 1], got {self.min_place_score}")
        if self.workers < 1 or self.chunk < 1:
            raise ValueError(f"workers and chunk must be >= 1, got {self.workers}, {self.chunk}")


_STATE: dict = {}  # the matcher of the batch, inherited by forked workers


def _read_chunk(args) -> list[tuple]:
    """Rows ``(i, kind, subkind, start, end, value_ref, score, method, lang, extra)`` of texts[lo:hi]."""
    lo, texts, posted_local = args
    matcher: PlaceMatcher = _STATE["matcher"]
    min_score = _STATE["min_place_score"]
    folded = [fold_places(t) if t else "" for t in texts]
    langs = [detect(t)[0] for t in texts]
    rows = []
    for h in matcher.find(folded):
        if h.similarity >= min_score:  # an ambiguous alias keeps its lower score, but is not dropped for it
            exact = h.alias == " ".join(folded[h.row][h.start:h.end].split())
            rows.append((lo + h.row, "place", None, h.start, h.end, h.place, h.score, "exact" if exact else "fuzzy",
                         langs[h.row], None))
    for i, t in enumerate(texts):
        if not t:
            continue
        for s, e, topic, word in find_topics(folded[i]):
            rows.append((lo + i, "topic", topic, s, e, word, 1.0, "pattern", langs[i], None))
        ft = fold(t, times=True)
        if ATOMS.search(ft):
            for th in resolve(ft, posted_local[i], day_first=langs[i] in DAY_FIRST):
                rows.append((lo + i, "time", th.grain, th.start, th.end, None, 1.0, "pattern", langs[i], th.local))
        if "@" in t or any(c.isdigit() for c in t):
            for ih in find_identifiers(i, t):
                rows.append((lo + i, "identifier", ih.kind, ih.start, ih.end, ih, 1.0, "pattern", langs[i], None))
    return rows


def extract_mentions(posts: pa.Table, gazetteer: pa.Table, *, tz: str, key: bytes | None,
                     settings: MentionSettings = MentionSettings()) -> pa.Table:
    """The mentions of every post (:data:`OSINT_MENTIONS`), sorted by post and position.

    Parameters
    ----------
    posts
        ``post_id``, ``text``, ``posted_at`` (UTC); e.g. silver ``osint_posts``.
    gazetteer
        :func:`jobs.osint.gazetteer.build_gazetteer`.
    tz
        The study area's IANA time zone: times are read on its wall clock.
    key
        Ingestion's pseudonymisation key (``None``: raw identifiers are kept, normalised).
    settings
        Fuzzy matching on or off, the lowest place score kept, worker processes (fork) and chunk size.
    """
    for c in ("post_id", "text", "posted_at"):
        if c not in posts.column_names:
            raise ValueError(f"osint_posts has no column {c!r} (columns: {posts.column_names})")
    texts = posts["text"].to_pylist()
    local = pc.local_timestamp(pc.cast(posts["posted_at"], pa.timestamp("us", tz=tz)))
    posted_local = local.to_pylist()
    _STATE.update(matcher=PlaceMatcher(gazetteer, fuzzy=settings.fuzzy), min_place_score=settings.min_place_score)
    jobs = [(lo, texts[lo:lo + settings.chunk], posted_local[lo:lo + settings.chunk])
            for lo in range(0, len(texts), settings.chunk)]
    if settings.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(settings.workers, mp_context=get_context("fork")) as pool:
            parts = list(pool.map(_read_chunk, jobs))
    else:
        parts = [_read_chunk(j) for j in jobs]
    rows = [r for p in parts for r in p]
    return _table(rows, posts, texts, gazetteer, tz, key)


def _table(rows: list[tuple], posts: pa.Table, texts: list, gazetteer: pa.Table, tz: str,
           key: bytes | None) -> pa.Table:
    rows.sort(key=lambda r: (r[0], r[3], r[1]))
    n = len(rows)
    idx = np.array([r[0] for r in rows], dtype=np.int64)
    kind = [r[1] for r in rows]
    place = np.array([r[5] if r[1] == "place" else -1 for r in rows], dtype=np.int64)
    is_place = place >= 0
    g = {c: gazetteer[c].to_numpy(zero_copy_only=False) if gazetteer.num_rows else np.array([], dtype=object)
         for c in ("place_id", "name", "kind", "lon", "lat", "h3", "district")}

    def from_gaz(col, fill):
        out = np.full(n, fill, dtype=object)
        out[is_place] = g[col][place[is_place]]
        return out

    ids = [r[5] for r in rows if r[1] == "identifier"]
    pseudo = iter(pseudonyms(ids, key))
    times = [r[9] for r in rows if r[1] == "time"]
    stamps = iter(_instants(times, tz))
    value, time_at = [], []
    for r in rows:
        if r[1] == "identifier":
            value.append(next(pseudo))
            time_at.append(None)
        elif r[1] == "time":
            ts = next(stamps)
            value.append(ts.isoformat())
            time_at.append(ts.tz_convert("UTC"))
        elif r[1] == "topic":
            value.append(r[5])
            time_at.append(None)
        else:
            value.append(None)
            time_at.append(None)
    value = np.where(is_place, from_gaz("place_id", None), np.array(value, dtype=object))
    span = [None if r[1] == "identifier" else texts[r[0]][r[3]:r[4]] for r in rows]
    subkind = np.where(is_place, from_gaz("kind", None), np.array([r[2] for r in rows], dtype=object))
    lon, lat = from_gaz("lon", np.nan).astype("float64"), from_gaz("lat", np.nan).astype("float64")
    return pa.table({
        "post_id": pc.take(posts["post_id"], pa.array(idx)), "posted_at": pc.take(posts["posted_at"], pa.array(idx)),
        "kind": pa.array(kind, pa.string()), "subkind": pa.array(subkind, pa.string()),
        "span_start": pa.array([r[3] for r in rows], pa.int32()), "span_end": pa.array([r[4] for r in rows], pa.int32()),
        "text": pa.array(span, pa.string()), "value": pa.array(value, pa.string()),
        "place_name": pa.array(from_gaz("name", None), pa.string()),
        "lon": pa.array(lon, mask=~is_place), "lat": pa.array(lat, mask=~is_place),
        "h3": pa.array(from_gaz("h3", None), pa.string()), "district": pa.array(from_gaz("district", None), pa.string()),
        "time_at": pa.array(time_at, pa.timestamp("us", tz="UTC")),
        "score": pa.array([float(r[6]) for r in rows], pa.float64()),
        "method": pa.array([r[7] for r in rows], pa.string()), "language": pa.array([r[8] for r in rows], pa.string()),
    }, schema=OSINT_MENTIONS)


def _instants(local: list, tz: str) -> list[pd.Timestamp]:
    """Naive wall-clock times as instants in ``tz``, by :func:`jobs.localtime.wall_time`'s rule (a time that
    does not exist moves forward, an ambiguous one takes the first), all at once."""
    if not local:
        return []
    idx = pd.DatetimeIndex(local)
    return list(idx.tz_localize(tz, ambiguous=np.ones(len(idx), dtype=bool), nonexistent="shift_forward"))


def place_scores(mentions: pa.Table, truth: pa.Table) -> dict[str, float]:
    """Precision, recall and F1 of place mentions against truth, by (post, place name) pairs.

    ``truth``: ``post_id, place_name`` (one row per place a post's text names); posts absent from it name
    none, so every place found in them is a false positive. Post ids are compared after the feed prefix
    silver adds (``synthetic_osint:``) is dropped.
    """
    def pairs(t: pa.Table) -> set[tuple[str, str]]:
        ids = [p.split(":", 1)[-1] for p in t["post_id"].to_pylist()]
        return set(zip(ids, t["place_name"].to_pylist()))

    found = pairs(mentions.filter(pc.equal(mentions["kind"], "place")))
    want = pairs(truth)
    tp = len(found & want)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(want) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "found": len(found), "truth": len(want),
            "true_positives": tp}
