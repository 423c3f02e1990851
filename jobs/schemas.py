"""Canonical Arrow schemas of the lakehouse tables.

Every silver and gold table has its schema here, apart from the code that reads
or writes it, so that kernels, assets, quality suites and docs agree on one
definition. ``docs/data-model.md`` documents each field.

Conventions
-----------
- Times are ``timestamp[us, tz=UTC]``; the source time zone is a spec setting.
- Located rows carry ``lon``/``lat`` (EPSG:4326), ``geometry`` (WKB, EPSG:4326)
  and ``h3`` (resolution 12, lower-case hex string), so coarser cells are parents
  and tools without spatial types can still map and filter.
- Lineage columns (``ingest_id``, ``source_file``, ``source_row``) tie every row
  back to the raw record it came from.
"""

from __future__ import annotations

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

#: Resolution at which every located row is indexed; coarser cells are parents.
H3_RESOLUTION = 12

LINEAGE_FIELDS = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("ingest_id", pa.string(), nullable=False),
    pa.field("source_file", pa.string(), nullable=False),
    pa.field("source_row", pa.int64(), nullable=False),
]

LOCATION_FIELDS = [
    pa.field("lon", pa.float64()),
    pa.field("lat", pa.float64()),
    pa.field("geometry", pa.binary()),
    pa.field("h3", pa.string()),
]

INCIDENTS = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("source_record_id", pa.string()),
        pa.field("occurred_at", UTC_TS, nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("source_category", pa.string()),
        pa.field("category_mapped", pa.bool_(), nullable=False),
        pa.field("location_type", pa.string()),
        *LOCATION_FIELDS,
        pa.field("district", pa.string()),
        pa.field("offender_ids", pa.list_(pa.string())),
        pa.field("victim_ids", pa.list_(pa.string())),
        pa.field("mo_text", pa.string()),
        pa.field("weapon", pa.string()),
        pa.field("status", pa.string()),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: one row per crime incident, canonical schema."},
)

#: Quarantine rows for every source: the raw row as received and the rule it broke.
REJECTS = pa.schema(
    [
        *LINEAGE_FIELDS,
        pa.field("rule", pa.string(), nullable=False),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
        # the id the row would have had in silver (null when none could be made): a duplicate_id reject
        # names the id it lost, so an incremental refine finds the losers of an id whose winner changes
        pa.field("record_id", pa.string()),
    ],
    metadata={b"description": b"Quarantine: rejected rows with the rule they broke."},
)

#: Reference boundary layers (police districts, precincts...).
BOUNDARIES = pa.schema(
    [
        pa.field("layer", pa.string(), nullable=False),
        pa.field("area_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("geometry", pa.binary(), nullable=False),
        pa.field("area_km2", pa.float64()),
    ],
    metadata={b"description": b"Reference: boundary polygons (WKB, EPSG:4326)."},
)

# --- feeds beyond crime records (multi-source ingestion) -------------------
# Identifier columns (phones, IMEI/IMSI, accounts, handles, names) hold keyed
# pseudonyms (hex HMAC-SHA256, see jobs/ingest/pseudonymise.py) in silver, never
# the raw value, unless a setting allows raw identifiers.

CDR_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("caller", pa.string(), nullable=False),
        pa.field("callee", pa.string()),
        pa.field("start_time", UTC_TS, nullable=False),
        pa.field("duration_s", pa.int32()),
        pa.field("kind", pa.string(), nullable=False),  # voice | sms | data
        pa.field("direction", pa.string()),  # out | in
        pa.field("cell_id", pa.string()),
        pa.field("imei", pa.string()),
        pa.field("imsi", pa.string()),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: call-detail records, one row per call, SMS or data session."},
)

