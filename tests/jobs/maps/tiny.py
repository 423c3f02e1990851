"""A tiny study area for the map tests: two districts in Chicago, their H3 cells, a forecast and a patrol plan.

Small enough to draw in a second, real enough to exercise every part of a page: named areas,
cells with no expected crime, a peak of top cells, drivers, 21 shifts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

WEEK = pd.Timestamp("2018-01-01", tz="UTC")  # a Monday; in Chicago, Mon 1 Jan to Sun 7 Jan
TZ = "America/Chicago"
CAPACITY = 4


def districts() -> pa.Table:
    """Two rectangles side by side, as reference/police_districts rows."""
    import shapely
    from shapely.geometry import box

    geoms = [box(-87.70, 41.85, -87.66, 41.88), box(-87.66, 41.85, -87.62, 41.88)]
    return pa.table({"area_id": ["1", "2"], "name": ["1", "Near South"],
                     "geometry": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary())})


def cells() -> pa.Table:
    from jobs.grid.cells import study_area_cells

    return study_area_cells(districts().column("geometry"), resolution=9)


def expected(c: pa.Table) -> np.ndarray:
    """A smooth peak between the districts; the first five cells expect nothing."""
    lon, lat = c.column("lon").to_numpy(), c.column("lat").to_numpy()
    e = 2.0 * np.exp(-((lon + 87.66) ** 2 + (lat - 41.865) ** 2) / 0.0002)
    e[:5] = 0.0
    return e


def forecast(drivers: bool = True) -> pa.Table:
    from models.hotspots.serving import forecast_table

    c = cells()
    e = expected(c)
    texts = [f"roll_52 ×{1 + v:.2f}, kde ×1.10" for v in e] if drivers else None
    return forecast_table(c, e, WEEK, 0.05, "3", drivers=texts, method="learned")


def plan() -> tuple[list[str], np.ndarray, pa.Table]:
    """``(h3, expected, patrol plan)``: a uniform shift profile except the first cell, all Monday morning."""
    from jobs.grid.patrol import SHIFTS_PER_WEEK, patrol_plan

    c = cells()
    e = expected(c)
    profile = np.full((c.num_rows, SHIFTS_PER_WEEK), 1.0 / SHIFTS_PER_WEEK)
    h3 = c.column("h3").to_pylist()
    return h3, e, patrol_plan(h3, e, profile, week_start=WEEK, capacity=CAPACITY, timezone=TZ)
