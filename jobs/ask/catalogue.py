"""What the assistant may ask about: the lakehouse's tables, their columns, and the values in them.

The catalogue is read from the lakehouse when a question is asked, never written down:
which of the tables named in ``vocabulary.toml`` exist (their Delta schema and version),
each table's low-cardinality text columns and their distinct values (the words a question
can filter on: sources, categories, districts, place names...), its time range in local
time, and the study area's time zone per source (``reference.source_catalog``). A
lakehouse of another city therefore answers in its own words.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

VOCABULARY = Path(__file__).with_name("vocabulary.toml")
#: a text column with at most this many distinct values is a dimension (a word list); more is an identifier
MAX_DISTINCT = 500
#: the time zone of rows whose source is not in reference.source_catalog and no zone is recorded at all
FALLBACK_ZONE = "UTC"


@dataclass(frozen=True)
class Vocabulary:
    """The words of ``vocabulary.toml`` (see that file for what each part means)."""

    tables: dict[str, dict]
    private: frozenset[str]
    column_words: dict[str, list[str]]
    value_words: dict[str, str]
    place_words: dict[str, str]
    day_parts: dict[str, tuple[int, int]]
    stopwords: frozenset[str]

    @classmethod
    def load(cls, path: Path = VOCABULARY) -> "Vocabulary":
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
        return cls(tables=doc["tables"], private=frozenset(doc["private"]["columns"]),
                   column_words=doc["column_words"], value_words=doc["value_words"],
                   place_words=doc["place_words"],
                   day_parts={k: (int(v[0]), int(v[1])) for k, v in doc["day_parts"].items()},
                   stopwords=frozenset(doc["stopwords"]["words"]))


@dataclass(frozen=True)
class TextSource:
    """A side table that holds more of a table's free text, joined on ``key`` (``text_from`` in the vocabulary)."""

    uri: str
    label: str  # ``silver.incident_enrichment``
    key: str
    column: str
    version: int


@dataclass
class TableInfo:
    """One askable table as found in the lakehouse."""

    name: str  # the assistant's name (``posts``)
    layer: str
    delta: str  # the Delta table's name in its layer (``osint_posts``)
    uri: str
    version: int
    columns: dict[str, str]  # column -> DuckDB type name
    time: str | None  # the UTC timestamp column read in local time
    default_filters: dict[str, object] = field(default_factory=dict)
    dimensions: dict[str, list[str]] = field(default_factory=dict)  # text column -> its distinct values
    span: tuple[str, str] | None = None  # first and last local day with a row (ISO dates)
    rows: int = 0
    southern: bool = False  # rows lie south of the equator (seasons turn round)
    value_column: str | None = None  # the number a bare "over 1000" compares (vocabulary ``value``)
    #: sources (``"*"``: the whole table) whose every time is local midnight: dates only, no hour of day
    dateonly: set[str] = field(default_factory=set)
    profiled: bool = False  # rows, span, dimensions read (on first use: most questions need one table)
    text: str | None = None  # the free-text column semantic search ranks (vocabulary ``text``)
    text_from: TextSource | None = None  # where more of that text lives, when the lakehouse has it

    @property
    def label(self) -> str:
        return f"{self.layer}.{self.delta}"

    def numeric(self) -> list[str]:
        return [c for c, t in self.columns.items()
                if t.split("(")[0] in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL",
                                       "HUGEINT", "UBIGINT", "UINTEGER", "REAL"}]


@dataclass
class Catalogue:
    """The askable tables of one lakehouse, its time zones, and the vocabulary."""

    root: str
    vocabulary: Vocabulary
    tables: dict[str, TableInfo]
    missing: dict[str, str]  # askable name -> Delta table that does not exist in this lakehouse
    zones_uri: str | None  # reference.source_catalog, when present
    default_zone: str
    zones_version: int | None = None
    zones: dict[str, str] = field(default_factory=dict)  # source -> IANA zone
    con: object = None  # the DuckDB connection that reads the tables' profiles on first use

    def table(self, name: str) -> TableInfo:
        """The table ``name`` with its profile (row count, local span, dimensions), read on first use."""
        info = self.tables[name]
        if not info.profiled:
            _profile(self.con, info, self.vocabulary.private, self.zones, self.default_zone)
            info.profiled = True
        return info


