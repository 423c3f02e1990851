"""Fuzzy matching of person records on raw names, read where raw names legitimately exist (bronze).

Silver pseudonymises each whole name, so "Aaliyah Holmes" and "Aaliyah Homles" hash
to unrelated values. Bronze keeps the records as received (only ingestion roles
read it), so the comparison runs there and only person ids and scores leave it:
no raw name, token or name hash appears in the output.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
from jobs.fusion.schemas import MATCHES

try:  # Jaro-Winkler from rapidfuzz (C++); difflib's ratio when it is not installed
    from rapidfuzz.distance import JaroWinkler as _JW
except ImportError:  # pragma: no cover - exercised only without rapidfuzz
    _JW = None

#: Score factor when the dates of birth are compatible but not equal (one day apart, day/month swapped).
DOB_NEAR_FACTOR = 0.95
EVIDENCE = "fuzzy name + date of birth"


def similarity(a: str, b: str) -> float:
    """Jaro-Winkler similarity in [0, 1] (rapidfuzz), or difflib's ratio without rapidfuzz."""
    if _JW is not None:
        return float(_JW.similarity(a, b))
    return difflib.SequenceMatcher(None, a, b).ratio()


def name_tokens(name: str | None) -> tuple[str, str] | None:
    """``(first, last)`` of a raw name, normalised; None when it has no usable token.

    Accents are stripped, case folded, punctuation dropped, middle initials (one-letter
    tokens) ignored, and ``"LAST, FIRST"`` reordered to first-last.
    """
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return None
    s = unicodedata.normalize("NFKD", str(name))
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).casefold()
    if "," in s:
        last, _, first = s.partition(",")
        s = f"{first} {last}"
    toks = [t for t in re.split(r"[^0-9a-z]+", s) if len(t) > 1]
    if not toks:
        return None
    return toks[0], toks[-1]


def name_similarity(a: tuple[str, str], b: tuple[str, str]) -> float:
    """Mean of first- and last-name similarity, in the better of the two orders (first/last swapped)."""
    straight = (similarity(a[0], b[0]) + similarity(a[1], b[1])) / 2
    swapped = (similarity(a[0], b[1]) + similarity(a[1], b[0])) / 2
    return max(straight, swapped)


def _parse_dob(col: pa.ChunkedArray | pa.Array, fmt: str) -> list[dt.date | None]:
    if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
        s = pd.to_datetime(pd.Series(col.to_pylist()), errors="coerce")
    else:
        s = pd.to_datetime(pd.Series(col.to_pylist(), dtype=object).str.strip(), format=fmt, errors="coerce")
    return [None if pd.isna(v) else v.date() for v in s]


def _dob_candidates(d: dt.date) -> set[dt.date]:
    """Dates of birth compatible with ``d``: equal, one day apart, day and month swapped."""
    out = {d, d - dt.timedelta(days=1), d + dt.timedelta(days=1)}
    try:
        out.add(dt.date(d.year, d.day, d.month))
    except ValueError:
        pass
    return out


