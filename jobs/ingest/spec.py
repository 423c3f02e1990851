"""Declarative source specs: how one agency export maps onto a canonical table.

A spec is a small YAML file, validated on load into :class:`SourceSpec`. It says
how to read the file (format, encoding, delimiter...), which source columns
fill which canonical fields (with timestamp formats and time zones, constants,
split date/time columns), where the coordinates are and in which CRS, how
source categories map onto the canonical offense taxonomy, and which boundary
layer is the study area. Nothing about a source is written in code.

Example (``specs/chicago_aggravated_assaults.yaml``)::

    name: chicago_aggravated_assaults
    table: incidents
    format: {kind: csv, delimiter: ","}
    fields:
      occurred_at: {column: date, format: "%Y-%m-%d %H:%M", timezone: America/Chicago}
      category: {constant: aggravated assault}
      location_type: {column: loc_cat}
    coordinates: {x: longitude, y: latitude, crs: "EPSG:4326"}
    study_area: {boundary: ../data/chicago/police_districts.kml, id_field: Name}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobs.ingest.taxonomy import OFFENSE_CATEGORIES
from jobs.schemas import CANONICAL, ID_FIELD


class SpecError(ValueError):
    """A source spec is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _separator(value: str | None, what: str) -> str | None:
    """A decimal or thousands separator: one character that cannot be part of a number's digits."""
    if value is None:
        return value
    if len(value) != 1:
        raise ValueError(f"{what} must be a single character, got {value!r}")
    if value.isdigit() or value in "+-eE" or value in "\r\n":
        raise ValueError(f"{what} {value!r} cannot separate digits (a digit, sign, exponent or line break)")
    return value


@dataclass(frozen=True)
class NumberRule:
    """How one numeric field is read: its type, its valid range and its separators.

    ``min``/``max`` are inclusive; ``thousands`` ``None`` means digit grouping is
    not allowed (``1,234`` is then not a number, rather than a guessed 1234).
    """

    integer: bool
    min: float | None
    max: float | None
    decimal: str = "."
    thousands: str | None = None


#: Valid range of each canonical numeric field, unless a spec narrows or moves it
#: (``fields.<name>.min`` / ``max``). Integer fields are also bounded by their type.
NUMBER_DEFAULTS: dict[str, dict[str, tuple[float | None, float | None]]] = {
    # a call, SMS or data session lasts from 0 s to a day (longer sessions are split by the switch)
    "cdr_events": {"duration_s": (0, 86_400)},
    "cell_sites": {"azimuth_deg": (0, 360), "beam_width_deg": (0, 360), "range_m": (0, 100_000)},
    # amounts are unsigned: the sign is the row's direction (debit, credit)
    "transactions": {"amount": (0, 1e12)},
    "cameras": {"heading_deg": (0, 360)},
}

#: Ranges of the integer Arrow types: a value outside is out of range, never wrapped.
_INT_RANGES = {"int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1),
               "int64": (-2**53, 2**53), "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1),
               "uint32": (0, 2**32 - 1), "uint64": (0, 2**53)}  # 2**53: exact in the float64 the parser reads


class FormatSpec(_Strict):
    """How the file is laid out."""

    kind: Literal["csv", "jsonl", "parquet", "geojson", "kml", "gpkg", "shp"] = "csv"
    delimiter: str = ","
    quotechar: str = '"'
    #: Decimal separator of numbers given as text (CSV, JSON Lines); typed formats always use '.'.
    decimal: str = "."
    #: Digit-grouping separator of numbers given as text; unset: grouping is not a number.
    thousands: str | None = None
    header: bool = True
    #: Column names to use when ``header`` is false (in file order).
    column_names: list[str] | None = None
    #: Layer name for multi-layer formats (GeoPackage, KML).
    layer: str | None = None

    @field_validator("delimiter", "quotechar", "decimal")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"must be a single character, got {value!r}")
        return value

    @field_validator("decimal", "thousands")
    @classmethod
    def _number_separator(cls, value: str | None, info) -> str | None:
        return _separator(value, info.field_name)

    @model_validator(mode="after")
    def _distinct_separators(self) -> "FormatSpec":
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(f"decimal and thousands separators are both {self.decimal!r}")
        return self

    @model_validator(mode="after")
    def _names_without_header(self) -> "FormatSpec":
        if self.kind == "csv" and not self.header and not self.column_names:
            raise ValueError("format.header is false: list the columns in format.column_names")
        return self


