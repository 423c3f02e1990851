"""Read a source file, as declared by its spec, into bronze rows.

Bronze keeps every row as received: every source column as a string, plus the
lineage columns (``ingest_id``, ``source_file``, ``source_row``) and, for rows
the reader could not split or decode, ``read_rule``/``read_error``/``raw_line``.
Nothing is dropped here: a malformed row is still a bronze row, and the parser
turns it into a quarantine row with its reason, so that
``rows_in == accepted + quarantined`` holds by construction.

Errors that concern the whole file (it is missing, empty, or lacks a required
column) raise :class:`SourceFileError` before anything is written.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from jobs.ingest.spec import SourceSpec

#: Columns the reader adds; a source column with one of these names is an error.
BRONZE_COLUMNS = ("ingest_id", "source_file", "source_row", "read_rule", "read_error", "raw_line", "ingested_at",
                  "ingest_partition")


class SourceFileError(ValueError):
    """A whole file cannot be ingested (missing, empty, missing columns...)."""


@dataclass(frozen=True)
class RawBatch:
    """The bronze rows of one file and the receipt that identifies them."""

    table: pa.Table
    ingest_id: str
    source_file: str
    sha256: str


def file_digest(path: Path) -> str:
    """SHA-256 of the file's content; of the decompressed content for gzip files.

    A gzip header records the compression time, so the same export compressed
    twice would otherwise look like two deliveries.
    """
    import gzip

    h = hashlib.sha256()
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError) as exc:
        raise SourceFileError(f"{path}: corrupt gzip file: {exc}") from None
    return h.hexdigest()


def ingest_id_for(spec: SourceSpec, sha256: str) -> str:
    """Content-addressed receipt id: the same file for the same feed always gets the same id.

    Re-ingesting a file therefore replaces its earlier bronze rows instead of
    adding them again.
    """
    return hashlib.sha256(f"{spec.name}\x1f{sha256}".encode()).hexdigest()[:20]


def read_source(spec: SourceSpec, path: str | Path, *, now: datetime | None = None) -> RawBatch:
    """Read one file of a feed into bronze rows.

    Raises
    ------
    SourceFileError
        The file is missing or empty, its columns lack a required one, or it
        cannot be parsed at all; the message names the file and what to fix.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SourceFileError(f"{path}: file is empty (0 bytes): expected a header row and data rows")
    sha = file_digest(path)
    ingest_id = ingest_id_for(spec, sha)
    kind = spec.format.kind
    if kind == "csv":
        table = _read_csv(spec, path)
    elif kind == "jsonl":
        table = _read_jsonl(spec, path)
    elif kind == "parquet":
        table = _read_parquet(path)
    else:
        table = _read_vector(spec, path)

    reader_added = {"read_rule", "read_error", "raw_line"} if "read_rule" in table.column_names else set()
    clash = sorted((set(table.column_names) - reader_added) & set(BRONZE_COLUMNS))
    if clash:
        raise SourceFileError(f"{path}: source columns {clash} clash with reserved bronze column names")
    missing = [c for c in spec.required_columns if c not in table.column_names]
    if missing:
        hint = ""
        data_cols = [c for c in table.column_names if c not in ("read_rule", "read_error", "raw_line")]
        if kind == "csv" and len(data_cols) == 1:
            other = next((d for d in ",;\t|" if d != spec.format.delimiter and d in data_cols[0]), None)
            if other:
                hint = f" (the header splits on {other!r}, not {spec.format.delimiter!r}: wrong delimiter in the spec?)"
        raise SourceFileError(
            f"{path}: missing required column(s) {missing} for spec {spec.name!r}; "
            f"the file has columns {data_cols}{hint}"
        )

    n = table.num_rows
    if "read_rule" not in table.column_names:
        table = table.append_column("read_rule", pa.nulls(n, pa.string()))
        table = table.append_column("read_error", pa.nulls(n, pa.string()))
        table = table.append_column("raw_line", pa.nulls(n, pa.string()))
    ingested_at = now or datetime.now(timezone.utc)
    table = table.append_column("ingest_id", pa.array([ingest_id] * n, pa.string()))
    table = table.append_column("source_file", pa.array([path.name] * n, pa.string()))
    table = table.append_column("source_row", pa.array(range(1, n + 1), pa.int64()))
    table = table.append_column("ingested_at", pa.array([ingested_at] * n, pa.timestamp("us", tz="UTC")))
    return RawBatch(table=table, ingest_id=ingest_id, source_file=path.name, sha256=sha)


