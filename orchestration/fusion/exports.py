"""GeoParquet exports of the fusion tables for GIS (QGIS, geopandas), EPSG:4326 in the GeoParquet metadata.

Files are written by :func:`orchestration.platform.gis.write_geoparquet` (GeoParquet 1.1, atomically).

``gold/events`` is exported as one file per UTC day of a window counted back from
the latest event; a run rewrites only the days whose events changed since the
last export (:func:`orchestration.lakehouse.changes.changed_periods`) and
removes the days that left the window. ``gold/incident_context`` is rewritten
whole when its version moved (it is rewritten per incident, not per day).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from orchestration.lakehouse import changes
from orchestration.platform.gis import write_geoparquet


def export_event_days(lakehouse, folder: Path, window: int, consumer: str, version: int) -> dict:
    """Bring ``folder``'s day files up to date with ``gold/events`` at ``version``; what was done."""
    from jobs.fusion.export import window_days, window_start
    from orchestration.lakehouse.metadata import column_range

    first = window_start(column_range(lakehouse, "gold", "events", "occurred_at")[1], window)
    files = {_day_of(p): p for p in folder.glob("*.parquet")} if folder.is_dir() else None
    if files is None or first is None:
        days, mode = [], "full"
    else:
        days, mode = changes.changed_periods(lakehouse, "gold", "events", "occurred_at", consumer, version,
                                             period="day", existing=lambda: list(files))
    if mode == "full" and first is not None:  # the window's days, read once
        days = window_days(first, window)
    folder.mkdir(parents=True, exist_ok=True)
    for day, path in (files or {}).items():
        if first is None or day < first:
            path.unlink(missing_ok=True)  # left the window
    written, rewritten = 0, 0
    for day in days:
        if first is None or day < first:
            continue  # a late change to a day outside the window: it stays in gold/events only
        path = folder / f"{day.date().isoformat()}.parquet"
        rows = lakehouse.read("gold", "events", filters=[("occurred_at", ">=", day),
                                                         ("occurred_at", "<", day + dt.timedelta(days=1))])
        rewritten += 1
        if rows.num_rows:
            written += write_geoparquet(rows, path)
        else:
            path.unlink(missing_ok=True)  # the day's events are gone
    return {"path": str(folder), "days_rewritten": rewritten, "rows": written, "mode": mode, "window_days": window}


def export_incident_context(lakehouse, path: Path, consumer: str, version: int) -> dict:
    """Rewrite ``path`` from ``gold/incident_context`` unless the export already holds ``version``."""
    if path.exists() and changes.watermarks(lakehouse, consumer).get("gold/incident_context") == version:
        return {"path": str(path), "rows": None, "mode": "unchanged"}
    rows = write_geoparquet(lakehouse.read("gold", "incident_context"), path)
    return {"path": str(path), "rows": rows, "mode": "rewritten"}


def _day_of(path: Path) -> dt.datetime:
    return dt.datetime.fromisoformat(path.stem).replace(tzinfo=dt.timezone.utc)
