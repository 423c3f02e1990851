"""Entity resolution: ``entities`` and typed ``entity_links`` with evidence and confidence.

Deterministic links come from the pseudonymised identifiers themselves: keyed
hashes of normalised values join across sources (a phone in a CDR and in a person
record is the same ``phone:`` entity). Links:

| link_type | from | rule | confidence |
| --- | --- | --- | --- |
| ``called`` | phone -> phone | CDR calls/SMS, each call counted once (MO and MT records of one call collapse) | 1.0 |
| ``uses`` | phone -> device | the served party's IMEI on its CDR rows | 1.0 |
| ``uses`` | person -> phone / account | the person record lists it | 0.9 |
| ``transacted-with`` | account -> account | transactions between them | 1.0 |
| ``mentioned`` | handle -> handle | a post by the first mentions the second | 1.0 |
| ``named-in-post`` | handle -> handle / phone / account | the text of a post by the first names the second (gold ``osint_mentions`` identifiers) | 0.7 |
| ``same-as`` | phone <-> phone | several SIMs seen in one handset (IMEI) | 0.6 |
| ``same-as`` | person <-> person | person-record matching (below) | 0.5-0.99 |
| ``seen-near`` | phone <-> phone | both in one incident's tower dump and in contact there | 0.8 |
| ``seen-near`` | vehicle -> camera | the camera tracked the vehicle (one link per track) | 1.0 |
| ``seen-near`` | phone <-> vehicle | the vehicle was detected near an incident (``camera_detection``) whose tower dump holds the phone, flagged (in contact with another dumped phone) | 0.5 |

**Person matching.** Names are pseudonymised per whole name, so spelling variants
("Jon Smith", "SMITH, JON", a transposed letter) hash to unrelated values and no
string similarity can be computed on silver. Matching therefore uses what survives
pseudonymisation, each candidate pair scored by its strongest evidence:

- same name pseudonym and same date of birth: 0.99;
- a shared phone or account and a *compatible* date of birth (equal, one day
  apart, or day and month swapped, the typing errors seen in records): 0.95;
- same name pseudonym, date of birth different or missing: 0.6;
- a shared phone or account, dates of birth incompatible: 0.5 (a household phone).

A date of birth alone is no evidence (468 synthetic persons already hold 16
shared birthdays). Links at or above ``same_as_threshold`` (default 0.8) are
emitted and merge records into one ``cluster_id``; below it they are dropped.
Scored against ``truth/person_duplicates``: the 7 of 9 duplicates that share a
phone with their original are found with no false match; the 2 whose record has
no phone cannot be told from a birthday coincidence without the raw names (the
bronze path, a setting not built yet).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.cdr import served_party
from jobs.fusion.arrow_ops import combined, entity_ref, require, ts_us, us_ts
from jobs.fusion.events import detection_ids, vehicle_ids
from jobs.fusion.schemas import CDR_LINK_PARTIALS, ENTITIES, ENTITY_LINKS, ENTITY_STATS

_LINK_COLS = ["src", "dst", "link_type", "n_evidence", "first_us", "last_us", "evidence", "confidence"]


def _ref(kind: str, col) -> np.ndarray:
    return entity_ref(kind, col).to_numpy(zero_copy_only=False)


def _us(times: pd.Series) -> np.ndarray:
    """Microseconds since the epoch of a tz-aware pandas time column, whatever its unit (pandas keeps Arrow's us)."""
    return times.astype("datetime64[us, UTC]").astype("int64").to_numpy()


def _partial(df: pd.DataFrame, *, undirected: bool = False) -> pd.DataFrame:
    """Per (src, dst) of (src, dst, t_us, record) rows: count, first/last time and the smallest record id."""
    df = df.dropna(subset=["src", "dst"])
    df = df[df["src"] != df["dst"]]
    if undirected:
        a, b = df["src"].to_numpy(object), df["dst"].to_numpy(object)
        swap = a > b
        df = df.assign(src=np.where(swap, b, a), dst=np.where(swap, a, b))
    if df.empty:
        return pd.DataFrame(columns=["src", "dst", "n_evidence", "first_us", "last_us", "sample"])
    g = df.sort_values("record", kind="stable").groupby(["src", "dst"], sort=True)
    return g.agg(n_evidence=("record", "size"), first_us=("t_us", "min"), last_us=("t_us", "max"),
                 sample=("record", "first")).reset_index()


def _finish(out: pd.DataFrame, link_type: str, confidence: float, rule: str) -> pd.DataFrame:
    if out.empty:
        return pd.DataFrame(columns=_LINK_COLS)
    out = out.assign(link_type=link_type, confidence=confidence,
                     evidence=rule + " n=" + out["n_evidence"].astype(str) + " e.g. " + out["sample"].astype(str))
    return out[_LINK_COLS]


def _aggregate(df: pd.DataFrame, link_type: str, confidence: float, rule: str, *, undirected: bool = False) -> pd.DataFrame:
    """Links from (src, dst, t_us, record) rows: counts, first/last time and a sample record as evidence."""
    return _finish(_partial(df, undirected=undirected), link_type, confidence, rule)


_CDR_RULES = {"called": (1.0, "cdr"), "uses": (1.0, "cdr served party's IMEI")}


def _partials_table(df: pd.DataFrame) -> pa.Table:
    """A frame of (link_type, src, dst, n_evidence, first_us, last_us, sample) as :data:`CDR_LINK_PARTIALS`."""
    return pa.table({
        "link_type": pa.array(df["link_type"].astype(object), pa.string()),
        "src": pa.array(df["src"].astype(object), pa.string()), "dst": pa.array(df["dst"].astype(object), pa.string()),
        "n_evidence": pa.array(df["n_evidence"].astype("int64")),
        "first_us": pa.array(df["first_us"].astype("Int64"), pa.int64()),
        "last_us": pa.array(df["last_us"].astype("Int64"), pa.int64()),
        "sample": pa.array(df["sample"].astype(object), pa.string())}, schema=CDR_LINK_PARTIALS)


def cdr_link_partials(cdr: pa.Table) -> pa.Table:
    """``called`` and ``uses`` partials of CDR rows (:data:`CDR_LINK_PARTIALS`): count, first, last, smallest record.

    Any split of the CDRs that keeps the rows of one (caller, callee) pair together
    (the MO and MT records of a call are deduplicated within it) gives partials
    whose sum, min, max and min equal the whole table's (Spark mode).
    """
    require(cdr, ["event_id", "caller", "callee", "start_time", "kind"], "cdr_events")
    t_us = ts_us(cdr["start_time"])
    record = combined(cdr["event_id"]).to_numpy(zero_copy_only=False)
    calls = pd.DataFrame({"src": _ref("phone", cdr["caller"]), "dst": _ref("phone", cdr["callee"]), "t_us": t_us,
                          "kind": combined(cdr["kind"]).to_numpy(zero_copy_only=False), "record": record})
    # the MO and MT records of one call share parties, kind and start time
    calls = calls.sort_values("record", kind="stable").drop_duplicates(["src", "dst", "kind", "t_us"])
    parts = [_partial(calls).assign(link_type="called")]
    if "imei" in cdr.column_names:
        dev = pd.DataFrame({"src": _ref("phone", served_party(cdr)), "dst": _ref("device", cdr["imei"]), "t_us": t_us,
                            "record": record})
        parts.append(_partial(dev).assign(link_type="uses"))
    df = pd.concat(parts, ignore_index=True)
    return _partials_table(df)


def cdr_link_increment(new: pa.Table, overlap: pa.Table) -> pa.Table:
    """Partials that ``new`` CDR rows add to those of rows already summarised, exactly as a full build counts.

    ``overlap`` holds the rows already summarised that share a call key
    (parties, kind, start time) with a row of ``new``: the MO or MT record of
    the same call, or the same call delivered again under another record id.
    A full build counts such a call once, so ``called`` evidence counts only
    the calls that ``new`` adds; ``uses`` evidence counts every row and adds.
    Merge the result with counts adding, least first, greatest last and
    smallest sample.
    """
    def called(t: pa.Table) -> pd.DataFrame:
        p = cdr_link_partials(t).to_pandas()
        return p[p["link_type"] == "called"]

    both = called(pa.concat_tables([new, overlap.select(new.column_names).cast(new.schema)]) if overlap.num_rows else new)
    before = called(overlap) if overlap.num_rows else both.iloc[0:0]
    both = both.merge(before[["src", "dst", "n_evidence"]], on=["src", "dst"], how="left", suffixes=("", "_before"))
    both["n_evidence"] = both["n_evidence"] - both["n_evidence_before"].fillna(0).astype("int64")
    uses = cdr_link_partials(new).to_pandas()
    uses = uses[uses["link_type"] == "uses"]
    df = pd.concat([both.drop(columns="n_evidence_before"), uses], ignore_index=True)
    return _partials_table(df)


def reduce_cdr_partials(partials: pa.Table) -> pa.Table:
    """One partial per (link type, src, dst): counts add, first is the least, last the greatest, the smallest sample."""
    keys = ["link_type", "src", "dst"]
    t = partials.select([*keys, "n_evidence", "first_us", "last_us", "sample"]).cast(CDR_LINK_PARTIALS)
    t = t.filter(pc.and_(pc.and_(pc.is_valid(t["link_type"]), pc.is_valid(t["src"])), pc.is_valid(t["dst"])))
    # Arrow's hash aggregation: min and max skip nulls, strings compare by code point (as Python's do)
    g = t.group_by(keys, use_threads=False).aggregate(
        [("n_evidence", "sum"), ("first_us", "min"), ("last_us", "max"), ("sample", "min")])
    out = pa.table({"link_type": g["link_type"], "src": g["src"], "dst": g["dst"],
                    "n_evidence": pc.fill_null(g["n_evidence_sum"], 0), "first_us": g["first_us_min"],
                    "last_us": g["last_us_max"], "sample": g["sample_min"]}, schema=CDR_LINK_PARTIALS)
    return out.sort_by([(k, "ascending") for k in keys])


#: Partials of the links of one record each (``transacted-with``, ``mentioned``): same columns as the CDR ones.
LINK_PARTIALS = CDR_LINK_PARTIALS
#: ``named-in-post`` is read from free text by patterns: the identifier is certain (its pseudonym joins or not),
#: what the author's naming it says about the author is not (a number to call, a scammer reported, a friend's
#: handle), hence below the structured ``mentioned`` field and a person record's ``uses`` (docs/osint.md).
_RECORD_RULES = {"transacted-with": (1.0, "transactions"), "mentioned": (1.0, "osint post"),
                 "named-in-post": (0.7, "osint post text")}
#: Identifier kinds of ``osint_mentions`` (its ``subkind``) that are entity kinds here.
NAMED_KINDS = ("handle", "phone", "account")


def transaction_link_partials(transactions: pa.Table) -> pa.Table:
    """``transacted-with`` partials (:data:`LINK_PARTIALS`) of transactions: per account pair, count, first, last, smallest id.

    Any split of the rows gives partials whose sum, min, max and min equal the
    whole table's (each transaction is evidence once), so partials of new rows
    merge into stored ones; a pair depends only on rows whose ``account`` is
    its ``src``.
    """
    require(transactions, ["txn_id", "account", "counterparty", "occurred_at"], "transactions")
    tx = pd.DataFrame({"src": _ref("account", transactions["account"]),
                       "dst": _ref("account", transactions["counterparty"]),
                       "t_us": ts_us(transactions["occurred_at"]),
                       "record": combined(transactions["txn_id"]).to_numpy(zero_copy_only=False)})
    return _partials_table(_partial(tx).assign(link_type="transacted-with"))


def post_link_partials(posts: pa.Table) -> pa.Table:
    """``mentioned`` partials (:data:`LINK_PARTIALS`) of posts: per (author, mentioned handle), as above.

    A pair depends only on posts whose ``author`` is its ``src``.
    """
    if "mentions" not in posts.column_names or not posts.num_rows:
        return LINK_PARTIALS.empty_table()
    require(posts, ["post_id", "author", "posted_at"], "osint_posts")
    m = posts.filter(pc.greater(pc.fill_null(pc.list_value_length(posts["mentions"]), 0), 0))
    if not m.num_rows:
        return LINK_PARTIALS.empty_table()
    parent = pc.list_parent_indices(combined(m["mentions"]))
    df = pd.DataFrame({
        "src": pc.take(entity_ref("handle", m["author"]), parent).to_numpy(zero_copy_only=False),
        "dst": _ref("handle", pc.list_flatten(combined(m["mentions"]))),
        "t_us": pc.take(pa.array(ts_us(m["posted_at"])), parent).to_numpy(zero_copy_only=False),
        "record": pc.take(combined(m["post_id"]), parent).to_numpy(zero_copy_only=False)})
    return _partials_table(_partial(df).assign(link_type="mentioned"))


def named_in_post_partials(mentions: pa.Table, posts: pa.Table) -> pa.Table:
    """``named-in-post`` partials (:data:`LINK_PARTIALS`): per (author's handle, identifier its post's text names).

    ``mentions`` are gold ``osint_mentions``; only ``kind = identifier`` rows count, whose ``subkind``
    (handle, phone, account) and ``value`` (ingestion's pseudonym for that kind) give the same
    ``<kind>:<value>`` id the CDRs, transactions, person records and post authors carry. ``posts`` give
    each post's ``author``. Evidence counts posts: a text naming one number twice is one post; an author
    naming their own handle is no link.
    """
    require(mentions, ["post_id", "posted_at", "kind", "subkind", "value"], "osint_mentions")
    require(posts, ["post_id", "author"], "osint_posts")
    ids = mentions.filter(pc.and_(pc.equal(mentions["kind"], "identifier"),
                                  pc.is_in(mentions["subkind"], value_set=pa.array(NAMED_KINDS))))
    if not ids.num_rows or not posts.num_rows:
        return LINK_PARTIALS.empty_table()
    ids = ids.select(["post_id", "posted_at", "subkind", "value"]).cast(pa.schema([
        ("post_id", pa.string()), ("posted_at", ids.schema.field("posted_at").type), ("subkind", pa.string()),
        ("value", pa.string())]))
    authors = posts.select(["post_id", "author"]).cast(pa.schema([("post_id", pa.string()), ("author", pa.string())]))
    named = ids.join(authors, "post_id", join_type="inner", use_threads=False)
    frames = []
    for kind in NAMED_KINDS:
        k = named.filter(pc.equal(named["subkind"], kind))
        frames.append(pd.DataFrame({"src": _ref("handle", k["author"]), "dst": _ref(kind, k["value"]),
                                    "t_us": ts_us(k["posted_at"]),
                                    "record": combined(k["post_id"]).to_numpy(zero_copy_only=False)}))
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["src", "dst", "record"])
    return _partials_table(_partial(df).assign(link_type="named-in-post"))


def _record_links(partials: pa.Table) -> list[pd.DataFrame]:
    """``transacted-with``, ``mentioned`` and ``named-in-post`` links from their partials (of all rows or any split)."""
    p = reduce_cdr_partials(partials).to_pandas()
    return [_finish(p[p["link_type"] == t].drop(columns="link_type").reset_index(drop=True), t, *_RECORD_RULES[t])
            for t in _RECORD_RULES if (p["link_type"] == t).any()]


def _cdr_links(partials: pa.Table) -> list[pd.DataFrame]:
    """``called``, ``uses`` and shared-handset ``same-as`` links from CDR partials (of all CDRs, or of any split)."""
    p = reduce_cdr_partials(partials).to_pandas()
    frames = [_finish(p[p["link_type"] == t].drop(columns="link_type").reset_index(drop=True), t, *_CDR_RULES[t])
              for t in ("called", "uses")]
    uses = frames[1]
    if uses.empty:
        return frames
    # several SIMs (phones) in one handset: link the phones pairwise through the device
    per_dev = uses.groupby("dst")["src"].apply(sorted)
    rows = []
    for device, phones in per_dev.items():
        if len(phones) < 2:
            continue
        u = uses[uses["dst"] == device].set_index("src")
        for i, a in enumerate(phones):
            for b in phones[i + 1:]:
                rows.append({"src": a, "dst": b, "link_type": "same-as", "n_evidence": 1,
                             "first_us": max(u.at[a, "first_us"], u.at[b, "first_us"]),
                             "last_us": min(u.at[a, "last_us"], u.at[b, "last_us"]),
                             "evidence": f"shared handset {device}", "confidence": 0.6})
    if rows:
        frames.append(pd.DataFrame(rows)[_LINK_COLS])
    return frames