def _read_csv(spec: SourceSpec, path: Path) -> pa.Table:
    fmt = spec.format
    data = _decompressed_bytes(path)
    if not data.strip():
        raise SourceFileError(f"{path}: file is empty: expected a header row and data rows")
    if not _is_utf8(spec.encoding):
        # declared non-UTF-8 source: transcode once; bytes invalid in the declared
        # encoding pass through unchanged, so they are invalid UTF-8 too and
        # _decode_columns quarantines their rows (never a silent U+FFFD)
        data = _decode(data, spec.encoding, path).encode("utf-8", errors="surrogateescape")

    if fmt.header:
        header_line = data.split(b"\n", 1)[0].rstrip(b"\r")
        names = _header_names(header_line, fmt.delimiter, fmt.quotechar, spec.encoding)
        skip = 1
    else:
        names = list(fmt.column_names or [])
        skip = 0
    clash = sorted(set(names) & set(BRONZE_COLUMNS))
    if clash:
        raise SourceFileError(f"{path}: source columns {clash} clash with reserved bronze column names")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SourceFileError(f"{path}: duplicate column names in header: {dupes}")

    malformed: list[tuple[int | None, str, str]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        malformed.append((row.number, row.text, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    # every value as received: binary first, decoded below so invalid UTF-8 is
    # caught per row instead of failing the whole file
    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=names, skip_rows=skip, use_threads=False),
        parse_options=pcsv.ParseOptions(
            delimiter=fmt.delimiter, quote_char=fmt.quotechar, invalid_row_handler=on_invalid,
            newlines_in_values=False,
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.binary() for n in names}, strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    table = _decode_columns(table, spec.encoding)
    if malformed:
        table = _insert_malformed(table, malformed, names, skip)
    return table


def _header_names(line: bytes, delimiter: str, quotechar: str, encoding: str) -> list[str]:
    import csv

    text = line.decode("utf-8-sig", errors="replace")
    row = next(csv.reader([text], delimiter=delimiter, quotechar=quotechar))
    return [c.strip() for c in row]


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def _decode(data: bytes, encoding: str, path: Path) -> str:
    """Bytes -> text; an invalid byte becomes a lone surrogate (``surrogateescape``) for the row to flag.

    Only encodings in which an invalid byte cannot be escaped (UTF-16, for one)
    fail as a whole file.
    """
    try:
        return data.decode(encoding, errors="surrogateescape")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceFileError(
            f"{path}: cannot be decoded as {encoding}: {exc.reason} at byte {exc.start} (line {line}); "
            f"check 'encoding' in the spec"
        ) from None


def _bad_byte(text: str) -> tuple[int, int] | None:
    """Position and value of the first byte that ``surrogateescape`` kept undecoded, if any."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return i, ord(ch) - 0xDC00
    return None


def _decompressed_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip

        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise SourceFileError(f"{path}: corrupt gzip file: {exc}") from None
    return raw


def _decode_columns(table: pa.Table, encoding: str) -> pa.Table:
    """Binary columns -> strings; rows with bytes invalid in the declared encoding get a read error."""
    n = table.num_rows
    bad_rows: dict[int, str] = {}
    hint = "; if the file is Latin-1 or Windows-1252, set 'encoding' in the spec" if _is_utf8(encoding) \
        else "; check 'encoding' in the spec"
    columns = []
    for name in table.column_names:
        col = table[name].combine_chunks()
        try:
            columns.append(pc.cast(col, pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        values = []
        for i, value in enumerate(col.to_pylist()):
            if value is None:
                values.append(None)
                continue
            try:
                values.append(value.decode("utf-8"))
            except UnicodeDecodeError as exc:
                values.append(value.decode("utf-8", errors="replace"))
                bad_rows.setdefault(
                    i,
                    f"field {name!r}: byte 0x{value[exc.start]:02x} at position {exc.start} is not valid "
                    f"{encoding}{hint}",
                )
        columns.append(pa.array(values, pa.string()))
    table = pa.table(columns, names=table.column_names)
    rule = [None] * n
    err = [None] * n
    for i, msg in bad_rows.items():
        rule[i] = "invalid_encoding"
        err[i] = msg
    return (
        table.append_column("read_rule", pa.array(rule, pa.string()))
        .append_column("read_error", pa.array(err, pa.string()))
        .append_column("raw_line", pa.nulls(n, pa.string()))
    )


def _insert_malformed(table: pa.Table, malformed: list, names: list[str], skip: int) -> pa.Table:
    """Put rows the CSV reader could not split back in file order, flagged as malformed."""
    rows = table.to_pylist()
    # InvalidRow.number is the 1-based line number in the file when reading single-threaded
    for number, text, why in sorted(malformed, key=lambda m: (m[0] is None, m[0] or 0)):
        entry = {n: None for n in names}
        entry.update(read_rule="malformed_row", read_error=f"line {number}: {why}", raw_line=text)
        position = (number - 1 - skip) if number is not None else len(rows)
        rows.insert(max(0, min(position, len(rows))), entry)
    return pa.Table.from_pylist(rows, schema=table.schema)


def _read_jsonl(spec: SourceSpec, path: Path) -> pa.Table:
    import json

    text = _decode(_decompressed_bytes(path), spec.encoding, path)
    records, keys = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        bad = _bad_byte(line)
        shown = line.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace") if bad else line
        try:
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        except ValueError as exc:
            records.append({"read_rule": "malformed_row", "read_error": f"line {number}: {exc}", "raw_line": shown})
            continue
        if bad:
            where = next((f"field {k!r}: " for k, v in value.items() if _bad_byte(json.dumps(v, ensure_ascii=False))), "")
            records.append({"read_rule": "invalid_encoding", "raw_line": shown, "read_error":
                            f"{where}byte 0x{bad[1]:02x} at character {bad[0]} of line {number} is not valid "
                            f"{spec.encoding}" + ("; if the file is Latin-1 or Windows-1252, set 'encoding' in the spec"
                                                  if _is_utf8(spec.encoding) else "; check 'encoding' in the spec")})
            continue
        flat = {k: (v if v is None or isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict)) else str(v))
                for k, v in value.items()}
        keys.update(dict.fromkeys(flat))
        records.append(flat)
    if not records:
        raise SourceFileError(f"{path}: file has no JSON records")
    names = [k for k in keys if k not in ("read_rule", "read_error", "raw_line")]
    schema = pa.schema([(k, pa.string()) for k in [*names, "read_rule", "read_error", "raw_line"]])
    return pa.Table.from_pylist(records, schema=schema)


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceFileError(f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}") from None
    return pa.table({n: _as_text(table[n].combine_chunks()) for n in table.column_names})


def _as_text(col: pa.Array) -> pa.Array:
    """A typed column as the text bronze keeps: nested values as JSON, binary as hex, times as ISO 8601."""
    import json

    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_nested(t):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array([None if v is None else v.hex() for v in col.to_pylist()], pa.string())
    if pa.types.is_timestamp(t):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if t.tz else "%Y-%m-%dT%H:%M:%S"
        return pc.strftime(col, format=fmt)
    return pc.cast(col, pa.string())


def _read_vector(spec: SourceSpec, path: Path) -> pa.Table:
    import pyogrio
    import shapely

    try:
        meta, table = pyogrio.read_arrow(path, layer=spec.format.layer)
    except Exception as exc:  # pyogrio raises its own DataSourceError/DataLayerError
        raise SourceFileError(f"{path}: cannot read as {spec.format.kind}: {exc}") from None
    geom_name = meta["geometry_name"] or "wkb_geometry"
    geoms = shapely.from_wkb(table[geom_name].combine_chunks().to_numpy(zero_copy_only=False))
    points = shapely.point_on_surface(geoms)
    out = {n: pc.cast(table[n], pa.string()) for n in table.column_names if n != geom_name}
    out["geometry_x"] = pa.array([None if g is None else repr(float(x)) for g, x in zip(geoms, shapely.get_x(points))], pa.string())
    out["geometry_y"] = pa.array([None if g is None else repr(float(y)) for g, y in zip(geoms, shapely.get_y(points))], pa.string())
    return pa.table(out)