class FieldSpec(_Strict):
    """Where one canonical field comes from: a column, several columns joined, or a constant."""

    column: str | None = None
    #: Several columns joined with a space before parsing (split date and time).
    columns: list[str] | None = None
    #: A fixed value for every row: text (at most :data:`MAX_CONSTANT_CHARS` characters), a number or a boolean.
    constant: str | int | float | bool | None = None
    #: strptime format for timestamps, or ``iso8601``.
    format: str | None = None
    #: IANA time zone of naive timestamps (``America/Chicago``); ignored when the value has an offset.
    timezone: str | None = None
    #: Numeric fields: decimal and thousands separators (default: the ``format``'s) and the valid
    #: range, inclusive (default: :data:`NUMBER_DEFAULTS`).
    decimal: str | None = None
    thousands: str | None = None
    min: float | None = None
    max: float | None = None

    @field_validator("decimal", "thousands")
    @classmethod
    def _number_separator(cls, value: str | None, info) -> str | None:
        return _separator(value, info.field_name)

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, value: float | None, info) -> float | None:
        import math

        if value is not None and not math.isfinite(value):
            raise ValueError(f"{info.field_name} must be a finite number, got {value!r}")
        return value

    @field_validator("constant")
    @classmethod
    def _short_constant(cls, value):
        if isinstance(value, str) and len(value) > MAX_CONSTANT_CHARS:
            raise ValueError(f"constant is {len(value):,} characters; at most {MAX_CONSTANT_CHARS:,} are allowed "
                             f"(it is stored on every row)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "FieldSpec":
        given = [self.column is not None, bool(self.columns), self.constant is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'column', 'columns' or 'constant'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        return self

    @property
    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        return list(self.columns or [])


class CoordinateSpec(_Strict):
    """Coordinate columns and their CRS; reprojected to EPSG:4326 on ingestion."""

    x: str | None = None
    y: str | None = None
    crs: str = "EPSG:4326"
    #: For vector formats (GeoJSON, KML...): take x/y from the file's point geometry.
    from_geometry: bool = False
    #: False when rows may have no location (transfers, posts without a geotag).
    required: bool = True

    @model_validator(mode="after")
    def _xy_or_geometry(self) -> "CoordinateSpec":
        if not self.from_geometry and (self.x is None or self.y is None):
            raise ValueError("give both 'x' and 'y' columns, or 'from_geometry: true'")
        return self


class StudyAreaSpec(_Strict):
    """The boundary layer that is the study area; its polygons give each row its area id."""

    boundary: str
    layer_name: str | None = None
    id_field: str = "Name"
    name_field: str | None = None
    #: Rows within this distance outside every polygon are kept and given the nearest area.
    tolerance_m: float = Field(default=250.0, ge=0)

    def resolve(self, base: Path) -> Path:
        path = Path(self.boundary)
        return path if path.is_absolute() else (base / path).resolve()


class MapLayerSpec(_Strict):
    """A vector layer drawn on the maps' base (streets, landmarks, beats): a file, optionally labelled."""

    name: str = Field(min_length=1, max_length=80)
    #: Vector file (GeoPackage, GeoJSON, KML, Shapefile...), relative to the spec; reprojected to EPSG:4326.
    file: str
    #: Layer of a multi-layer file (default: the first).
    layer: str | None = None
    #: Attribute whose values label the features (none: unlabelled).
    label_field: str | None = None
    colour: str = Field(default="#7a7a7a", pattern=r"^#[0-9a-fA-F]{6}$")
    weight: float = Field(default=1.0, gt=0, le=10)

    def resolve(self, base: Path) -> Path:
        path = Path(self.file)
        return path if path.is_absolute() else (base / path).resolve()


class PopulationSpec(_Strict):
    """Residents by polygon (census tracts, blocks): per-capita patrol exposure, areal-weighted onto districts."""

    #: Vector file (GeoPackage, GeoJSON, KML, Shapefile...), relative to the spec; reprojected to EPSG:4326.
    file: str
    #: Layer of a multi-layer file (default: the first).
    layer: str | None = None
    #: Attribute holding each polygon's resident count.
    population_field: str
    #: Attribute naming each polygon in error messages (default: its row number).
    id_field: str | None = None

    def resolve(self, base: Path) -> Path:
        path = Path(self.file)
        return path if path.is_absolute() else (base / path).resolve()


class IdSpec(_Strict):
    """How a row's id is formed: from source columns, or from the row's content."""

    columns: list[str] | None = None
    #: Prefix ids with the source name (``chicago:123``); false for keys into another table.
    prefix: bool = True

    @property
    def from_content(self) -> bool:
        return not self.columns


class CategorySpec(_Strict):
    """Source category -> canonical offense category; unknown values map to ``default`` with a flag."""

    mapping: dict[str, str] = Field(default_factory=dict)
    default: str = "other"

    @model_validator(mode="after")
    def _known_targets(self) -> "CategorySpec":
        unknown = sorted({v for v in self.mapping.values() if v not in OFFENSE_CATEGORIES} | (
            set() if self.default in OFFENSE_CATEGORIES else {self.default}))
        if unknown:
            raise ValueError(
                f"categories map onto {unknown}, which are not canonical offense categories "
                f"(allowed: {', '.join(OFFENSE_CATEGORIES)})"
            )
        return self


class SourceSpec(_Strict):
    """One feed: how to read it and how it maps onto a canonical table."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    table: str
    description: str = Field(default="", max_length=10_000)
    provenance: str = Field(default="", max_length=10_000)
    licence: str = Field(default="", max_length=10_000)
    format: FormatSpec = Field(default_factory=FormatSpec)
    encoding: str = "utf-8"
    id: IdSpec = Field(default_factory=IdSpec)
    fields: dict[str, FieldSpec]
    coordinates: CoordinateSpec | None = None
    study_area: StudyAreaSpec | None = None
    #: ``[min_lon, min_lat, max_lon, max_lat]`` (EPSG:4326) where the feed's points can be, for
    #: feeds without a study area: bounds the swapped- and outside-coordinates rules.
    bounds: tuple[float, float, float, float] | None = None
    categories: CategorySpec = Field(default_factory=CategorySpec)
    #: IANA time zone where people read this feed's times (the study area's): local days, shifts and
    #: months in reports, maps, the CLI and the BI views' ``*_local`` columns. Default: the
    #: ``occurred_at`` field's ``timezone``, else UTC (see :attr:`local_timezone`).
    timezone: str | None = None
    #: Vector layers the maps draw on their base besides the study area's boundaries (streets, landmarks).
    map_layers: list[MapLayerSpec] = Field(default_factory=list)
    #: Residents by polygon, for patrol exposure per capita (docs/accountability.md, "Exposure").
    population: PopulationSpec | None = None
    #: Files the bundled demo and ``crimefusion run`` ingest (globs, relative to the spec file).
    files: list[str] = Field(default_factory=list)
    #: Folder of the spec file, set by :func:`load_spec` to resolve relative paths.
    base_dir: Path = Field(default=Path("."), exclude=True)
    #: Folders besides the spec's own that its paths may point into (``CRIMEFUSION_DATA_ROOTS``), set by
    #: :func:`load_spec`; the bundled ``data/`` folder is always one.
    data_roots: tuple[Path, ...] = Field(default=(), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}; give an IANA name such as 'America/Chicago'") from exc
        return value

    @property
    def local_timezone(self) -> str:
        """The feed's local time zone: ``timezone``, else the ``occurred_at`` field's, else ``UTC``."""
        if self.timezone:
            return self.timezone
        occurred = self.fields.get("occurred_at")
        return (occurred.timezone if occurred is not None and occurred.timezone else None) or "UTC"

    @field_validator("table")
    @classmethod
    def _canonical_table(cls, value: str) -> str:
        if value not in CANONICAL:
            raise ValueError(f"unknown table {value!r}; canonical tables are {', '.join(CANONICAL)}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    @field_validator("bounds")
    @classmethod
    def _valid_bounds(cls, value):
        if value is None:
            return value
        min_lon, min_lat, max_lon, max_lat = value
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValueError(
                f"must be [min_lon, min_lat, max_lon, max_lat] in degrees with min < max, got {list(value)}"
            )
        return value

    @model_validator(mode="after")
    def _fields_exist(self) -> "SourceSpec":
        schema = CANONICAL[self.table]
        unknown = [f for f in self.fields if f not in schema.names or f in _DERIVED_FIELDS or f == ID_FIELD[self.table]
                   or (f == "geometry" and self.table == "incidents")]
        if unknown:
            settable = [n for n in schema.names if n not in _DERIVED_FIELDS]
            raise ValueError(
                f"fields {unknown} are not settable fields of table {self.table!r} "
                f"(settable: {', '.join(settable)})"
            )
        for name, f in self.fields.items():
            ftype = schema.field(name).type
            numeric = pa.types.is_integer(ftype) or pa.types.is_floating(ftype)
            given = [k for k in ("decimal", "thousands", "min", "max") if getattr(f, k) is not None]
            if given and not numeric:
                raise ValueError(f"fields.{name}: {', '.join(given)} apply to numeric fields; {name!r} is {ftype}")
            if numeric:
                rule = self.number_rule(name)
                if rule.thousands is not None and rule.thousands == rule.decimal:
                    raise ValueError(f"fields.{name}: decimal and thousands separators are both {rule.decimal!r}")
                if pa.types.is_integer(ftype):
                    lo, hi = _INT_RANGES[str(ftype)]
                    if (f.min is not None and f.min < lo) or (f.max is not None and f.max > hi):
                        raise ValueError(f"fields.{name}: the range must lie within {lo}..{hi} ({ftype})")
        if self.bounds is not None and self.coordinates is None:
            raise ValueError("'bounds' limits coordinates: the spec declares no 'coordinates'")
        if self.table == "incidents":
            for required in ("occurred_at", "category"):
                if required not in self.fields:
                    raise ValueError(f"table 'incidents' needs a '{required}' field")
            if self.coordinates is None:
                raise ValueError("table 'incidents' needs 'coordinates'")
        return self

    def number_rule(self, name: str) -> NumberRule:
        """How the numeric field ``name`` is read: table default, narrowed by the spec's field settings."""
        ftype = CANONICAL[self.table].field(name).type
        integer = pa.types.is_integer(ftype)
        lo, hi = NUMBER_DEFAULTS.get(self.table, {}).get(name, (None, None))
        if integer:
            tlo, thi = _INT_RANGES[str(ftype)]
            lo, hi = (tlo if lo is None else max(lo, tlo)), (thi if hi is None else min(hi, thi))
        f = self.fields.get(name)
        if f is not None:
            lo = f.min if f.min is not None else lo
            hi = f.max if f.max is not None else hi
        text = self.format.kind in ("csv", "jsonl")
        decimal = (f.decimal if f is not None and f.decimal else self.format.decimal) if text else "."
        thousands = (f.thousands if f is not None and f.thousands else self.format.thousands) if text else None
        return NumberRule(integer=integer, min=lo, max=hi, decimal=decimal, thousands=thousands)

    @property
    def required_columns(self) -> list[str]:
        """Source columns that must be present in every file of this feed."""
        cols: list[str] = []
        for spec in self.fields.values():
            cols.extend(spec.source_columns)
        if self.coordinates is not None and not self.coordinates.from_geometry:
            cols.extend([self.coordinates.x, self.coordinates.y])  # type: ignore[list-item]
        cols.extend(self.id.columns or [])
        return list(dict.fromkeys(cols))

    @property
    def allowed_roots(self) -> tuple[Path, ...]:
        """Folders the spec's paths must stay inside: its own folder, the bundled data, the data roots."""
        return tuple(dict.fromkeys(Path(r).expanduser().resolve() for r in (self.base_dir, BUNDLED_DATA,
                                                                             *self.data_roots)))

    def confine(self, path: Path, what: str) -> Path:
        """``path`` (relative to the spec's folder) resolved, symbolic links followed; a :class:`SpecError`
        when it leaves every allowed root."""
        full = (path if path.is_absolute() else self.base_dir / path).resolve()
        if not any(full.is_relative_to(root) for root in self.allowed_roots):
            raise SpecError(
                f"spec {self.name!r}: {what} resolves to {full}, outside the spec's folder and the data roots "
                f"({', '.join(str(r) for r in self.allowed_roots)}); move the file under one of them or add its "
                f"folder to CRIMEFUSION_DATA_ROOTS"
            )
        return full

    def boundary_path(self) -> Path:
        """The study area's boundary file, confined like every path of the spec."""
        if self.study_area is None:
            raise SpecError(f"spec {self.name!r} has no study_area")
        return self.confine(Path(self.study_area.boundary), f"study_area.boundary {self.study_area.boundary!r}")

    def resolve_files(self) -> list[Path]:
        """The bundled files of this feed, as absolute paths, sorted; each inside an allowed root."""
        found: list[Path] = []
        for pattern in self.files:
            base, rel = _split_glob(pattern)
            base = self.confine(base, f"files pattern {pattern!r}")
            matches = sorted(base.glob(rel)) if rel else ([base] if base.exists() else [])
            if not matches:
                raise SpecError(f"spec {self.name!r}: no file matches {pattern!r} under {self.base_dir}")
            found.extend(self.confine(p, f"files pattern {pattern!r} (match {p})") for p in matches)
        return found


def _split_glob(pattern: str) -> tuple[Path, str]:
    """``../data/*/x.csv`` -> (``../data``, ``*/x.csv``): the folder before the first wildcard, and the rest."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    rest = parts[len(fixed):]
    return Path(*fixed) if fixed else Path("."), str(Path(*rest)) if rest else ""


#: The repository's bundled demo data (``data/``): always an allowed root of a spec's paths.
BUNDLED_DATA = Path(__file__).resolve().parents[2] / "data"

#: Size limits of what a spec stores on every row or shows in the UI (a YAML alias can multiply a value).
MAX_CONSTANT_CHARS = 1_000
#: A spec is a small file; a larger one (or one whose aliases expand past the node limit) is refused.
MAX_SPEC_BYTES = 1 << 20
MAX_SPEC_NODES = 20_000


#: Fields computed on ingestion, never mapped from a column (nor the table's id: see the ``id`` section).
_DERIVED_FIELDS = frozenset(
    {"source", "h3", "lon", "lat", "district", "category_mapped",
     "source_category", "ingest_id", "source_file", "source_row"}
)


def load_spec(path: str | Path, *, data_roots: tuple[Path, ...] | list[Path] = ()) -> SourceSpec:
    """Read and validate a YAML source spec.

    Parameters
    ----------
    path
        The spec file.
    data_roots
        Folders besides the spec's own (and the bundled ``data/``) that its
        ``files`` and ``study_area.boundary`` may point into
        (``CRIMEFUSION_DATA_ROOTS``).

    Raises
    ------
    SpecError
        With the file name and, for invalid content, each offending key and why.
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a folder, not a spec file: give the YAML file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: spec is {len(data):,} bytes; a spec is at most {MAX_SPEC_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(f"{path}: a spec is UTF-8 text; byte 0x{data[exc.start]:02x} at position {exc.start} "
                        f"(line {line}) is not valid UTF-8") from None
    try:
        raw = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader that refuses duplicate keys
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise SpecError(f"{path}: not valid YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping (name, table, fields...), got {type(raw).__name__}")
    problem = _shape_problem(raw)
    if problem:
        raise SpecError(f"{path}: invalid spec: {problem}")
    set_by_loader = sorted({"base_dir", "data_roots"} & set(raw))
    if set_by_loader:
        raise SpecError(f"{path}: invalid spec: {', '.join(set_by_loader)}: set by the loader, not a spec key")
    try:
        spec = SourceSpec.model_validate({**raw, "base_dir": path.resolve().parent,
                                          "data_roots": tuple(Path(r) for r in data_roots)})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise SpecError(f"{path}: invalid spec: {problems}") from None
    # paths are checked now, so a spec that points outside its roots never loads
    try:
        if spec.study_area is not None:
            spec.boundary_path()
        for pattern in spec.files:
            spec.confine(_split_glob(pattern)[0], f"files pattern {pattern!r}")
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    return spec


class _SpecLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (the last would silently win)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"a mapping key must be text, got {key!r}",
                                                    key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _shape_problem(raw) -> str | None:
    """Keys that are not text, and structures whose aliases expand past :data:`MAX_SPEC_NODES` nodes."""
    count = 0
    stack = [((), raw)]
    while stack:
        where, value = stack.pop()
        count += 1
        if count > MAX_SPEC_NODES:
            return (f"the spec expands to more than {MAX_SPEC_NODES:,} values (YAML aliases?); a spec is a small "
                    f"mapping")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    return f"{'.'.join(where) or '(top)'}: key {k!r} is {type(k).__name__}, a key must be text"
                stack.append(((*where, k), v))
        elif isinstance(value, list):
            stack.extend(((*where, str(i)), v) for i, v in enumerate(value))
        elif isinstance(value, str) and len(value) > MAX_SPEC_BYTES:
            return f"{'.'.join(where)}: a value of {len(value):,} characters"
    return None