def _dob_compatible(a, b) -> tuple[bool, bool]:
    """(equal, compatible): equal, one day apart, or day and month swapped."""
    if a is None or b is None or pd.isna(a) or pd.isna(b):
        return False, False
    if a == b:
        return True, True
    if abs((a - b).days) == 1:
        return False, True
    try:
        return False, dt.date(a.year, a.day, a.month) == b
    except ValueError:
        return False, False


def person_matches(persons: pa.Table) -> pd.DataFrame:
    """Candidate same-as pairs of person records with their score and rule (see the module docstring)."""
    require(persons, ["person_id", "name", "date_of_birth"], "persons")
    df = persons.to_pandas()
    df["pid"] = "person:" + df["person_id"].astype(str)
    keys = []
    for col in ("phones", "accounts"):
        if col in df.columns:
            e = df[["pid", col]].explode(col).dropna()
            keys.append(pd.DataFrame({"pid": e["pid"], "key": col[:-1] + ":" + e[col].astype(str)}))
    nm = df[["pid", "name"]].dropna()
    keys.append(pd.DataFrame({"pid": nm["pid"], "key": "name:" + nm["name"].astype(str)}))
    k = pd.concat(keys, ignore_index=True).drop_duplicates()
    pairs = k.merge(k, on="key")
    pairs = pairs[pairs["pid_x"] < pairs["pid_y"]]
    if pairs.empty:
        return pd.DataFrame(columns=["src", "dst", "score", "rule", "evidence"])
    dob = dict(zip(df["pid"], df["date_of_birth"]))
    rows = []
    for (a, b), grp in pairs.groupby(["pid_x", "pid_y"], sort=True):
        shared = sorted(grp["key"])
        name = any(s.startswith("name:") for s in shared)
        ident = [s for s in shared if not s.startswith("name:")]
        equal, compatible = _dob_compatible(dob.get(a), dob.get(b))
        if name and equal:
            score, rule = 0.99, "same name and date of birth"
        elif ident and compatible:
            score, rule = 0.95, "shared identifier and compatible date of birth"
        elif name:
            score, rule = 0.6, "same name, different date of birth"
        else:
            score, rule = 0.5, "shared identifier, incompatible date of birth"
        rows.append({"src": a, "dst": b, "score": score, "rule": rule,
                     "evidence": rule + ": " + ", ".join(s.split(":")[0] for s in shared)})
    return pd.DataFrame(rows)