def fuzzy_person_matches(
    bronze_persons: pa.Table,
    *,
    threshold: float = 0.85,
    id_column: str = "person_id",
    name_column: str = "name",
    dob_column: str = "date_of_birth",
    dob_format: str = "%Y-%m-%d",
) -> pa.Table:
    """Same-person candidate pairs from raw names and dates of birth; ids and scores only.

    Parameters
    ----------
    bronze_persons
        Bronze person records as received (text columns): an id, the raw name and
        the date of birth. The ids must be those silver keeps (``id.prefix: false``
        in the spec keeps them as they are).
    threshold
        Pairs scoring below it are dropped (see ``docs/fusion.md`` for the choice).
    id_column, name_column, dob_column
        Column names in ``bronze_persons``.
    dob_format
        ``strptime`` format of text dates of birth; unparsable dates mean no match.

    Returns
    -------
    pyarrow.Table
        :data:`MATCHES`: ``person_id_a < person_id_b``, ``score`` in [0, 1] and
        ``evidence`` (rule, name similarity rounded, DOB agreement), sorted by the ids.

    Notes
    -----
    Blocking: only pairs whose dates of birth are compatible (equal, one day apart,
    day and month swapped, the typing errors of records) are compared; a different
    date of birth is never a match. Names are compared as first and last name with
    the Jaro-Winkler similarity (Winkler 1990, "String comparator metrics and
    enhanced decision rules in the Fellegi-Sunter model of record linkage"),
    in either order, after normalisation (:func:`name_tokens`). Score = name
    similarity, times :data:`DOB_NEAR_FACTOR` when the dates agree only nearly.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    missing = [c for c in (id_column, name_column, dob_column) if c not in bronze_persons.column_names]
    if missing:
        raise ValueError(f"bronze persons need columns {missing}; found {bronze_persons.column_names}")
    ids = [None if v is None else str(v).strip() for v in bronze_persons[id_column].to_pylist()]
    toks = [name_tokens(v) for v in bronze_persons[name_column].to_pylist()]
    dobs = _parse_dob(bronze_persons[dob_column], dob_format)
    rec = pd.DataFrame({"pid": ids, "tok": toks, "dob": dobs})
    rec = rec[rec["pid"].notna() & (rec["pid"] != "") & rec["tok"].notna() & rec["dob"].notna()]
    rec = rec.drop_duplicates("pid").reset_index(drop=True)
    if rec.empty:
        return MATCHES.empty_table()
    cand = rec[["dob"]].assign(i=rec.index, cand=[sorted(_dob_candidates(d)) for d in rec["dob"]]).explode("cand")
    pairs = cand.merge(pd.DataFrame({"j": rec.index, "cand": rec["dob"]}), on="cand")
    pairs = pairs[pairs["i"] != pairs["j"]]
    rows = []
    for i, j in set(zip(pairs["i"], pairs["j"])):
        a, b = rec.loc[i], rec.loc[j]
        if a["pid"] >= b["pid"]:
            continue
        sim = name_similarity(a["tok"], b["tok"])
        equal = a["dob"] == b["dob"]
        score = sim if equal else sim * DOB_NEAR_FACTOR
        if score >= threshold:
            rows.append((a["pid"], b["pid"], float(score),
                         f"{EVIDENCE}: name {sim:.2f}, date of birth {'equal' if equal else 'near'}"))
    rows.sort()
    return pa.table({
        "person_id_a": pa.array([r[0] for r in rows], pa.string()),
        "person_id_b": pa.array([r[1] for r in rows], pa.string()),
        "score": pa.array([r[2] for r in rows], pa.float64()),
        "evidence": pa.array([r[3] for r in rows], pa.string()),
    }, schema=MATCHES)


def fuzzy_same_as_links(matches: list[pa.Table], known_ids: set[str]) -> pa.Table:
    """``same-as`` entity links from :func:`fuzzy_person_matches` of one or more bronze tables.

    Pairs whose ids are not in ``known_ids`` (silver ``persons``: rejected rows are not there)
    are dropped; a pair matched in several tables keeps its best score.

    Returns
    -------
    pa.Table
        :data:`jobs.fusion.schemas.ENTITY_LINKS` rows (``person:`` ids, confidence = score, no times).
    """
    from jobs.fusion.schemas import ENTITY_LINKS

    frames = [m.to_pandas() for m in matches]
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
    }, schema=ENTITY_LINKS)


def with_fuzzy_links(links: pa.Table, fuzzy: pa.Table) -> pa.Table:
    """``links`` plus the ``fuzzy`` same-as pairs it does not hold yet, sorted by type, src, dst.

    A pair that silver's records already link keeps that link (and its evidence).
    """
    import pyarrow.compute as pc

    if not fuzzy.num_rows:
        return links
    have = {(s, d) for s, d, t in zip(links["src"].to_pylist(), links["dst"].to_pylist(),
                                      links["link_type"].to_pylist()) if t == "same-as"}
    new = pc.invert(pa.array([(s, d) in have for s, d in zip(fuzzy["src"].to_pylist(), fuzzy["dst"].to_pylist())],
                             pa.bool_()))
    return pa.concat_tables([links, fuzzy.filter(new)]).sort_by(
        [("link_type", "ascending"), ("src", "ascending"), ("dst", "ascending")])
