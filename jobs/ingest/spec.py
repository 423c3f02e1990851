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

from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobs.ingest.taxonomy import OFFENSE_CATEGORIES
from jobs.schemas import CANONICAL, ID_FIELD


class SpecError(ValueError):
    """A source spec is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormatSpec(_Strict):
    """How the file is laid out."""

    kind: Literal["csv", "jsonl", "parquet", "geojson", "kml", "gpkg", "shp"] = "csv"
    delimiter: str = ","
    quotechar: str = '"'
    decimal: str = "."
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
    constant: Any = None
    #: strptime format for timestamps, or ``iso8601``.
    format: str | None = None
    #: IANA time zone of naive timestamps (``America/Chicago``); ignored when the value has an offset.
    timezone: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "FieldSpec":
        given = [self.column is not None, bool(self.columns), self.constant is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'column', 'columns' or 'constant'")
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
    description: str = ""
    provenance: str = ""
    licence: str = ""
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
    #: Files the bundled demo and ``crimefusion run`` ingest (globs, relative to the spec file).
    files: list[str] = Field(default_factory=list)
    #: Folder of the spec file, set by :func:`load_spec` to resolve relative paths.
    base_dir: Path = Field(default=Path("."), exclude=True)

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
        if self.bounds is not None and self.coordinates is None:
            raise ValueError("'bounds' limits coordinates: the spec declares no 'coordinates'")
        if self.table == "incidents":
            for required in ("occurred_at", "category"):
                if required not in self.fields:
                    raise ValueError(f"table 'incidents' needs a '{required}' field")
            if self.coordinates is None:
                raise ValueError("table 'incidents' needs 'coordinates'")
        return self

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

    def resolve_files(self) -> list[Path]:
        """The bundled files of this feed, as absolute paths, sorted."""
        found: list[Path] = []
        for pattern in self.files:
            matches = sorted(self.base_dir.glob(pattern))
            if not matches:
                raise SpecError(f"spec {self.name!r}: no file matches {pattern!r} under {self.base_dir}")
            found.extend(p.resolve() for p in matches)
        return found


#: Fields computed on ingestion, never mapped from a column (nor the table's id: see the ``id`` section).
_DERIVED_FIELDS = frozenset(
    {"source", "h3", "lon", "lat", "district", "category_mapped",
     "source_category", "ingest_id", "source_file", "source_row"}
)


def load_spec(path: str | Path) -> SourceSpec:
    """Read and validate a YAML source spec.

    Raises
    ------
    SpecError
        With the file name and, for invalid content, each offending key and why.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping (name, table, fields...), got {type(raw).__name__}")
    try:
        return SourceSpec(**raw, base_dir=path.resolve().parent)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise SpecError(f"{path}: invalid spec: {problems}") from None
