"""What a map is drawn over: the lakehouse's own layers (area boundaries with labels, other vector layers)
or an agency tile server.

Offline, the base is the study area's boundary layer (``reference/police_districts``), each area
labelled with its name; a tile server (``CRIMEFUSION_TILES``, read by ``orchestration.settings``)
replaces the filled areas, which are then drawn as outlines only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

__all__ = ["Areas", "TileLayer", "VectorLayer", "areas_from", "check_tile_template"]


def check_tile_template(url: str) -> str:
    """``url`` if it is a usable XYZ tile template (``{z}``, ``{x}``, ``{y}``, http(s) or file), else ValueError."""
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
    if missing:
        raise ValueError(f"tile URL template {url!r} lacks {', '.join(missing)}; "
                         "expected e.g. https://tiles.agency.gov/{z}/{x}/{y}.png")
    if urlsplit(url).scheme not in ("http", "https", "file"):
        raise ValueError(f"tile URL template {url!r} must start with https://, http:// or file://")
    return url


@dataclass(frozen=True)
class TileLayer:
    """An XYZ tile server (``https://tiles.agency.gov/{z}/{x}/{y}.png``) as the base layer."""

    url: str
    attribution: str = ""
    max_zoom: int = 19

    def __post_init__(self):
        check_tile_template(self.url)

    def credit(self) -> str:
        return self.attribution or f"Base map: {urlsplit(self.url).netloc or 'local tiles'}"


@dataclass(frozen=True)
class VectorLayer:
    """Extra geometries drawn on the base (streets, landmarks), with optional labels.

    ``geometry``: WKB (EPSG:4326); ``labels``: one text (or None) per geometry.
    """

    name: str
    geometry: Sequence[bytes]
    labels: Sequence[str | None] | None = None
    colour: str = "#7a7a7a"
    weight: float = 1.0

    def features(self) -> list[dict]:
        import shapely

        geoms = shapely.from_wkb(np.asarray(list(self.geometry), dtype=object))
        labels = list(self.labels) if self.labels is not None else [None] * len(geoms)
        if len(labels) != len(geoms):
            raise ValueError(f"layer {self.name!r}: {len(labels)} labels for {len(geoms)} geometries")
        return [_feature(g, label) for g, label in zip(geoms, labels)]


@dataclass(frozen=True)
class Areas:
    """Area boundaries (districts, precincts) with their ids and label texts."""

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    geometry: tuple[bytes, ...] = field(repr=False)

    def features(self) -> list[dict]:
        import shapely

        geoms = shapely.from_wkb(np.asarray(self.geometry, dtype=object))
        return [_feature(g, label, area_id=i) for g, label, i in zip(geoms, self.labels, self.ids)]

    def rings(self) -> list[np.ndarray]:
        """Exterior rings ``(n, 2)`` (lon, lat) of every polygon part."""
        import shapely

        out = []
        for g in shapely.from_wkb(np.asarray(self.geometry, dtype=object)):
            for poly in getattr(g, "geoms", [g]):
                if poly.geom_type == "Polygon":
                    out.append(np.asarray(poly.exterior.coords)[:, :2])
        return out

    def label_points(self) -> list[tuple[float, float]]:
        """(lon, lat) inside each area where its label goes (a point on the surface, not a centroid
        that a concave area may not contain)."""
        import shapely

        pts = shapely.point_on_surface(shapely.from_wkb(np.asarray(self.geometry, dtype=object)))
        return [(float(p.x), float(p.y)) for p in pts]


def areas_from(districts: pa.Table | Sequence[bytes] | Areas) -> Areas:
    """:class:`Areas` of a ``BOUNDARIES`` table (``area_id``, ``name``, ``geometry``) or of bare WKB.

    Bare WKB gets no labels (the label is empty); a table's label is the area's name, prefixed by
    its id when the name does not contain it (``7 Chicago Lawn``, but ``District 7`` as it is).
    """
    if isinstance(districts, Areas):
        return districts
    if isinstance(districts, pa.Table):
        missing = {"area_id", "geometry"} - set(districts.column_names)
        if missing:
            raise ValueError(f"area table lacks {sorted(missing)}; expected reference/police_districts rows "
                             f"(area_id, name, geometry), got {districts.column_names}")
        ids = [str(v) for v in districts.column("area_id").to_pylist()]
        names = districts.column("name").to_pylist() if "name" in districts.column_names else [None] * len(ids)
        labels = [i if not n or n == i else (n if re.search(rf"\b{re.escape(i)}\b", n) else f"{i} {n}")
                  for i, n in zip(ids, names)]
        return Areas(tuple(ids), tuple(labels), tuple(districts.column("geometry").to_pylist()))
    wkb = tuple(districts)
    return Areas(tuple(str(i + 1) for i in range(len(wkb))), ("",) * len(wkb), wkb)


def _feature(geom, label: str | None, **props) -> dict:
    import shapely

    pt = shapely.point_on_surface(geom) if not geom.is_empty else None
    return {"type": "Feature", "geometry": _rounded(shapely.geometry.mapping(geom)),
            "properties": {"label": label or "", **props,
                           "label_at": [round(pt.y, 6), round(pt.x, 6)] if pt is not None else None}}


def _rounded(obj):
    # 6 decimals of a degree is about 0.1 m: enough for a city map, a third of the page's size
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(v), 6) for v in obj[:2]]
        return [_rounded(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj
