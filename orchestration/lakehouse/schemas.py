"""Arrow schemas of the ``control/`` tables the platform keeps (ingest ledger, asset
fingerprints, change-feed watermarks): one module for all of them.
"""

from __future__ import annotations

import pyarrow as pa


#: control/receipts: the ingest ledger, one row per refine event of a bronze receipt.
LEDGER = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("ingest_id", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
        pa.field("spec_fingerprint", pa.string()),
        pa.field("rows_in", pa.int64()),
        pa.field("accepted", pa.int64()),
        pa.field("quarantined", pa.int64()),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
    ],
    metadata={b"description": b"Receipts ledger: one row per refine event of a bronze receipt."},
)


#: control/fingerprints: what each asset last read (see ``freshness.skip_unchanged``).
FINGERPRINTS = pa.schema(
    [
        pa.field("asset", pa.string(), nullable=False),
        pa.field("partition", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),
        pa.field("tables", pa.string(), nullable=False),
        pa.field("parts", pa.string(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
    ],
    metadata={b"description": b"Per asset and partition: the fingerprint of what its last run read and wrote."},
)


#: control/watermarks: how far each consumer has followed each change feed.
WATERMARKS = pa.schema(
    [
        pa.field("consumer", pa.string(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
    ],
    metadata={b"description": b"Per consumer and input table: the input's Delta version last consumed."},
)
