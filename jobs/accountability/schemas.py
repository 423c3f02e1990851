"""Arrow schema of the accountability tables (gold ``patrol_exposure``)."""

from __future__ import annotations

import pyarrow as pa

from jobs.schemas import described

#: ``scope`` of a ``patrol_exposure`` row: the whole week, or one 8-hour shift of it.
WEEK_SCOPE, SHIFT_SCOPE = "week", "shift"

EXPOSURE_SCHEMA = pa.schema([
    pa.field("week", pa.string(), nullable=False, metadata=described("Forecast week (its Monday, YYYY-MM-DD).")),
    pa.field("scope", pa.string(), nullable=False,
             metadata=described("`week`: the whole week's shifts; `shift`: one 8-hour shift of the week.")),
    pa.field("shift", pa.int32(), metadata=described("Shift of the week, 0 = Monday's first (local time); "
                                                     "null for the week.")),
    pa.field("shift_label", pa.string(), metadata=described("Local day and hours of the shift; `whole week`.")),
    pa.field("area_id", pa.string(), nullable=False, metadata=described("District (study-area polygon) id.")),
    pa.field("name", pa.string(), metadata=described("District name.")),
    pa.field("patrol_cell_shifts", pa.int64(), nullable=False,
             metadata=described("Patrolled cell-shifts whose cell lies in the district (cell centroid).")),
    pa.field("patrol_share", pa.float64(), metadata=described("Share of the scope's patrolled cell-shifts.")),
    pa.field("crimes", pa.int64(), nullable=False,
             metadata=described("Recorded incidents in the district in the window before the week (in the "
                                "same shift of the week for shift rows).")),
    pa.field("crime_share", pa.float64(), metadata=described("Share of the scope's recorded incidents.")),
    pa.field("exposure_ratio", pa.float64(),
             metadata=described("patrol_share / crime_share: 1 = patrols in proportion to recorded crime; "
                                "null where the district recorded none.")),
    pa.field("population", pa.float64(),
             metadata=described("Residents (areal-weighted from the spec's population layer); null without one.")),
    pa.field("patrol_per_1k", pa.float64(), metadata=described("Patrolled cell-shifts per 1,000 residents.")),
    pa.field("per_capita_ratio", pa.float64(),
             metadata=described("patrol_share / population share: 1 = patrols in proportion to residents.")),
    pa.field("gini", pa.float64(),
             metadata=described("Gini of patrolled cell-shifts over the districts, for the row's scope.")),
    pa.field("gini_per_capita", pa.float64(),
             metadata=described("Population-weighted Gini of cell-shifts per resident, for the row's scope.")),
])