def delta_uri(root: str, layer: str, name: str) -> str:
    return f"{root.rstrip('/')}/{layer}/{name}"


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _exists(uri: str, storage_options: dict | None = None) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(uri, storage_options=storage_options)


def open_catalogue(root: str | Path, con, vocabulary: Vocabulary | None = None,
                   storage_options: dict | None = None) -> Catalogue:
    """Read the catalogue of the lakehouse at ``root`` through DuckDB connection ``con`` (delta extension loaded).

    Only reads: a ``DESCRIBE`` per table now, and a few aggregate queries per table when a
    question first needs it (:meth:`Catalogue.table`).
    """
    from deltalake import DeltaTable

    vocabulary = vocabulary or Vocabulary.load()
    root = str(Path(root).resolve()) if "://" not in str(root) else str(root)
    zones_uri = delta_uri(root, "reference", "source_catalog")
    zones_uri = zones_uri if _exists(zones_uri, storage_options) else None
    default_zone = _default_zone(con, zones_uri)
    zones = _zones(con, zones_uri)
    tables, missing = {}, {}
    for name, spec in vocabulary.tables.items():
        uri = delta_uri(root, spec["layer"], spec["delta"])
        if not _exists(uri, storage_options):
            missing[name] = f"{spec['layer']}.{spec['delta']}"
            continue
        described = con.execute(f"DESCRIBE SELECT * FROM delta_scan({sql_string(uri)})").fetchall()
        columns = {row[0]: str(row[1]) for row in described}
        time = spec.get("time") if spec.get("time") in columns else None
        version = int(DeltaTable(uri, storage_options=storage_options).version())
        info = TableInfo(name=name, layer=spec["layer"], delta=spec["delta"], uri=uri, version=version,
                         columns=columns, time=time,
                         value_column=spec.get("value") if spec.get("value") in columns else None,
                         default_filters={k: v for k, v in spec.get("default_filters", {}).items() if k in columns})
        info.text_from = _text_source(con, root, spec, columns, storage_options)
        info.text = spec.get("text") if spec.get("text") in columns or info.text_from else None
        tables[name] = info
    zones_version = int(DeltaTable(zones_uri, storage_options=storage_options).version()) if zones_uri else None
    return Catalogue(root=root, vocabulary=vocabulary, tables=tables, missing=missing, zones_uri=zones_uri,
                     default_zone=default_zone, zones_version=zones_version, zones=zones, con=con)


def _text_source(con, root: str, spec: dict, columns: dict[str, str],
                 storage_options: dict | None) -> TextSource | None:
    """The table's ``text_from`` side table, when it exists and both have the key, and it has the text column."""
    from deltalake import DeltaTable

    side, column = spec.get("text_from"), spec.get("text")
    if not side or not column or side["key"] not in columns:
        return None
    uri = delta_uri(root, side["layer"], side["delta"])
    if not _exists(uri, storage_options):
        return None
    names = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM delta_scan({sql_string(uri)})").fetchall()}
    if not {side["key"], column} <= names:
        return None
    return TextSource(uri=uri, label=f"{side['layer']}.{side['delta']}", key=side["key"], column=column,
                      version=int(DeltaTable(uri, storage_options=storage_options).version()))


