"""Parse bronze rows of a feed into its canonical silver table plus quarantine rows.

The kernel applies the spec's column mapping, parses timestamps in the source
time zone, reprojects coordinates, runs the row rules below in order and splits
the rows into *accepted* (canonical schema) and *rejects* (the raw row, the
first rule it broke, and a reason a person can act on). Every bronze row ends up
in exactly one of the two, so ``rows_in == accepted + quarantined``.

Row rules, in the order they are checked (the ``rule`` column of rejects); the
field rules run field by field in the spec's order:

==========================  ==================================================
``malformed_row``           the reader could not split the line into the header's fields
``invalid_encoding``        bytes that are not valid in the declared encoding
``missing_value``           a required field is empty
``unparseable_timestamp``   a timestamp does not match the declared format
``future_timestamp``        a timestamp later than the ingestion time
``timestamp_too_old``       a timestamp before ``min_time`` (1990-01-01)
``invalid_number``          a numeric field is not a number under the field's decimal/thousands convention, or an integer field holds a fraction
``out_of_range``            a numeric field outside its valid range (table default or the spec's ``min``/``max``)
``invalid_value``           a list field is neither a JSON array nor ``;``-separated text, or a JSON Lines value has the wrong JSON type for its field (flagged by the reader)
``invalid_geometry``        a geometry field is neither WKT nor hex WKB
``too_few_control_points``  a camera with fewer than four complete pixel-to-ground points
``missing_coordinates``     x or y empty (where coordinates are optional: one of the two empty)
``invalid_coordinates``     x or y not a number
``null_island``             (0, 0): a placeholder, not a place
``out_of_crs_bounds``       outside the valid range of the declared CRS
``swapped_coordinates``     x and y exchanged (the swapped point is in the study area, or in the spec's ``bounds``)
``outside_study_area``      further than the tolerance from every boundary polygon, or outside the spec's ``bounds``
``duplicate_id``            an id already seen earlier in the same batch (the latest receipt comes first)
==========================  ==================================================

An unknown source category is not a reject: it maps to ``other`` and
``category_mapped`` is false.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.geo.areas import assign_areas
from jobs.geo.points import crs_bounds, h3_cells, points_wkb, to_wgs84
from jobs.ingest.spec import FieldSpec, SourceSpec
from jobs.ingest.taxonomy import OFFENSE_CATEGORIES
from jobs.schemas import CANONICAL, ID_FIELD, PSEUDONYMISED, REJECTS

#: Bronze columns that are lineage, not source data.
LINEAGE = ("ingest_id", "source_file", "source_row", "read_rule", "read_error", "raw_line", "ingested_at",
           "ingest_partition")

MIN_TIME = datetime(1990, 1, 1, tzinfo=timezone.utc)

#: What an identifier of each kind must contain, for reasons.
_IDENTIFIER_WORDS = {"phone": "phone number (no digits)", "imei": "IMEI (no digits)", "imsi": "IMSI (no digits)",
                     "account": "account number (no letters or digits)", "handle": "handle (empty after '@')",
                     "name": "name", "email": "e-mail address"}

#: A camera's pixel-to-ground homography needs at least four point pairs.
MIN_CONTROL_POINTS = 4



@dataclass(frozen=True)
class ParseResult:
    """Accepted rows (canonical schema) and quarantined rows (``REJECTS`` schema)."""

    accepted: pa.Table
    rejects: pa.Table

    @property
    def rows_in(self) -> int:
        return self.accepted.num_rows + self.rejects.num_rows


class ParseState:
    """What a parse carries from one batch of bronze rows to the next, so that parsing a source's rows in
    batches (in the refresh's order: latest receipt first, file order within one) gives the rows that one
    call over all of them gives: the first accepted row of each id (later ones are ``duplicate_id``
    rejects naming it), and, for sources without an id column, the count of identical rows seen so far
    in each receipt.

    Ids seen are kept as two independent 64-bit hashes (128 bits, as wide as the pseudonyms: a collision
    among 10^9 ids has a chance of about 10^-21) with the row and file they came from: 28 bytes per
    distinct id, not the ids themselves (:class:`_SeenIds`).
    """

    def __init__(self) -> None:
        self.seen = _SeenIds()
        self.files: dict[str, int] = {}
        self.occurrences = None  # polars DataFrame: r (receipt), d (content digest), n (rows seen)
        self.pseudonyms = None  # jobs.ingest.pseudonymise.PseudonymCache, once a batch is pseudonymised

    def file_name(self, index: int) -> str:
        return next(f for f, i in self.files.items() if i == index)


class _SeenIds:
    """Id hashes seen (``h1``, ``h2``) with their row and file index, in runs sorted by ``h1`` that merge
    as a binary counter does (a run merges into the one before it once that is no more than twice its size).

    A batch looks its ids up with a binary search per run (a few runs up to :attr:`LARGEST_RUN` ids, then
    one per that many ids) and never touches every id seen, as a hash join against all of them would for
    every batch (quadratic in the source's size); the memory is the 28 bytes per id, in numpy arrays, and
    each id is copied a few times by merges.
    """

    #: Runs stop merging at this many ids: a merge holds both copies of a run for a moment (56 MB here).
    LARGEST_RUN = 1 << 21

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(r[0]) for r in self.runs)

    def find(self, h1: np.ndarray, h2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions in ``h1``/``h2`` of the ids seen before, with the row and file index each was seen at."""
        where, rows, files = [], [], []
        # sorted probes: each search starts where the last ended (8x faster than probes in any order)
        order = np.arange(len(h1)) if _ascending(h1) else np.argsort(h1, kind="stable")
        h1, h2 = h1[order], h2[order]
        for r1, r2, rr, rf in self.runs:
            left = np.searchsorted(r1, h1, "left")
            width = np.searchsorted(r1, h1, "right") - left
            at = np.minimum(left, len(r1) - 1)
            hit = (width == 1) & (r2[at] == h2)
            for k in np.flatnonzero(width > 1):  # two ids sharing h1 (rare: 64 bits): look at h2
                for j in range(left[k], left[k] + width[k]):
                    if r2[j] == h2[k]:
                        hit[k], at[k] = True, j
                        break
            k = np.flatnonzero(hit)
            where.append(order[k])
            rows.append(rr[at[k]])
            files.append(rf[at[k]])
        if not where:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint32)
        return np.concatenate(where), np.concatenate(rows), np.concatenate(files)

    def add(self, h1: np.ndarray, h2: np.ndarray, row: np.ndarray, file: np.ndarray) -> None:
        """Ids not seen before (none of them in :meth:`find`)."""
        if not len(h1):
            return
        order = slice(None) if _ascending(h1) else np.argsort(h1, kind="stable")
        self.runs.append((h1[order], h2[order], row[order].astype(np.int64), file[order].astype(np.uint32)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]) \
                and len(self.runs[-2][0]) + len(self.runs[-1][0]) <= self.LARGEST_RUN:
            b = self.runs.pop()
            a = self.runs.pop()
            at = np.searchsorted(a[0], b[0])  # one linear pass per column: both runs are sorted
            self.runs.append(tuple(np.insert(x, at, y) for x, y in zip(a, b)))


def _ascending(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] >= values[:-1]).all())


