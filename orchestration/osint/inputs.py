"""What the OSINT assets read: the posts, and the gazetteer's sources in the lakehouse and the specs."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog

#: Columns of an incident export that hold a block or street address (Chicago's ``block``, ``address``...).
ADDRESS_COLUMN = re.compile(r"^(block|address|street|street_name|location_address|incident_address)$", re.I)


def posts(lakehouse: Lakehouse) -> pa.Table:
    """Silver posts with the columns the mentions and the tagged places need."""
    return lakehouse.read("silver", "osint_posts",
                          columns=["post_id", "source", "text", "posted_at", "place_name", "lon", "lat"])


def incidents(lakehouse: Lakehouse) -> pa.Table:
    """Silver incidents with the columns the links need: where, when and what the description says."""
    return lakehouse.read("silver", "incidents", columns=["incident_id", "occurred_at", "lon", "lat", "category",
                                                          "location_type", "weapon", "mo_text"])


def boundaries(lakehouse: Lakehouse) -> pa.Table | None:
    if not lakehouse.exists("reference", "police_districts"):
        return None
    return lakehouse.read("reference", "police_districts", columns=["layer", "area_id", "name", "geometry"])


def street_sources(lakehouse: Lakehouse, sources: SourceCatalog) -> list[tuple[str, pa.Table]]:
    """``(source, block/lon/lat table)`` of each incident export whose bronze rows hold an address column and
    longitude/latitude coordinates; bronze is read only where such a column exists."""
    out = []
    for spec in sources.specs("incidents"):
        name = f"raw_{spec.name}"
        c = spec.coordinates
        if not lakehouse.exists("bronze", name) or c is None or str(c.crs).upper() not in ("EPSG:4326", "OGC:CRS84"):
            continue
        columns = lakehouse.table("bronze", name).schema().to_arrow().names
        found = [col for col in columns if ADDRESS_COLUMN.match(col)]
        if not found or c.x not in columns or c.y not in columns:
            continue
        t = lakehouse.read("bronze", name, columns=[found[0], c.x, c.y])
        out.append((spec.name, pa.table({"block": t[found[0]].cast(pa.string()), "lon": _floats(t[c.x]),
                                         "lat": _floats(t[c.y])})))
    return out


def _floats(values) -> pa.Array:
    import pandas as pd

    # bronze holds text as received: a value that is no number is no location
    return pa.array(pd.to_numeric(pd.Series(values.to_pylist(), dtype=object), errors="coerce").to_numpy(float))


def landmark_layers(sources: SourceCatalog, log) -> list[tuple[str, list, np.ndarray, np.ndarray]]:
    """``(layer, labels, lon, lat)`` of each labelled ``map_layers`` entry of the specs (a point on each
    feature); a layer that cannot be read is logged and skipped."""
    import shapely

    from jobs.ingest.spec import SpecError
    from orchestration.ingest.boundaries import read_map_layers

    out = []
    for spec in sources.specs():
        if not spec.map_layers:
            continue
        try:
            layers = read_map_layers(spec)
        except SpecError as exc:
            log.warning(f"gazetteer built without {spec.name}'s map_layers: {exc}")
            continue
        for layer in layers:
            if not layer.labels:
                continue
            geoms = shapely.from_wkb(np.asarray(layer.geometry, dtype=object))
            pts = shapely.point_on_surface(geoms)
            out.append((layer.name, list(layer.labels), shapely.get_x(pts), shapely.get_y(pts)))
    return out


def study_bounds(spec, located: pa.Table) -> tuple[float, float, float, float] | None:
    """The posts feed's ``bounds`` from its spec, else the extent of its geotagged posts, else ``None``."""
    if spec is not None and spec.bounds is not None:
        return tuple(spec.bounds)
    lon = located["lon"].drop_null().to_numpy() if located.num_rows else np.array([])
    lat = located["lat"].drop_null().to_numpy() if located.num_rows else np.array([])
    if not len(lon):
        return None
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())