def entity_links(*, cdr: pa.Table | None = None, persons: pa.Table | None = None, transactions: pa.Table | None = None,
                 posts: pa.Table | None = None, mentions: pa.Table | None = None, context: pa.Table | None = None,
                 detections: pa.Table | None = None, same_as_threshold: float = 0.8,
                 cdr_partials: pa.Table | None = None, record_partials: pa.Table | None = None) -> pa.Table:
    """Typed links between entities (:data:`jobs.fusion.schemas.ENTITY_LINKS`), sorted by type, src, dst.

    Parameters
    ----------
    cdr, persons, transactions, posts
        Silver tables (any may be None).
    mentions
        Gold ``osint_mentions``: with ``posts`` (their authors), ``named-in-post`` links
        (:func:`named_in_post_partials`).
    context
        ``incident_context`` rows, for ``seen-near`` links between phones in contact inside one tower dump
        (and, with ``detections``, between those phones and vehicles detected near the incident).
    detections
        Silver camera detections: ``seen-near`` links from each tracked vehicle to its camera.
    same_as_threshold
        Person same-as links scoring below it are dropped.
    cdr_partials
        :func:`cdr_link_partials` of the CDRs, computed elsewhere (Spark tasks); replaces ``cdr``.
    record_partials
        :func:`transaction_link_partials` and :func:`post_link_partials`, kept elsewhere (merged night by
        night from the change feeds); given, ``transactions`` and ``posts`` add no links of their own
        (``posts`` still name the authors of ``mentions``).
    """
    if not 0.0 <= same_as_threshold <= 1.0:
        raise ValueError(f"same_as_threshold must be in [0, 1], got {same_as_threshold}")
    frames = []
    if cdr_partials is None and cdr is not None and cdr.num_rows:
        cdr_partials = cdr_link_partials(cdr)
    if cdr_partials is not None and cdr_partials.num_rows:
        frames += _cdr_links(cdr_partials)
    if persons is not None and persons.num_rows:
        df = persons.to_pandas()
        for col, kind in (("phones", "phone"), ("accounts", "account")):
            if col in df.columns:
                e = df[["person_id", col]].explode(col).dropna()
                if len(e):
                    frames.append(_aggregate(pd.DataFrame({"src": "person:" + e["person_id"].astype(str),
                                                           "dst": kind + ":" + e[col].astype(str), "t_us": np.nan,
                                                           "record": "persons:" + e["person_id"].astype(str)}),
                                             "uses", 0.9, "person record"))
        m = person_matches(persons)
        m = m[m["score"] >= same_as_threshold]
        if len(m):
            frames.append(pd.DataFrame({"src": m["src"], "dst": m["dst"], "link_type": "same-as", "n_evidence": 1,
                                        "first_us": np.nan, "last_us": np.nan, "evidence": m["evidence"],
                                        "confidence": m["score"]})[_LINK_COLS])
    if record_partials is None:
        parts = []
        if transactions is not None and transactions.num_rows:
            parts.append(transaction_link_partials(transactions))
        if posts is not None and posts.num_rows:
            parts.append(post_link_partials(posts))
        record_partials = pa.concat_tables(parts) if parts else None
    if mentions is not None and mentions.num_rows and posts is not None:
        named = named_in_post_partials(mentions, posts)
        record_partials = named if record_partials is None else pa.concat_tables(
            [record_partials.select(LINK_PARTIALS.names).cast(LINK_PARTIALS), named])
    if record_partials is not None and record_partials.num_rows:
        frames += _record_links(record_partials)
    if context is not None and context.num_rows:
        td = context.filter(pc.and_(pc.equal(context["relation"], "tower_dump"),
                                    pc.greater_equal(pc.fill_null(context["contacts_present"], 0), 1)))
        if td.num_rows:
            d = td.select(["incident_id", "entity_id", "occurred_at"]).to_pandas()
            d = d.groupby(["incident_id", "entity_id"])["occurred_at"].min().reset_index()
            pairs = d.merge(d, on="incident_id")
            pairs = pairs[pairs["entity_id_x"] < pairs["entity_id_y"]]
            frames.append(_aggregate(pd.DataFrame({
                "src": pairs["entity_id_x"], "dst": pairs["entity_id_y"],
                "t_us": _us(pairs[["occurred_at_x", "occurred_at_y"]].min(axis=1)),
                "record": pairs["incident_id"]}), "seen-near", 0.8, "tower dump of incident", undirected=True))
    if detections is not None and detections.num_rows:
        frames += _vehicle_links(detections, context)
    frames = [f for f in frames if len(f)]
    if not frames:
        return ENTITY_LINKS.empty_table()
    out = pd.concat(frames, ignore_index=True).sort_values(["link_type", "src", "dst"], kind="stable")
    first = out["first_us"].astype("Float64")
    last = out["last_us"].astype("Float64")
    return pa.table({
        "src": pa.array(out["src"], pa.string()), "dst": pa.array(out["dst"], pa.string()),
        "link_type": pa.array(out["link_type"], pa.string()),
        "n_evidence": pa.array(out["n_evidence"].astype("int64")),
        "first_seen": pa.array(first.astype("Int64"), pa.int64()).cast(ENTITY_LINKS.field("first_seen").type),
        "last_seen": pa.array(last.astype("Int64"), pa.int64()).cast(ENTITY_LINKS.field("last_seen").type),
        "evidence": pa.array(out["evidence"], pa.string()),
        "confidence": pa.array(out["confidence"].astype("float64")),
    }, schema=ENTITY_LINKS)


def _vehicle_links(detections: pa.Table, context: pa.Table | None) -> list[pd.DataFrame]:
    """``seen-near`` links of tracked vehicles: to their camera, and to flagged phones of the same incident."""
    require(detections, ["camera_id", "source", "frame_time", "frame_index", "class_name"], "detections")
    vid = entity_ref("vehicle", vehicle_ids(detections))
    rec = pc.binary_join_element_wise(pa.scalar("detections:"), detection_ids(detections), "")
    seen = pd.DataFrame({"src": vid.to_numpy(zero_copy_only=False), "dst": _ref("camera", detections["camera_id"]),
                         "t_us": ts_us(detections["frame_time"]), "record": rec.to_numpy(zero_copy_only=False)})
    seen = seen.dropna(subset=["src"])
    out = [_aggregate(seen, "seen-near", 1.0, "camera track")]
    if context is None or not context.num_rows or seen.empty:
        return out
    cam = context.filter(pc.equal(context["relation"], "camera_detection")).select(["incident_id", "record_id"]).to_pandas()
    cam = cam.merge(seen[["record", "src"]].rename(columns={"record": "record_id", "src": "vehicle"}), on="record_id")
    td = context.filter(pc.and_(pc.equal(context["relation"], "tower_dump"),
                                pc.greater_equal(pc.fill_null(context["contacts_present"], 0), 1)))
    if cam.empty or not td.num_rows:
        return out
    d = td.select(["incident_id", "entity_id", "occurred_at"]).to_pandas()
    d = d.groupby(["incident_id", "entity_id"])["occurred_at"].min().reset_index()
    pairs = cam[["incident_id", "vehicle"]].drop_duplicates().merge(d, on="incident_id")
    out.append(_aggregate(pd.DataFrame({
        "src": pairs["entity_id"], "dst": pairs["vehicle"], "t_us": _us(pairs["occurred_at"]),
        "record": pairs["incident_id"]}), "seen-near", 0.5, "vehicle at incident and phone in its tower dump",
        undirected=True))
    return out


def entity_stats(events: pa.Table) -> pa.Table:
    """Per (entity, origin): events naming it and their first and last time (:data:`ENTITY_STATS`).

    Any split of the events gives partials whose sum, min and max are the whole
    table's (Spark mode runs this per partition, see :func:`entities_from_stats`).
    """
    require(events, ["event_id", "origin", "occurred_at", "entity_ids"], "events")
    parent = pc.list_parent_indices(combined(events["entity_ids"]))
    ev = pd.DataFrame({"entity_id": pc.list_flatten(combined(events["entity_ids"])).to_numpy(zero_copy_only=False),
                       "origin": pc.take(combined(events["origin"]), parent).to_numpy(zero_copy_only=False),
                       "t_us": pc.take(pa.array(ts_us(events["occurred_at"]), pa.int64()), parent).to_numpy()})
    g = ev.groupby(["entity_id", "origin"], sort=True).agg(
        n_records=("t_us", "size"), first_us=("t_us", "min"), last_us=("t_us", "max")).reset_index()
    return pa.Table.from_pandas(g.astype({"n_records": "int64", "first_us": "int64", "last_us": "int64"}),
                                schema=ENTITY_STATS, preserve_index=False)


def reduce_entity_stats(stats: pa.Table) -> pa.Table:
    """One row per (entity, origin) of :func:`entity_stats` partials: counts add, first least, last greatest."""
    if not stats.num_rows:
        return ENTITY_STATS.empty_table()
    g = stats.group_by(["entity_id", "origin"]).aggregate(
        [("n_records", "sum"), ("first_us", "min"), ("last_us", "max")])
    out = pa.table({"entity_id": g["entity_id"], "origin": g["origin"], "n_records": g["n_records_sum"],
                    "first_us": g["first_us_min"], "last_us": g["last_us_max"]}, schema=ENTITY_STATS)
    return out.sort_by([("entity_id", "ascending"), ("origin", "ascending")])


