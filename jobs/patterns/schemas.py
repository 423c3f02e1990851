"""Arrow schemas of the pattern-analysis gold tables (near repeat, Gi*, crime series, repeats):
the patterns domain's one schemas module.
"""

from __future__ import annotations

import pyarrow as pa


#: Schema of gold ``near_repeat``.
NEAR_REPEAT_SCHEMA = pa.schema([
    ("source", pa.string()), ("category", pa.string()),
    ("s_lo", pa.float64()), ("s_hi", pa.float64()), ("t_lo", pa.float64()), ("t_hi", pa.float64()),
    ("observed", pa.int64()), ("expected", pa.float64()), ("expected_sd", pa.float64()),
    ("knox_ratio", pa.float64()), ("p_value", pa.float64()),
    ("n_events", pa.int64()), ("n_pairs", pa.int64()), ("nrep", pa.int32()), ("seed", pa.int64()),
    ("method", pa.string()), ("metric_crs", pa.string()), ("timezone", pa.string()),
    ("window_start", pa.timestamp("us", tz="UTC")), ("window_end", pa.timestamp("us", tz="UTC")),
    ("incidents_version", pa.int64()),
])


#: Gold table ``crime_series``: one row per incident assigned to a series.
SERIES_SCHEMA = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("series_id", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),  # mean linked-pair probability of the incident
        pa.field("series_size", pa.int32(), nullable=False),
    ],
    metadata={b"description": b"Gold: incidents linked into crime series by the pairwise linkage model."},
)


#: Gold table ``repeats``.
REPEATS_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),  # location | victim | offender
        pa.field("key", pa.string(), nullable=False),  # H3 cell / location cluster id / person id
        pa.field("n_incidents", pa.int64(), nullable=False),
        pa.field("first_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("last_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("min_gap_days", pa.float64(), nullable=False),  # shortest time between consecutive incidents
        pa.field("median_gap_days", pa.float64(), nullable=False),
        pa.field("lon", pa.float64()),  # mean position of the incidents (locations only)
        pa.field("lat", pa.float64()),
        pa.field("incident_ids", pa.list_(pa.string()), nullable=False),  # in time order
    ],
    metadata={b"description": b"Gold: repeat locations, victims and offenders with counts and time gaps."},
)


#: Output of :func:`gi_star` (gold table ``hotspots_gi``).
GI_STAR_SCHEMA = pa.schema(
    [
        pa.field("h3", pa.string(), nullable=False),
        pa.field("count", pa.float64(), nullable=False),
        pa.field("n_neighbors", pa.int32(), nullable=False),  # cells in the k-ring within the study area, self included
        pa.field("gi_z", pa.float64()),  # analytic z-score; null when undefined (no variance, or every cell a neighbour)
        pa.field("p_norm", pa.float64()),  # two-sided normal p-value of gi_z
        pa.field("p_sim", pa.float64(), nullable=False),  # two-sided conditional-permutation pseudo p-value
        pa.field("p_fdr", pa.float64(), nullable=False),  # BH-adjusted p_sim (p_norm if inference="norm"); unadjusted if fdr=False
        pa.field("significant", pa.bool_(), nullable=False),  # p_fdr <= alpha
        pa.field("class", pa.int8(), nullable=False),  # -3..3: sign = cold/hot, magnitude = 90/95/99 % confidence
        pa.field("label", pa.string(), nullable=False),
    ],
    metadata={b"description": b"Gold: Getis-Ord Gi* hot and cold spots on H3 cells."},
)
