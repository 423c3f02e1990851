"""Video event kernels: class counts per minute, loitering in a zone, crowd-size surges.

Plain functions: a ``DETECTIONS`` Arrow table and keyword settings in, a
``VIDEO_EVENTS`` Arrow table out. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from vision.schemas import VIDEO_EVENTS

__all__ = ["class_counts", "loitering", "crowd_surges"]

_REQUIRED = {"camera_id", "frame_time", "frame_index", "track_id", "class_name"}


def _frame(detections: pa.Table) -> pd.DataFrame:
    if not isinstance(detections, pa.Table):
        raise TypeError(f"detections must be a pyarrow.Table, got {type(detections).__name__}")
    missing = _REQUIRED - set(detections.column_names)
    if missing:
        raise ValueError(f"detections lack column(s) {sorted(missing)}; expected the vision DETECTIONS schema")
    return detections.to_pandas()


def _events(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=VIDEO_EVENTS)


def class_counts(detections: pa.Table, *, window_s: float = 60.0) -> pa.Table:
    """Objects per class per camera per window (default one minute).

    ``value`` is the number of distinct tracks of the class seen in the window;
    for untracked rows (null ``track_id``), the largest count in any one frame.

    Raises
    ------
    ValueError
        ``window_s`` is not positive or a needed column is missing.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    df = _frame(detections)
    if df.empty:
        return _events([])
    step = pd.Timedelta(seconds=window_s)
    df["w"] = df["frame_time"].dt.floor(step)
    rows = []
    for (cam, cls, w), g in df.groupby(["camera_id", "class_name", "w"], sort=True):
        tracked = g[g["track_id"].notna()]
        n = tracked["track_id"].nunique()
        untracked = g[g["track_id"].isna()]
        if len(untracked):
            n += int(untracked.groupby("frame_index").size().max())
        rows.append({"camera_id": cam, "event_type": "class_count", "class_name": cls, "track_id": None,
                     "window_start": w, "window_end": w + step, "value": float(n), "baseline": None})
    return _events(rows)


def loitering(
    detections: pa.Table,
    *,
    zone: Sequence[tuple[float, float]] | str,
    min_dwell_s: float = 60.0,
    max_gap_s: float = 5.0,
    zone_units: str = "lonlat",
    class_names: Sequence[str] | None = ("person",),
) -> pa.Table:
    """Tracks that stay in a zone at least ``min_dwell_s`` seconds.

    Parameters
    ----------
    zone : sequence of (x, y) or WKT polygon
        The zone; ``(lon, lat)`` vertices (``zone_units="lonlat"``) tested against
        each track's geolocated foot point, or image pixels (``"pixel"``) tested
        against the box's bottom-centre, for cameras without control points.
    min_dwell_s : float
        Shortest stay reported.
    max_gap_s : float
        A track absent from the zone (or undetected) longer than this starts a new stay.
    class_names : sequence of str, optional
        Classes considered; ``None`` for all.

    Returns
    -------
    Table
        ``event_type="loitering"``, one row per stay: ``value`` the dwell in seconds,
        ``lon/lat/h3`` the last position inside the zone.
    """
    import shapely

    if min_dwell_s < 0 or max_gap_s <= 0:
        raise ValueError("min_dwell_s must be >= 0 and max_gap_s > 0")
    if zone_units not in ("lonlat", "pixel"):
        raise ValueError(f"zone_units must be 'lonlat' or 'pixel', got {zone_units!r}")
    poly = shapely.from_wkt(zone) if isinstance(zone, str) else shapely.Polygon(list(zone))
    if poly.geom_type not in ("Polygon", "MultiPolygon") or not poly.is_valid or poly.area == 0:
        raise ValueError(f"zone must be a valid polygon with an area, got {shapely.to_wkt(poly)[:80]}")
    df = _frame(detections)
    df = df[df["track_id"].notna()]
    if class_names is not None:
        df = df[df["class_name"].isin(list(class_names))]
    if df.empty:
        return _events([])
    if zone_units == "lonlat":
        x, y = df["lon"].to_numpy(dtype=float), df["lat"].to_numpy(dtype=float)
    else:
        x = ((df["x1"] + df["x2"]) / 2).to_numpy(dtype=float)
        y = df["y2"].to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    inside = np.zeros(len(df), bool)
    inside[ok] = shapely.contains_xy(poly, x[ok], y[ok])
    df = df[inside]
    rows = []
    gap = pd.Timedelta(seconds=max_gap_s)
    for (cam, tid), g in df.sort_values("frame_time").groupby(["camera_id", "track_id"], sort=True):
        t = g["frame_time"]
        visit = (t.diff() > gap).cumsum()
        for _, v in g.groupby(visit):
            dwell = (v["frame_time"].iloc[-1] - v["frame_time"].iloc[0]).total_seconds()
            if dwell >= min_dwell_s:
                last = v.iloc[-1]
                rows.append({
                    "camera_id": cam, "event_type": "loitering", "class_name": last["class_name"],
                    "track_id": int(tid), "window_start": v["frame_time"].iloc[0],
                    "window_end": v["frame_time"].iloc[-1], "value": float(dwell), "baseline": None,
                    "lon": _num(last.get("lon")), "lat": _num(last.get("lat")), "h3": last.get("h3"),
                })
    return _events(rows)


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def crowd_surges(
    detections: pa.Table,
    *,
    class_name: str = "person",
    window_s: float = 10.0,
    baseline_windows: int = 6,
    factor: float = 2.0,
    min_size: int = 5,
) -> pa.Table:
    """Windows whose crowd size jumps well above the camera's recent level.

    Crowd size in a window is the largest number of ``class_name`` objects in any
    one frame. A window is a surge when its size is at least ``min_size`` and at
    least ``factor`` times the median of the previous ``baseline_windows`` windows
    (windows without detections count as 0; a zero median counts as 1).

    Notes
    -----
    A rolling-median change detector; simple and robust to single noisy frames.
    """
    if window_s <= 0 or baseline_windows < 1 or factor <= 0 or min_size < 1:
        raise ValueError("need window_s > 0, baseline_windows >= 1, factor > 0, min_size >= 1")
    df = _frame(detections)
    df = df[df["class_name"] == class_name]
    if df.empty:
        return _events([])
    step = pd.Timedelta(seconds=window_s)
    rows = []
    for cam, g in df.groupby("camera_id", sort=True):
        per_frame = g.groupby(["frame_index"]).agg(t=("frame_time", "first"), n=("class_name", "size"))
        per_frame["w"] = per_frame["t"].dt.floor(step)
        size = per_frame.groupby("w")["n"].max()
        full = pd.date_range(size.index.min(), size.index.max(), freq=step)
        size = size.reindex(full, fill_value=0)
        base = size.shift(1).rolling(baseline_windows, min_periods=baseline_windows).median()
        for w, s, b in zip(size.index, size.to_numpy(), base.to_numpy()):
            if not np.isfinite(b):
                continue
            if s >= min_size and s >= factor * max(b, 1.0):
                rows.append({"camera_id": cam, "event_type": "crowd_surge", "class_name": class_name,
                             "track_id": None, "window_start": w, "window_end": w + step,
                             "value": float(s), "baseline": float(b)})
    return _events(rows)