def _id_hashes(ids):
    """Two independent 64-bit hashes of each id (a polars String Series, or anything it takes).

    The second hashes the id with a suffix under another seed: a different input and a different seed, as
    independent as reversing the text, which polars does grapheme by grapheme (20x slower).
    """
    import polars as pl

    s = ids if isinstance(ids, pl.Series) else pl.Series("id", ids, dtype=pl.String)
    return s.hash(seed=0x5EED).to_numpy(), (s + "\x1f#").hash(seed=0xC0FFEE).to_numpy()


def _at(values: pa.Array, i) -> object:
    """One value of an Arrow array as a Python object (reasons name single rows)."""
    return values[int(i)].as_py()


class _Verdicts:
    """First broken rule per row; later rules never overwrite an earlier one."""

    def __init__(self, n: int) -> None:
        self.rule = np.full(n, None, dtype=object)
        self.field = np.full(n, None, dtype=object)
        self.reason = np.full(n, None, dtype=object)
        self._ok = np.ones(n, dtype=bool)  # kept beside ``rule``: comparing an object array to None per rule is slow

    @property
    def ok(self) -> np.ndarray:
        return self._ok.copy()

    def flag(self, mask: np.ndarray, rule: str, field: str | None, reason) -> None:
        """Flag rows in ``mask`` not yet rejected; ``reason`` is a string or a function of the row index."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool) & self._ok)
        if not len(rows):
            return
        self._ok[rows] = False
        self.rule[rows] = rule
        self.field[rows] = field
        if callable(reason):
            for i in rows:
                self.reason[i] = reason(i)
        else:
            self.reason[rows] = reason


def parse_records(
    bronze: pa.Table,
    spec: SourceSpec,
    *,
    boundaries: pa.Table | None = None,
    ctx=None,
    now: datetime | None = None,
    min_time: datetime = MIN_TIME,
    pseudonym_key: bytes | None = None,
    prior: dict[str, tuple[int, str]] | None = None,
    state: ParseState | None = None,
) -> ParseResult:
    """Turn bronze rows of one feed into canonical rows and quarantine rows.

    Parameters
    ----------
    bronze
        Rows as received (string columns) with the lineage columns of the reader.
    spec
        The feed's validated source spec.
    boundaries
        Study-area polygons (``area_id``, ``geometry`` WKB) when the spec has a
        study area; they give each row its area (``district``) and bound the
        valid coordinates.
    ctx
        SedonaDB context for the spatial join (required with ``boundaries``).
    now
        Ingestion time; timestamps after it are rejected as future.
    min_time
        Earliest plausible timestamp.
    pseudonym_key
        Key of the keyed hash that replaces identifiers (phones, IMEIs, accounts,
        handles, names: :data:`jobs.schemas.PSEUDONYMISED`). ``None`` keeps raw
        identifiers, which only a deliberate setting allows.
    prior
        Ids already held in silver by rows of other receipts that outrank every
        row of ``bronze`` (a later receipt), as ``{id: (source_row,
        source_file)}``: rows of ``bronze`` with one of these ids are
        ``duplicate_id`` rejects naming that row, exactly as if it had come
        first in the batch (the incremental refine's view of a full refresh).
    state
        Carried between calls that parse one refresh's rows in batches (see
        :class:`ParseState`); ``None`` for one call over all the rows.
    """
    if spec.study_area is not None and (boundaries is None or ctx is None):
        raise ValueError(f"spec {spec.name!r} declares a study area: pass its boundaries and a SedonaDB ctx")
    now = now or datetime.now(timezone.utc)
    schema = CANONICAL[spec.table]
    n = bronze.num_rows
    v = _Verdicts(n)
    _reader_verdicts(bronze, v)
    out: dict[str, pa.Array] = {name: _mapped_field(bronze, spec, name, fspec, schema.field(name), v, now, min_time)
                                for name, fspec in spec.fields.items()}
    if spec.table == "cameras" and "control_points" in out:
        _check_control_points(out["control_points"], v)
    if spec.coordinates is not None:
        out.update(_coordinates(bronze, spec, schema, v, boundaries, ctx))
    if spec.table == "incidents":
        out.update(_categories(out["category"], spec))
    _identifiers(out, spec, schema, v, pseudonym_key, state)
    ids = _ids_and_duplicates(bronze, spec, schema, v, out, state, prior)
    out[ID_FIELD[spec.table]] = ids
    if "source" in schema.names:
        out["source"] = pa.repeat(pa.scalar(spec.name, pa.string()), n)
    for name in ("ingest_id", "source_file", "source_row"):
        out[name] = bronze[name].combine_chunks()

    full = pa.table({name: out.get(name, pa.nulls(n, schema.field(name).type)) for name in schema.names})
    # last guard: a required column still null in a row that passed (a canonical field no spec maps,
    # a value a parser emptied) quarantines the row instead of failing the whole batch's cast
    for f in schema:
        if not f.nullable and full[f.name].null_count:
            v.flag(pc.is_null(full[f.name]).to_numpy(zero_copy_only=False), "missing_value", f.name,
                   lambda i, nm=f.name: f"required field {nm!r} has no value")
    keep = v.ok
    accepted = (full if keep.all() else full.filter(pa.array(keep))).cast(schema)
    rejects = _rejects(bronze, spec, v, ~keep, ids, pseudonym_key)
    return ParseResult(accepted=accepted, rejects=rejects)


def _reader_verdicts(bronze: pa.Table, v: _Verdicts) -> None:
    """Rule 1: what the reader already found (malformed rows, bytes invalid in the encoding, JSON values of the
    wrong type), flagged with the field the reader named."""
    n = bronze.num_rows
    # nothing, in most batches: then the object arrays below are skipped
    found = "read_rule" in bronze.column_names and bronze["read_rule"].null_count < n
    read_rule = bronze["read_rule"].to_numpy(zero_copy_only=False) if found else np.full(n, None)
    read_error = bronze["read_error"].to_numpy(zero_copy_only=False) \
        if found and "read_error" in bronze.column_names else np.full(n, None)
    has_read_error = (read_rule != None) if found else np.zeros(n, dtype=bool)  # noqa: E711
    v.flag(has_read_error & (read_rule == "malformed_row"), "malformed_row", None, lambda i: read_error[i])
    bad_text = has_read_error & (read_rule == "invalid_encoding")
    v.flag(bad_text, "invalid_encoding", None, lambda i: read_error[i])
    for i in np.flatnonzero(bad_text):  # the reader's message starts with the column it found the byte in
        named = re.match(r"field '([^']+)'", str(read_error[i]))
        v.field[i] = named.group(1) if named else None
    wrong_type = has_read_error & (read_rule == "invalid_value")  # JSON value of the wrong type for its field
    v.flag(wrong_type, "invalid_value", None, lambda i: read_error[i])
    for i in np.flatnonzero(wrong_type):
        named = re.search(r"\(field '([^']+)'\)", str(read_error[i])) or re.search(r"key '([^']+)'", str(read_error[i]))
        v.field[i] = named.group(1) if named else None
    v.flag(has_read_error, "malformed_row", None, lambda i: read_error[i])


def _mapped_field(bronze: pa.Table, spec: SourceSpec, name: str, fspec: FieldSpec, field: pa.Field, v: _Verdicts,
                  now: datetime, min_time: datetime) -> pa.Array:
    """Rule 2: one mapped field's values in its canonical type (rows that break its rules flagged, their
    values null: nothing is wrapped, rounded or guessed)."""
    n = bronze.num_rows
    raw = _field_values(bronze, fspec)
    ftype = field.type
    required = not field.nullable
    empty = _is_empty(raw)
    if required:
        v.flag(empty, "missing_value", name, f"required field {name!r}{_from(fspec)} is empty")
    if pa.types.is_timestamp(ftype) or pa.types.is_date(ftype):
        values, failed = parse_timestamps(raw, fspec.format, fspec.timezone)
        v.flag(failed, "unparseable_timestamp", name,
               lambda i, raw=raw, f=fspec, nm=name: f"field {nm!r}{_from(f)}: {_py(raw, i)!r} does not match format {f.format or 'iso8601'!r}")
        epoch = values.astype("datetime64[us]").astype("int64")
        valid_t = ~np.isnat(values)
        v.flag(valid_t & (epoch > _us(now)), "future_timestamp", name,
               lambda i, raw=raw, nm=name: f"field {nm!r}: {_py(raw, i)!r} is later than the ingestion time {now.isoformat(timespec='seconds')}")
        if pa.types.is_timestamp(ftype):
            v.flag(valid_t & (epoch < _us(min_time)), "timestamp_too_old", name,
                   lambda i, raw=raw, nm=name: f"field {nm!r}: {_py(raw, i)!r} is before {min_time.date().isoformat()}")
            return pa.array(values, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
        else:
            return pa.array(values.astype("datetime64[D]"), pa.date32())
    elif pa.types.is_floating(ftype) or pa.types.is_integer(ftype):
        rule = spec.number_rule(name)
        nums = _to_number(raw, rule.decimal, rule.thousands)
        what = _number_words(rule)
        v.flag(~empty & np.isnan(nums), "invalid_number", name,
               lambda i, raw=raw, f=fspec, nm=name, w=what: f"field {nm!r}{_from(f)}: {_py(raw, i)!r} is not {w}")
        finite = np.isfinite(nums)
        if rule.integer:
            whole = finite & (np.floor(np.where(finite, nums, 0)) == nums)
            v.flag(finite & ~whole, "invalid_number", name,
                   lambda i, raw=raw, f=fspec, nm=name: f"field {nm!r}{_from(f)}: {_py(raw, i)!r} is not an "
                                                        f"integer (expected a whole number, never rounded)")
        low = ~np.isnan(nums) & (nums < rule.min) if rule.min is not None else np.zeros(n, dtype=bool)
        high = ~np.isnan(nums) & (nums > rule.max) if rule.max is not None else np.zeros(n, dtype=bool)
        v.flag(low | high, "out_of_range", name,
               lambda i, raw=raw, f=fspec, nm=name, r=rule: f"field {nm!r}{_from(f)}: {_py(raw, i)!r} is outside "
                                                            f"the valid range {_range_words(r)}")
        valid = finite & ~low & ~high
        if rule.integer:
            valid &= np.floor(np.where(finite, nums, 0)) == nums
        # rows that broke a rule are nulls here: nothing is wrapped or rounded into the type
        arr = pa.array(np.where(valid, nums, np.nan), pa.float64(), from_pandas=True)
        return arr.cast(ftype)  # safe cast: a whole number within the type's range
    elif pa.types.is_list(ftype):
        values, bad = _parse_lists(_np(raw), empty, ftype)
        v.flag(bad, "invalid_value", name, lambda i, raw=raw, nm=name: f"field {nm!r}: {_py(raw, i)!r} is not a list (JSON array or ';'-separated)")
        return values
    elif pa.types.is_boolean(ftype):
        text = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
        return pc.if_else(pa.array(empty), pa.scalar(None, pa.bool_()),
                               pc.is_in(text, pa.array(["true", "1", "yes", "y", "t"])))
    elif pa.types.is_binary(ftype):  # geometry given as WKT or hex WKB
        values, bad = _parse_geometry(_np(raw), empty)
        v.flag(bad, "invalid_geometry", name, lambda i, raw=raw, nm=name: f"field {nm!r}: {str(_py(raw, i))[:60]!r} is not WKT or hex WKB")
        return values
    else:
        trimmed = pc.utf8_trim_whitespace(raw)
        return pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), trimmed) if empty.any() else trimmed


def _check_control_points(points: pa.Array, v: _Verdicts) -> None:
    """Cameras: vision's geo-projection (a homography) needs four or more pixel-to-ground points."""
    complete = [sum(1 for p in (pts or []) if p and None not in (p.get("u"), p.get("v"), p.get("lon"), p.get("lat")))
                for pts in points.to_pylist()]
    count = np.array(complete)
    v.flag(count < MIN_CONTROL_POINTS, "too_few_control_points", "control_points",
           lambda i: f"camera has {count[i]} complete pixel-to-ground control point(s) "
                     f"({{u, v, lon, lat}}); geo-projection needs at least {MIN_CONTROL_POINTS}")


