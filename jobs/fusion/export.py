"""The day windows of the GIS map layers (``fusion_map_layers``).

The files are written by ``orchestration.platform.gis.write_geoparquet``; a DuckDB
connection able to read the Delta tables (extensions loaded by full path, no
download) is ``orchestration.platform.bi.connect``.
"""

from __future__ import annotations

import datetime as dt


def window_start(latest: dt.datetime | None, days: int) -> dt.datetime | None:
    """Midnight (UTC) of the first of the ``days`` UTC days that end with ``latest``'s day; ``None`` without events."""
    if latest is None:
        return None
    return dt.datetime.combine(latest.date(), dt.time(), tzinfo=dt.timezone.utc) - dt.timedelta(days=days - 1)


def window_days(first: dt.datetime, days: int) -> list[dt.datetime]:
    """The ``days`` consecutive days from ``first``."""
    return [first + dt.timedelta(days=k) for k in range(days)]