CELL_SITES = pa.schema(
    [
        pa.field("cell_id", pa.string(), nullable=False),
        pa.field("site_id", pa.string()),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("azimuth_deg", pa.float64()),
        pa.field("beam_width_deg", pa.float64()),
        pa.field("range_m", pa.float64()),
        pa.field("geometry", pa.binary()),  # coverage sector polygon, WKB EPSG:4326
        pa.field("h3", pa.string()),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: cell sites with their coverage sectors."},
)

OSINT_POSTS = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("author", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("language", pa.string()),
        pa.field("posted_at", UTC_TS, nullable=False),
        *LOCATION_FIELDS,
        pa.field("place_name", pa.string()),
        pa.field("mentions", pa.list_(pa.string())),
        pa.field("urls", pa.list_(pa.string())),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: open-source intelligence posts."},
)

TRANSACTIONS = pa.schema(
    [
        pa.field("txn_id", pa.string(), nullable=False),
        pa.field("account", pa.string(), nullable=False),
        pa.field("counterparty", pa.string()),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("occurred_at", UTC_TS, nullable=False),
        pa.field("channel", pa.string(), nullable=False),  # atm | card | transfer | cash_deposit | salary
        pa.field("direction", pa.string()),  # debit | credit, from the account's side
        pa.field("terminal_id", pa.string()),
        *LOCATION_FIELDS,
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: financial transactions."},
)

CAMERAS = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("heading_deg", pa.float64()),
        # >= 4 pixel-to-ground control points: [{"u", "v", "lon", "lat"}...]
        pa.field(
            "control_points",
            pa.list_(
                pa.struct(
                    [
                        pa.field("u", pa.float64()),
                        pa.field("v", pa.float64()),
                        pa.field("lon", pa.float64()),
                        pa.field("lat", pa.float64()),
                    ]
                )
            ),
        ),
        pa.field("geometry", pa.binary()),
        pa.field("h3", pa.string()),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: cameras and their pixel-to-ground control points."},
)

PERSONS = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),  # pseudonymised
        pa.field("date_of_birth", pa.date32()),
        pa.field("role", pa.string()),  # offender | victim | witness | other
        pa.field("phones", pa.list_(pa.string())),
        pa.field("accounts", pa.list_(pa.string())),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: person / offender reference records."},
)

INCIDENT_ENRICHMENT = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("offender_ids", pa.list_(pa.string())),
        pa.field("victim_ids", pa.list_(pa.string())),
        pa.field("mo_text", pa.string()),
        pa.field("weapon", pa.string()),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: case details (offenders, victims, modus operandi) keyed by incident id."},
)

#: Canonical table name -> schema.
CANONICAL = {
    "incidents": INCIDENTS,
    "cdr_events": CDR_EVENTS,
    "cell_sites": CELL_SITES,
    "osint_posts": OSINT_POSTS,
    "transactions": TRANSACTIONS,
    "cameras": CAMERAS,
    "persons": PERSONS,
    "incident_enrichment": INCIDENT_ENRICHMENT,
}

#: The id column of each canonical table (formed from the spec's ``id`` section).
ID_FIELD = {
    "incidents": "incident_id",
    "cdr_events": "event_id",
    "cell_sites": "cell_id",
    "osint_posts": "post_id",
    "transactions": "txn_id",
    "cameras": "camera_id",
    "persons": "person_id",
    "incident_enrichment": "incident_id",
}

#: Identifier fields pseudonymised on ingestion (keyed hash), with the kind of
#: identifier that decides how values are normalised first (jobs/ingest/pseudonymise.py).
PSEUDONYMISED: dict[str, dict[str, str]] = {
    "cdr_events": {"caller": "phone", "callee": "phone", "imei": "imei", "imsi": "imsi"},
    "osint_posts": {"author": "handle", "mentions": "handle"},
    "transactions": {"account": "account", "counterparty": "account"},
    # person ids are the agency's record numbers, not identifiers of a person outside it
    "persons": {"name": "name", "phones": "phone", "accounts": "account"},
}

#: Allowed values of categorical fields, checked by the quality suites.
VALUE_SETS: dict[str, dict[str, list[str]]] = {
    "cdr_events": {"kind": ["voice", "sms", "data"], "direction": ["out", "in"]},
    "transactions": {"channel": ["atm", "card", "transfer", "cash_deposit", "salary"], "direction": ["debit", "credit"]},
}