def _coordinates(bronze: pa.Table, spec: SourceSpec, schema: pa.Schema, v: _Verdicts, boundaries, ctx
                 ) -> dict[str, pa.Array]:
    """Rule 3: coordinates to WGS84 lon/lat, point geometry, H3 cell and study-area district."""
    n = bronze.num_rows
    out: dict[str, pa.Array] = {}
    c = spec.coordinates
    xcol, ycol = ("geometry_x", "geometry_y") if c.from_geometry else (c.x, c.y)
    xs = bronze[xcol].combine_chunks()
    ys = bronze[ycol].combine_chunks()
    # typed formats (vector geometries, Parquet) give numbers with '.'; text formats the spec's decimal
    decimal = "." if c.from_geometry or spec.format.kind not in ("csv", "jsonl") else spec.format.decimal
    x = _to_number(xs, decimal)
    y = _to_number(ys, decimal)
    x_empty, y_empty = _is_empty(xs), _is_empty(ys)
    missing = x_empty | y_empty
    # half a pair is never "no location": even where coordinates are optional it is a broken one
    v.flag((missing if c.required else x_empty ^ y_empty), "missing_coordinates", f"{xcol},{ycol}",
           lambda i: f"coordinates ({xcol}, {ycol}) are empty: ({_py(xs, i)!r}, {_py(ys, i)!r})"
                     + ("" if c.required else "; give both or neither"))
    v.flag(~missing & ~(np.isfinite(x) & np.isfinite(y)), "invalid_coordinates", f"{xcol},{ycol}",
           lambda i: f"coordinates ({xcol}, {ycol}) = ({_py(xs, i)!r}, {_py(ys, i)!r}) are not finite numbers "
                     f"(decimal {decimal!r})")
    x = np.where(np.isfinite(x), x, np.nan)
    y = np.where(np.isfinite(y), y, np.nan)
    v.flag((x == 0) & (y == 0), "null_island", f"{xcol},{ycol}", "coordinates are (0, 0): a placeholder, not a location")
    xmin, ymin, xmax, ymax = crs_bounds(c.crs)
    in_crs = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
    v.flag(~np.isnan(x) & ~np.isnan(y) & ~in_crs, "out_of_crs_bounds", f"{xcol},{ycol}",
           lambda i: f"coordinates ({x[i]}, {y[i]}) are outside the valid range of {c.crs} "
                     f"(x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g})")
    usable = v.ok & ~np.isnan(x) & ~np.isnan(y)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if usable.any():
        lon[usable], lat[usable] = to_wgs84(x[usable], y[usable], c.crs)
    district = pa.nulls(n, pa.string())
    if spec.study_area is not None:
        lon, lat, district = _check_study_area(lon, lat, x, y, usable, c.crs, boundaries, ctx, spec, v)
    elif spec.bounds is not None:
        _check_bounds(lon, lat, x, y, usable, c.crs, spec, v)
    out["lon"] = pa.array(lon, from_pandas=True)
    out["lat"] = pa.array(lat, from_pandas=True)
    if "geometry" not in spec.fields:  # a declared geometry (cell sectors) wins over the point
        out["geometry"] = points_wkb(lon, lat)
    out["h3"] = h3_cells(lon, lat)
    if "district" in schema.names:
        out["district"] = district
    return out


def _categories(raw_cat: pa.Array, spec: SourceSpec) -> dict[str, pa.Array]:
    """Rule 4 (incidents): the source's category mapped to the canonical offense categories; an unknown one
    becomes the spec's default with ``category_mapped`` false (not a reject)."""
    out: dict[str, pa.Array] = {}
    mapping = dict(spec.categories.mapping)
    mapping.update({c: c for c in OFFENSE_CATEGORIES if c not in mapping})
    keys = pa.array(list(mapping), pa.string())
    targets = pa.array(list(mapping.values()), pa.string())
    idx = pc.index_in(raw_cat, value_set=keys)
    mapped_values = pc.take(targets, idx)
    out["source_category"] = raw_cat
    out["category"] = pc.fill_null(mapped_values, spec.categories.default)
    out["category_mapped"] = pc.is_valid(idx)
    return out


def _identifiers(out: dict[str, pa.Array], spec: SourceSpec, schema: pa.Schema, v: _Verdicts,
                 pseudonym_key: bytes | None, state: ParseState | None) -> None:
    """Identifiers that hold no identifier once normalised ("N/A", "-" as a phone): a required one is missing
    (the row is quarantined, never a null in a non-nullable column), an optional one null; then every
    identifier is pseudonymised before anything is written beyond bronze (``out`` updated in place)."""
    from jobs.ingest.pseudonymise import PseudonymCache, normalise, pseudonymise, pseudonymise_encoded

    hashed: dict[str, pa.Array] = {}
    cache = None
    if state is not None and pseudonym_key is not None:
        if state.pseudonyms is None or state.pseudonyms.key != bytes(pseudonym_key):
            state.pseudonyms = PseudonymCache(pseudonym_key)
        cache = state.pseudonyms
    for name, kind in PSEUDONYMISED.get(spec.table, {}).items():
        if name not in out or not pa.types.is_string(out[name].type):
            continue
        given = out[name]
        # each distinct spelling is normalised once (identifier columns repeat heavily), for this check and
        # for the pseudonyms: a hollow spelling normalises to null, so its pseudonym is null either way
        encoded = pc.dictionary_encode(given.combine_chunks() if isinstance(given, pa.ChunkedArray) else given)
        normalised = normalise(encoded.dictionary, kind=kind)
        if pseudonym_key is not None:
            hashed[name] = pseudonymise_encoded(encoded, normalised, key=pseudonym_key, kind=kind, cache=cache)
        hollow = pc.fill_null(pc.take(pc.is_null(normalised), encoded.indices), False).to_numpy(zero_copy_only=False)
        if not hollow.any():
            continue
        if not schema.field(name).nullable:
            v.flag(hollow, "missing_value", name,
                   lambda i, g=given, nm=name, k=kind: f"required field {nm!r}{_from(spec.fields[nm])}: "
                                                       f"{_py(g, i)!r} holds no {_IDENTIFIER_WORDS.get(k, k)}")
        out[name] = pc.if_else(pa.array(hollow), pa.scalar(None, pa.string()), given)

    # pseudonymise identifiers before anything is written beyond bronze
    if pseudonym_key is not None:
        for name, kind in PSEUDONYMISED.get(spec.table, {}).items():
            if name in out:
                out[name] = hashed[name] if name in hashed else pseudonymise(out[name], key=pseudonym_key, kind=kind)