def entities(events: pa.Table, links: pa.Table, *, persons: pa.Table | None = None,
             cameras: pa.Table | None = None, same_as_threshold: float = 0.8) -> pa.Table:
    """Every entity named by an event, a link, a person or a camera record, with its resolved cluster.

    ``n_records``, ``first_seen`` and ``last_seen`` count the events naming the
    entity; ``cluster_id`` is the smallest entity id of its connected component
    of ``same-as`` links at or above ``same_as_threshold`` (union-find).
    """
    return entities_from_stats(entity_stats(events), links, persons=persons, cameras=cameras,
                               same_as_threshold=same_as_threshold)


def entities_from_stats(stats: pa.Table, links: pa.Table, *, persons: pa.Table | None = None,
                        cameras: pa.Table | None = None, same_as_threshold: float = 0.8) -> pa.Table:
    """:func:`entities` from :func:`entity_stats` partials (of the whole events table, or of any split of it)."""
    st = stats.to_pandas()
    st = st.groupby(["entity_id", "origin"], sort=True).agg(
        n_records=("n_records", "sum"), first_us=("first_us", "min"), last_us=("last_us", "max")).reset_index()
    extra = [links["src"].to_numpy(zero_copy_only=False), links["dst"].to_numpy(zero_copy_only=False)]
    origins = [np.full(links.num_rows, "entity_links", dtype=object)] * 2
    if persons is not None and persons.num_rows:
        ids = ("person:" + persons["person_id"].to_pandas().astype(str)).to_numpy(object)
        extra.append(ids)
        origins.append(np.full(len(ids), "persons", dtype=object))
    if cameras is not None and cameras.num_rows:
        ids = _ref("camera", cameras["camera_id"])
        extra.append(ids)
        origins.append(np.full(len(ids), "cameras", dtype=object))
    named = pd.DataFrame({"entity_id": np.concatenate(extra) if extra else [], "origin": np.concatenate(origins) if extra else []})
    stats = st.groupby("entity_id").agg(n_records=("n_records", "sum"), first_us=("first_us", "min"),
                                        last_us=("last_us", "max"))
    src = pd.concat([st[["entity_id", "origin"]], named]).drop_duplicates().sort_values(["entity_id", "origin"])
    srcs = src.groupby("entity_id")["origin"].apply(list)
    df = pd.DataFrame({"sources": srcs}).join(stats, how="left").reset_index()
    df["n_records"] = df["n_records"].fillna(0).astype("int64")
    kind_value = df["entity_id"].str.split(":", n=1, expand=True)
    df["kind"], df["value"] = kind_value[0], kind_value[1]
    # union-find over same-as links
    sa = links.filter(pc.and_(pc.equal(links["link_type"], "same-as"),
                              pc.greater_equal(links["confidence"], same_as_threshold))).to_pandas()
    root = {}

    def find(x):
        while root.get(x, x) != x:
            root[x] = root.get(root[x], root[x])
            x = root[x]
        return x

    for a, b in zip(sa["src"], sa["dst"]):
        ra, rb = find(a), find(b)
        if ra != rb:
            root[max(ra, rb)] = min(ra, rb)
    df["cluster_id"] = [find(e) for e in df["entity_id"]]
    return pa.table({
        "entity_id": pa.array(df["entity_id"], pa.string()), "kind": pa.array(df["kind"], pa.string()),
        "value": pa.array(df["value"], pa.string()), "n_records": pa.array(df["n_records"]),
        "first_seen": us_ts(df["first_us"].fillna(0).astype("int64")).to_pandas().where(df["first_us"].notna()).pipe(
            lambda s: pa.array(s, ENTITIES.field("first_seen").type)),
        "last_seen": us_ts(df["last_us"].fillna(0).astype("int64")).to_pandas().where(df["last_us"].notna()).pipe(
            lambda s: pa.array(s, ENTITIES.field("last_seen").type)),
        "sources": pa.array(df["sources"], pa.list_(pa.string())),
        "cluster_id": pa.array(df["cluster_id"], pa.string()),
    }, schema=ENTITIES)