def _default_zone(con, zones_uri: str | None) -> str:
    """The study area's zone for rows without a source: the zone most sources in the catalogue record."""
    if zones_uri is None:
        return FALLBACK_ZONE
    row = con.execute(f"SELECT timezone FROM delta_scan({sql_string(zones_uri)}) WHERE timezone IS NOT NULL "
                      "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    return row[0] if row else FALLBACK_ZONE


def local_time_sql(info: TableInfo, zones: dict[str, str], default_zone: str) -> tuple[str, str]:
    """``(from clause, local time expression)``: the table with each row's local wall-clock time.

    A row's zone is its source's in ``reference.source_catalog``; rows of a table without a
    ``source`` column, or of a source not catalogued, take the study area's default zone. The
    zones are written into the SQL as constants per source (a CASE), which DuckDB runs about
    five times faster than a join to the zones table with a zone per row; the CASE is computed
    once, as column ``local_time`` of a subquery, so the SQL an analyst reads stays short.
    """
    scan = f"delta_scan({sql_string(info.uri)})"
    if info.time is None:
        return f"{scan} AS x", "NULL"
    ts = f'"{info.time}"'
    by_zone: dict[str, list[str]] = {}
    if "source" in info.columns:
        for source in info.dimensions.get("source", []):
            by_zone.setdefault(zones.get(source, default_zone), []).append(source)
    if set(by_zone) <= {default_zone}:
        expr = f"timezone({sql_string(default_zone)}, {ts})"
    else:
        cases = " ".join(f"WHEN \"source\" IN ({', '.join(map(sql_string, sources))}) "
                         f"THEN timezone({sql_string(zone)}, {ts})"
                         for zone, sources in sorted(by_zone.items()) if zone != default_zone)
        expr = f"CASE {cases} ELSE timezone({sql_string(default_zone)}, {ts}) END"
    name = "local_time" if "local_time" not in info.columns else "_local_time"
    return f"(SELECT *, {expr} AS {name} FROM {scan}) AS x", f"x.{name}"


def _is_identifier(column: str) -> bool:
    return column == "id" or column.endswith("_id") or column == "h3"


def _profile(con, info: TableInfo, private: frozenset[str], zones: dict[str, str], default_zone: str) -> None:
    """Fill ``info``'s row count, local time span and dimensions (text columns with few distinct values).

    The span is taken per source on the UTC column and converted afterwards: a join per row
    to the zones table would cost a second on a few hundred thousand rows.
    """
    scan = f"delta_scan({sql_string(info.uri)})"
    has_source = "source" in info.columns
    key = 'CAST("source" AS VARCHAR)' if has_source else "NULL"
    time = f'"{info.time}"' if info.time else "NULL"
    lat = 'avg("lat")' if "lat" in info.columns else "NULL"
    whole_hours = f"bool_and(date_part('microseconds', {time}) = 0 AND minute({time}) = 0)" if info.time else "NULL"
    hours = f"max(hour({time})) - min(hour({time})) + 1" if info.time else "NULL"  # UTC hours spanned
    groups = con.execute(f"SELECT {key}, count(*), min({time}), max({time}), {lat}, {whole_hours}, {hours} "
                         f"FROM {scan} GROUP BY 1").fetchall()
    info.rows = sum(int(g[1]) for g in groups)
    days = []
    for source, _, first, last, _, whole, n_hours in groups:
        if first is not None:
            zone = ZoneInfo(zones.get(source, default_zone) if has_source else default_zone)
            first, last = first.astimezone(zone), last.astimezone(zone)
            days += [first.date(), last.date()]
            # every time on the hour, within two UTC hours (daylight saving), both ends local midnight: dates only
            if whole and n_hours <= 2 and first.hour == 0 and last.hour == 0:
                info.dateonly.add(source if has_source else "*")
    if days:
        info.span = (min(days).isoformat(), max(days).isoformat())
    lats = [(g[4], g[1]) for g in groups if g[4] is not None]
    info.southern = bool(lats) and sum(a * n for a, n in lats) / sum(n for _, n in lats) < 0
    texts = [c for c, t in info.columns.items() if t == "VARCHAR" and c not in private and not _is_identifier(c)]
    if texts:
        counts = ", ".join(f'approx_count_distinct("{c}")' for c in texts)
        approx = con.execute(f"SELECT {counts} FROM {scan}").fetchone()
        for column, n in zip(texts, approx):
            if n is not None and 0 < n <= MAX_DISTINCT * 1.2:  # the sketch errs by a few per cent
                values = [v[0] for v in con.execute(
                    f'SELECT DISTINCT "{column}" FROM {scan} WHERE "{column}" IS NOT NULL ORDER BY 1 '
                    f'LIMIT {MAX_DISTINCT + 1}').fetchall()]
                if len(values) <= MAX_DISTINCT:
                    info.dimensions[column] = [str(v) for v in values]
    for column in (c for c, t in info.columns.items() if t == "BOOLEAN" and c not in private):
        info.dimensions[column] = ["true", "false"]


def _zones(con, zones_uri: str | None) -> dict[str, str]:
    if zones_uri is None:
        return {}
    rows = con.execute(f"SELECT source, timezone FROM delta_scan({sql_string(zones_uri)}) "
                       "WHERE timezone IS NOT NULL").fetchall()
    return dict(rows)