def _ids_and_duplicates(bronze: pa.Table, spec: SourceSpec, schema: pa.Schema, v: _Verdicts,
                        out: dict[str, pa.Array], state: ParseState | None,
                        prior: dict[str, tuple[int, str]] | None) -> pa.Array:
    """Rule 5: each row's id, then duplicates among the rows that passed every other rule: rows held in silver
    by a later receipt (``prior``), then ids first seen in an earlier batch (``state``), then repeats within
    this batch, each a ``duplicate_id`` naming the row that keeps the id. Returns the ids."""
    import polars as pl

    n = bronze.num_rows
    id_field = ID_FIELD[spec.table]
    ids = _row_ids(bronze, spec, state)  # Arrow strings, never null; Python strings only for the rows named
    if not spec.id.from_content:
        no_id = np.logical_and.reduce([_is_empty(bronze[c].combine_chunks()) for c in spec.id.columns])
        v.flag(no_id, "missing_value", id_field,
               f"id column(s) {', '.join(repr(c) for c in spec.id.columns)} are empty: the row has no id")
    if not spec.id.from_content and "source_record_id" in schema.names:
        out["source_record_id"] = _field_values_arrow(bronze, spec.id.columns)
    ok = np.flatnonzero(v.ok)
    src_row = bronze["source_row"].to_numpy()
    src_file = bronze["source_file"].combine_chunks()
    ok_ids = pl.Series("id", ids.take(pa.array(ok, pa.int64())))
    # equal ids have equal hashes: when no two hashes meet, no id repeats (the text is compared otherwise);
    # the hashes sorted once serve this check and the ParseState's lookups
    h1_all, h2_all = _id_hashes(ok_ids) if state is not None else (ok_ids.hash(seed=0x5EED).to_numpy(), None)
    by_hash = np.argsort(h1_all, kind="stable")
    later = np.zeros(len(ok), dtype=bool)
    if len(ok) > 1 and (np.diff(h1_all[by_hash]) == 0).any():
        later = ~ok_ids.is_first_distinct().to_numpy()
    dup = np.zeros(n, dtype=bool)
    dup[ok[later]] = True
    earlier: dict[str, tuple[int, str]] = {}  # ids whose first row came in an earlier batch
    if state is not None and len(ok):
        firsts = by_hash[~later[by_hash]]  # the first row of each id, in hash order
        h1, h2, pos = h1_all[firsts], h2_all[firsts], ok[firsts]
        found, rows, files_at = state.seen.find(h1, h2)
        if len(found):
            earlier = {_at(ids, pos[k]): (int(r), state.file_name(int(f))) for k, r, f in zip(found, rows, files_at)}
            fresh = np.ones(len(pos), dtype=bool)
            fresh[found] = False
            h1, h2, pos = h1[fresh], h2[fresh], pos[fresh]
        files = src_file.take(pa.array(pos, pa.int64()))
        # files numbered in the order their first rows come (row order, as before)
        for name in pc.unique(src_file.take(pa.array(np.sort(pos), pa.int64()))).to_pylist() if len(pos) else ():
            state.files.setdefault(str(name), len(state.files))
        state.seen.add(h1, h2, src_row[pos], pc.index_in(files, value_set=pa.array(list(state.files), pa.string()))
                       .to_numpy(zero_copy_only=False).astype(np.uint32) if len(state.files) > 1
                       else np.zeros(len(pos), dtype=np.uint32))
    held = dict(prior or {})
    if held:  # rows already in silver that outrank this batch win their ids, before any row of it
        prior_hit = np.zeros(n, dtype=bool)
        prior_hit[ok[ok_ids.is_in(list(held)).to_numpy()]] = True
        v.flag(prior_hit, "duplicate_id", id_field,
               lambda i: f"id {_at(ids, i)!r} already used by row {held[_at(ids, i)][0]} of {held[_at(ids, i)][1]}")
    if earlier:  # after the prior rows, before this batch's own firsts: the order of one call over all rows
        hit_earlier = np.zeros(n, dtype=bool)
        hit_earlier[ok[ok_ids.is_in(list(earlier)).to_numpy()]] = True
        v.flag(hit_earlier, "duplicate_id", id_field,
               lambda i: f"id {_at(ids, i)!r} already used by row {earlier[_at(ids, i)][0]} of "
                         f"{earlier[_at(ids, i)][1]}")
    if dup.any():
        # the first row of each id repeated in this batch (only those ids: building it for every id is slow)
        again = ok_ids.filter(pl.Series(later)).unique()
        among = ok_ids.is_in(again).to_numpy() & ~later
        first_of = dict(zip(ok_ids.filter(pl.Series(among)).to_list(), ok[among].tolist()))
        v.flag(dup, "duplicate_id", id_field,
               lambda i: f"id {_at(ids, i)!r} already used by row {src_row[first_of[_at(ids, i)]]} of "
                         f"{src_file[first_of[_at(ids, i)]].as_py()}")
    return ids


def _check_study_area(lon, lat, x, y, usable, crs, boundaries, ctx, spec, v: _Verdicts):
    sa = spec.study_area
    area, _dist = assign_areas(lon, lat, boundaries, ctx=ctx, tolerance_m=sa.tolerance_m)
    area_np = area.to_numpy(zero_copy_only=False)
    outside = usable & (area_np == None)  # noqa: E711
    if outside.any():
        # swapped x/y: is the exchanged point in the study area?
        def in_area(slon, slat):
            s_area, _ = assign_areas(slon, slat, boundaries, ctx=ctx, tolerance_m=sa.tolerance_m)
            return s_area.to_numpy(zero_copy_only=False) != None  # noqa: E711

        swapped = _swapped_into(x, y, outside, crs, in_area)
        v.flag(swapped, "swapped_coordinates", f"{spec.coordinates.x},{spec.coordinates.y}",
               lambda i: f"coordinates ({x[i]}, {y[i]}) look swapped: ({y[i]}, {x[i]}) lies in the study area")
        v.flag(outside, "outside_study_area", f"{spec.coordinates.x},{spec.coordinates.y}",
               lambda i: f"point ({lon[i]:.5f}, {lat[i]:.5f}) is more than {sa.tolerance_m:g} m outside "
                         f"every area of {sa.boundary}")
    return lon, lat, area


