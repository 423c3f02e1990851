"""Arrow schemas of the anomaly domain's tables (spikes, spike alerts, entity scores and
anomalies): the anomalies domain's one schemas module, shared by the kernels here and the
models in ``models/anomalies``.
"""

from __future__ import annotations

import pyarrow as pa

from jobs.schemas import UTC_TS


#: Output schema of :func:`detect_spikes`.
SPIKES = pa.schema(
    [
        pa.field("series_key", pa.string(), nullable=False),
        pa.field("window_start", UTC_TS, nullable=False),
        pa.field("window_end", UTC_TS, nullable=False),
        pa.field("observed", pa.int64(), nullable=False),
        pa.field("expected", pa.float64()),
        pa.field("lower", pa.float64()),
        pa.field("upper", pa.float64()),
        pa.field("p_value", pa.float64()),
        pa.field("q_value", pa.float64()),
        pa.field("dispersion", pa.float64()),
        pa.field("alert", pa.bool_(), nullable=False),
        pa.field("severity", pa.string()),  # null | info | warning | critical
    ],
    metadata={b"description": b"Gold: count-series windows with baseline, tail p/q-values and alert severity."},
)


#: Schema of gold ``spike_alerts``: the scoring day and series family, then :data:`SPIKES`.
SPIKE_ALERTS = pa.schema(
    [pa.field("as_of_date", pa.date32(), nullable=False), pa.field("feed", pa.string(), nullable=False),
     pa.field("freq", pa.string(), nullable=False), *SPIKES],
    metadata={b"description": b"Gold: windows of count series that alerted in the scoring span, with baselines."},
)


#: Output schema of :meth:`OnnxScorer.score_table`.
ENTITY_SCORES = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        # percentage of the entities scored in the same call at or below this score (0-100]
        pa.field("score_pct", pa.float64()),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("flagged", pa.bool_(), nullable=False),
        pa.field(
            "top_features",
            pa.list_(pa.struct([pa.field("feature", pa.string()), pa.field("contribution", pa.float64())])),
        ),
    ],
    metadata={b"description": b"Gold: entity anomaly scores with their top contributing features."},
)


#: Schema of gold ``entity_anomalies``.
ENTITY_ANOMALIES = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("entity_type", pa.string(), nullable=False),  # phone | account
        pa.field("score", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("flagged", pa.bool_(), nullable=False),
        pa.field("top_features",
                 pa.list_(pa.struct([pa.field("feature", pa.string()), pa.field("contribution", pa.float64())]))),
        pa.field("model_uri", pa.string(), nullable=False),
        pa.field("scored_at", UTC_TS, nullable=False),
        # percentile of ``score`` among the entities of this type scored in the same run (0-100]; null in rows
        # written before the column existed. Last, so that older tables gain it by schema evolution.
        pa.field("score_pct", pa.float64()),
        # provenance: the registered model (model_uri split into name and version) and the Delta version of the
        # gold feature table scored (phone_features / account_features); null in rows written before them
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("features_version", pa.int64()),
    ],
    metadata={b"description": b"Gold: phones and accounts ranked by anomaly score, with the features behind it."},
)
