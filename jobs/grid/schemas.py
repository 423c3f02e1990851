"""Arrow schemas of the hotspot domain's tables (study-area cells, forecasts, patrol plans):
the one schemas module of the grid kernels and ``models/hotspots``.
"""

from __future__ import annotations

import pyarrow as pa


#: Schema of the study-area cells table returned by :func:`study_area_cells`.
CELLS_SCHEMA = pa.schema(
    [
        pa.field("h3", pa.string(), nullable=False),
        pa.field("area_km2", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
    ],
    metadata={b"description": b"Study-area H3 cells with area and centroid (EPSG:4326)."},
)


PATROL_SCHEMA = pa.schema(
    [
        pa.field("shift_start", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("shift_label", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("h3", pa.string(), nullable=False),
        pa.field("expected_count", pa.float64(), nullable=False),
        pa.field("share_of_shift", pa.float64(), nullable=False),
    ]
)


FORECAST_SCHEMA = pa.schema(
    [
        pa.field("period_start", pa.date32(), nullable=False),
        pa.field("h3", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
    ]
)