def _swapped_into(x, y, outside: np.ndarray, crs, accepts) -> np.ndarray:
    """Rows of ``outside`` whose exchanged ``(y, x)``, valid in ``crs``, lands where ``accepts(lon, lat)``
    (a boolean array per point) says the data belongs: swapped coordinates."""
    idx = np.flatnonzero(outside)
    sx, sy = y[idx], x[idx]
    xmin, ymin, xmax, ymax = crs_bounds(crs)
    in_crs = (sx >= xmin) & (sx <= xmax) & (sy >= ymin) & (sy <= ymax)
    swapped = np.zeros(len(outside), dtype=bool)
    if in_crs.any():
        slon, slat = to_wgs84(sx[in_crs], sy[in_crs], crs)
        swapped[idx[in_crs][np.asarray(accepts(slon, slat), dtype=bool)]] = True
    return swapped


def _check_bounds(lon, lat, x, y, usable, crs, spec, v: _Verdicts) -> None:
    """Without a study area: points outside the spec's ``bounds``, or swapped into them."""
    min_lon, min_lat, max_lon, max_lat = spec.bounds

    def inside(lo, la):
        return (lo >= min_lon) & (lo <= max_lon) & (la >= min_lat) & (la <= max_lat)

    outside = usable & ~inside(lon, lat)
    if not outside.any():
        return
    swapped = _swapped_into(x, y, outside, crs, inside)
    c = spec.coordinates
    where = "geometry_x,geometry_y" if c.from_geometry else f"{c.x},{c.y}"
    box = f"[{min_lon:g}, {min_lat:g}, {max_lon:g}, {max_lat:g}]"
    v.flag(swapped, "swapped_coordinates", where,
           lambda i: f"coordinates ({x[i]}, {y[i]}) look swapped: ({y[i]}, {x[i]}) lies in the feed's bounds {box}")
    v.flag(outside, "outside_study_area", where,
           lambda i: f"point ({lon[i]:.5f}, {lat[i]:.5f}) is outside the feed's bounds {box} (spec 'bounds')")


def parse_timestamps(raw: np.ndarray, fmt: str | None, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Parse strings into UTC ``datetime64[us]`` (naive, UTC); return values and a failed mask.

    Naive values are in ``tz`` (UTC when unset). At the autumn daylight-saving
    change the repeated hour is read as the first (daylight) occurrence and in
    spring a local time that does not exist moves forward by the hour that was
    skipped (02:30 becomes 03:30 daylight time): exports rarely say which
    was meant, and an hour's error is better than a lost row.
    """
    fast = _iso_timestamps(raw, fmt, tz)
    if fast is not None:
        return fast
    if isinstance(raw, (pa.Array, pa.ChunkedArray)):
        raw = _np(raw)
    n = len(raw)
    empty = _is_empty(raw)
    text = pd.Series(raw, dtype="object").where(~empty, None).astype("string").str.strip()
    # a UTC offset after a time (Z, +02:00, -0500, +01): such values are converted, naive ones localised;
    # one file may mix offsets (daylight saving) and naive values, so each group is parsed on its own
    aware = (text.str.contains(r"[:T]", regex=True) &
             text.str.contains(r"\d(?:[zZ]|\s?[+-]\d{2}(?::?\d{2})?)$", regex=True)).fillna(False).to_numpy(dtype=bool)
    iso_like = text.str.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}").fillna(False).to_numpy(dtype=bool)
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    for group, utc in ((~empty & ~aware, False), (~empty & aware, True)):
        idx = np.flatnonzero(group)
        if not len(idx):
            continue
        part = text.iloc[idx].astype(object)
        got = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[us]")
        formats = ["ISO8601"] if fmt in (None, "iso8601") else [fmt, "ISO8601"]
        for k, f in enumerate(formats):
            # typed date-times from Parquet or vector files arrive as ISO 8601 text: unambiguous, so accepted
            todo = np.isnat(got) & (iso_like[idx] if k else True)
            if not todo.any():
                continue
            got[todo] = _to_utc(part[todo], f, utc, tz)
        values[idx] = got
    failed = ~empty & np.isnat(values)
    return values, failed


_ISO_DATE = r"(?:1[7-9]\d{2}|2[01]\d{2}|22[0-5]\d)-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_ISO_TIME = r"[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_ISO_AWARE = rf"^{_ISO_DATE}{_ISO_TIME}(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$"  # +hh:mm or +hhmm (Parquet times as text)
_ISO_NAIVE = rf"^{_ISO_DATE}{_ISO_TIME}$"


def _iso_timestamps(raw, fmt: str | None, tz: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Column-wise fast path of :func:`parse_timestamps` for ISO 8601 text in the plain forms (``Z`` or a
    ``+hh:mm`` offset; naive only where naive means UTC), years 1700-2259; ``None`` when any value is in
    another form, so the general path, and its rules, decide the whole column."""
    if fmt not in (None, "iso8601"):
        return None
    arr = raw if isinstance(raw, (pa.Array, pa.ChunkedArray)) else pa.array(raw, pa.string(), from_pandas=True)
    if not pa.types.is_string(arr.type):
        return None
    text = pc.utf8_trim_whitespace(arr)
    empty = pc.fill_null(pc.equal(text, ""), True)
    aware = pc.fill_null(pc.match_substring_regex(text, _ISO_AWARE), False)
    # the two forms exclude each other: a column of aware values (and empties) needs no second pass
    all_aware = pc.all(pc.or_(empty, aware)).as_py()
    naive = None if all_aware else pc.fill_null(pc.match_substring_regex(text, _ISO_NAIVE), False) \
        if tz in (None, "UTC") else pa.repeat(pa.scalar(False), len(text))
    if not all_aware and not pc.all(pc.or_(empty, pc.or_(aware, naive))).as_py():
        return None
    try:
        a = pc.cast(pc.if_else(aware, text, pa.scalar(None, pa.string())), pa.timestamp("us", tz="UTC"))
        b = None if all_aware else pc.cast(pc.if_else(naive, text, pa.scalar(None, pa.string())), pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a day that does not exist (February 30th): the general path names it
    us = a.cast(pa.int64()) if b is None else pc.coalesce(a.cast(pa.int64()), b.cast(pa.int64()))
    values = pc.fill_null(us, np.iinfo(np.int64).min).to_numpy(zero_copy_only=False).view("datetime64[us]")
    return values, np.zeros(len(values), dtype=bool)


def _to_utc(text: pd.Series, fmt: str, utc: bool, tz: str | None) -> np.ndarray:
    """Parse one group of values (all with an offset, or all naive in ``tz``) into naive UTC ``datetime64[us]``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=utc)
        except (ValueError, TypeError, OverflowError):
            return np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    if not pd.api.types.is_datetime64_any_dtype(parsed):  # e.g. a format with %z given naive text
        return np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    if getattr(parsed.dt, "tz", None) is None:
        try:
            parsed = parsed.dt.tz_localize(tz or "UTC", ambiguous=np.ones(len(parsed), dtype=bool),
                                           nonexistent=pd.Timedelta(hours=1))
        except (ValueError, OverflowError):
            return np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[us]")


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _field_values(bronze: pa.Table, fspec: FieldSpec) -> pa.Array:
    """The field's raw text: one column, several joined with a space, or a constant."""
    if fspec.constant is not None:
        return pa.array(np.full(bronze.num_rows, str(fspec.constant), dtype=object), pa.string())
    cols = [bronze[c].combine_chunks() for c in fspec.source_columns]
    if len(cols) == 1:
        return cols[0]
    # a missing part makes the whole value missing (null_handling="emit_null")
    return pc.binary_join_element_wise(*[pc.utf8_trim_whitespace(c) for c in cols], " ")


def _field_values_arrow(bronze: pa.Table, columns: list[str]) -> pa.Array:
    cols = [pc.fill_null(bronze[c].combine_chunks(), "") for c in columns]
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "|")


def _np(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _py(values: pa.Array, i: int):
    return values[int(i)].as_py()


def _from(fspec: FieldSpec) -> str:
    if fspec.constant is not None:
        return ""
    return f" (column {', '.join(repr(c) for c in fspec.source_columns)})"


def _is_empty(values: pa.Array | np.ndarray) -> np.ndarray:
    if not isinstance(values, (pa.Array, pa.ChunkedArray)) or not pa.types.is_string(values.type):
        values = pa.array(values, pa.string()) if not isinstance(values, (pa.Array, pa.ChunkedArray)) \
            else pc.cast(values, pa.string())
    # empty after trimming whitespace: utf8_is_space is false for "" and uses trim's Unicode whitespace (the
    # test compares the two on every code point), without trimming's copy of every value
    return pc.fill_null(pc.or_(pc.equal(pc.binary_length(values), 0), pc.utf8_is_space(values)),
                        True).to_numpy(zero_copy_only=False)


def _number_pattern(decimal: str, thousands: str | None) -> str:
    """A number as text under one convention: sign, digits (grouped by threes when ``thousands`` is
    set), optional decimal part, optional exponent. Nothing else: no ``inf``/``nan``, no guessed separator."""
    d = re.escape(decimal)
    whole = r"\d+" if thousands is None else rf"(?:\d+|\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+)"
    return rf"^[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?$"


def _to_number(values: pa.Array, decimal: str = ".", thousands: str | None = None) -> np.ndarray:
    """Text -> float64 under the declared separators; NaN where the text is not such a number.

    ``12.50`` is 12.5 under decimal ``.`` and not a number under decimal ``,``
    (unless ``.`` is the declared thousands separator and the groups have three
    digits): a separator is never guessed. A number too large for float64
    (``1e400``) becomes infinite, so the range rule catches it.
    """
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    ok = pc.fill_null(pc.match_substring_regex(text, _number_pattern(decimal, thousands)), False)
    text = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    if thousands is not None:
        text = pc.replace_substring(text, thousands, "")
    if decimal != ".":
        text = pc.replace_substring(text, decimal, ".")
    return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False).astype("float64")


def _number_words(rule) -> str:
    kind = "an integer" if rule.integer else "a number"
    sep = f"decimal {rule.decimal!r}" if not rule.integer else ""
    group = f"thousands {rule.thousands!r}" if rule.thousands else "no digit grouping"
    return f"{kind} ({', '.join(p for p in (sep, group) if p)})"


def _range_words(rule) -> str:
    lo = "-inf" if rule.min is None else f"{rule.min:g}"
    hi = "inf" if rule.max is None else f"{rule.max:g}"
    return f"{lo}..{hi}"


def _parse_lists(raw: np.ndarray, empty: np.ndarray, ftype: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """JSON arrays (``["a", "b"]``, or of objects) or ``;``-separated text."""
    values, bad = [], np.zeros(len(raw), dtype=bool)
    for i, (x, e) in enumerate(zip(raw, empty)):
        if e:
            values.append(None)
            continue
        text = str(x).strip()
        if text.startswith("["):
            try:
                values.append(json.loads(text))
            except ValueError:
                values.append(None)
                bad[i] = True
        else:
            values.append([p.strip() for p in text.split(";") if p.strip()])
    try:
        return pa.array(values, ftype), bad
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        out = []
        for i, item in enumerate(values):
            try:
                pa.array([item], ftype)
                out.append(item)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                out.append(None)
                bad[i] = True
        return pa.array(out, ftype), bad


def _parse_geometry(raw: np.ndarray, empty: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """WKT or hex WKB text -> WKB bytes."""
    import shapely

    out = np.full(len(raw), None, dtype=object)
    bad = np.zeros(len(raw), dtype=bool)
    for i in np.flatnonzero(~empty):
        text = str(raw[i]).strip()
        try:
            geom = shapely.from_wkb(bytes.fromhex(text)) if all(c in "0123456789abcdefABCDEF" for c in text[:16]) \
                else shapely.from_wkt(text)
            out[i] = shapely.to_wkb(geom)
        except (ValueError, shapely.errors.GEOSException):
            bad[i] = True
    return pa.array(out, pa.binary()), bad


def row_ids(bronze: pa.Table, spec: SourceSpec, state: ParseState | None = None) -> np.ndarray:
    """``<source>:<id>`` from the id columns, or from the row's content when the source has no id.

    Content ids hash every source column and count repeats of identical rows
    within one receipt (``ingest_id``), so two identical records of a file stay
    two incidents, re-ingesting the same file yields the same ids, and an
    unchanged row of a corrected re-delivery gets the id it had in the earlier
    receipt (the duplicate rule then keeps the latest receipt's row). With
    ``id.prefix: false`` the id columns are used as they are (keys that refer
    to another table's ids).
    """
    return _row_ids(bronze, spec, state).to_numpy(zero_copy_only=False)


def _row_ids(bronze: pa.Table, spec: SourceSpec, state: ParseState | None = None) -> pa.Array:
    """:func:`row_ids` as an Arrow string array."""
    if not spec.id.from_content:
        ids = pc.utf8_trim_whitespace(_field_values_arrow(bronze, spec.id.columns))
        if spec.id.prefix:
            ids = pc.binary_join_element_wise(pa.scalar(spec.name), ids, ":")
        return ids.cast(pa.string())
    n = bronze.num_rows
    # the columns the row has, each as name=value, by name: the id does not change when bronze gains a
    # column another file brought (the row reads it as null) nor with the order of a file's columns
    data_cols = sorted(c for c in bronze.column_names if c not in LINEAGE) + \
        (["raw_line"] if "raw_line" in bronze.column_names else [])
    pairs = [pc.binary_join_element_wise(pa.scalar(f"{c}="), bronze[c].combine_chunks().cast(pa.string()), "")
             for c in data_cols]
    joined = pc.binary_join_element_wise(*pairs, "\x1f", null_handling="skip") if pairs else pa.array([""] * n)
    digests = [hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in joined.to_numpy(zero_copy_only=False)]
    receipts = bronze["ingest_id"].to_numpy(zero_copy_only=False) if "ingest_id" in bronze.column_names \
        else np.full(n, "", dtype=object)
    occurrence = pd.DataFrame({"r": receipts, "d": digests}).groupby(["r", "d"], sort=False, dropna=False).cumcount().to_numpy()
    if state is not None:  # identical rows of the same receipt in earlier batches count too
        import polars as pl

        rows = pl.DataFrame({"r": receipts.astype(str), "d": digests, "k": occurrence.astype(np.int64)})
        if state.occurrences is not None:
            rows = rows.join(state.occurrences, on=["r", "d"], how="left", maintain_order="left")
            occurrence = (rows["k"] + rows["n"].fill_null(0)).to_numpy()
        seen = rows.group_by(["r", "d"]).agg(pl.len().cast(pl.Int64).alias("n"))
        state.occurrences = seen if state.occurrences is None else pl.concat([state.occurrences, seen]).group_by(
            ["r", "d"]).agg(pl.col("n").sum())
    return pa.array([f"{spec.name}:{d}" + (f"-{k}" if k else "") for d, k in zip(digests, occurrence)], pa.string())


def _rejects(bronze: pa.Table, spec: SourceSpec, v: _Verdicts, mask: np.ndarray, ids: pa.Array,
             pseudonym_key: bytes | None = None) -> pa.Table:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return REJECTS.empty_table()
    sub = bronze.take(pa.array(idx))
    data_cols = [c for c in sub.column_names if c not in LINEAGE]
    # the fields the row has: a column bronze holds because another file brought it is not in this record
    records = [{k: x for k, x in r.items() if x is not None} for r in sub.select(data_cols).to_pylist()]
    raw_line = sub["raw_line"].to_pylist() if "raw_line" in sub.column_names else [None] * len(idx)
    secret = _identifier_columns(spec) if pseudonym_key is not None else {}
    if secret:
        # quarantine is read more widely than bronze: identifiers in it are hashed as in silver
        raw = _hashed_raw(records, raw_line, data_cols, spec, secret, pseudonym_key,
                          sub["source_row"].to_pylist(), sub["source_file"].to_pylist())
    else:
        raw = [line if line is not None else json.dumps(rec, ensure_ascii=False) for rec, line in zip(records, raw_line)]
    return pa.table(
        {
            "source": pa.array([spec.name] * len(idx), pa.string()),
            "ingest_id": sub["ingest_id"],
            "source_file": sub["source_file"],
            "source_row": sub["source_row"],
            "rule": pa.array(v.rule[idx].tolist(), pa.string()),
            "field": pa.array(v.field[idx].tolist(), pa.string()),
            "reason": pa.array(v.reason[idx].tolist(), pa.string()),
            "raw": pa.array(raw, pa.string()),
            "record_id": ids.take(pa.array(idx, pa.int64())),
        }
    ).cast(REJECTS)


def _identifier_columns(spec: SourceSpec) -> dict[str, tuple[str, bool]]:
    """Source column -> (identifier kind, is a list) for the feed's pseudonymised fields."""
    schema = CANONICAL[spec.table]
    out: dict[str, tuple[str, bool]] = {}
    for name, kind in PSEUDONYMISED.get(spec.table, {}).items():
        f = spec.fields.get(name)
        if f is not None:
            for col in f.source_columns:
                out[col] = (kind, pa.types.is_list(schema.field(name).type))
    return out


def _hashed_raw(records: list[dict], raw_line: list, data_cols: list[str], spec: SourceSpec,
                secret: dict[str, tuple[str, bool]], key: bytes, rows: list, files: list) -> list[str]:
    """Each reject's fields as JSON with identifier columns pseudonymised; a raw line that cannot be
    split into fields is withheld (bronze keeps it as received)."""
    import csv

    from jobs.ingest.pseudonymise import pseudonymise

    def hashed(value, kind: str, is_list: bool):
        if value is None or (isinstance(value, str) and not value.strip()):
            return value
        if is_list or isinstance(value, list):
            items = value if isinstance(value, list) else None
            if items is None:
                text = str(value).strip()
                try:
                    items = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(";")]
                except ValueError:
                    items = [text]
            flat = [json.dumps(x) if not isinstance(x, str) else x for x in items]
            return pseudonymise(pa.array(flat, pa.string()), key=key, kind=kind).to_pylist()
        text = value if isinstance(value, str) else json.dumps(value)
        return pseudonymise(pa.array([text], pa.string()), key=key, kind=kind)[0].as_py()

    out = []
    for rec, line, row, file in zip(records, raw_line, rows, files):
        if line is not None:
            rec = None
            if spec.format.kind == "jsonl":
                try:
                    parsed = json.loads(line)
                    rec = parsed if isinstance(parsed, dict) else None
                except (ValueError, RecursionError):
                    rec = None
            else:
                try:
                    parts = next(csv.reader([line], delimiter=spec.format.delimiter, quotechar=spec.format.quotechar))
                    rec = dict(zip(data_cols, parts)) if len(parts) == len(data_cols) else None
                except (csv.Error, StopIteration):
                    rec = None
            if rec is None:
                out.append(f"(withheld: the line could not be split into the feed's fields, so its identifiers "
                           f"could not be pseudonymised; bronze row {row} of {file} holds it as received)")
                continue
        rec = {k: (hashed(x, *secret[k]) if k in secret else x) for k, x in rec.items()}
        out.append(json.dumps(rec, ensure_ascii=False, default=str))
    return out
