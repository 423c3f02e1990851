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


def described(text: str) -> dict[str, str]:
    """Field metadata holding a column's description: Dagster's Columns tab shows it
    (``orchestration.lakehouse.metadata.column_schema``), and the Delta schema keeps it."""
    return {"description": text}

LINEAGE_FIELDS = [
    pa.field("source", pa.string(), nullable=False,
             metadata=described("Source spec the row came from (specs/*.yaml name).")),
    pa.field("ingest_id", pa.string(), nullable=False,
             metadata=described("Bronze receipt: hash of the source and the received file's content.")),
    pa.field("source_file", pa.string(), nullable=False, metadata=described("File the row was read from.")),
    pa.field("source_row", pa.int64(), nullable=False,
             metadata=described("Row number in that file (bronze raw_<source> holds it as received).")),
]

LOCATION_FIELDS = [
    pa.field("lon", pa.float64(), metadata=described("Longitude, EPSG:4326.")),
    pa.field("lat", pa.float64(), metadata=described("Latitude, EPSG:4326.")),
    pa.field("geometry", pa.binary(), metadata=described("Point as WKB, EPSG:4326.")),
    pa.field("h3", pa.string(),
             metadata=described("H3 cell of the point at resolution 12 (hex); coarser cells are its parents.")),
]

INCIDENTS = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False,
                 metadata=described("<source>:<source id>, or <source>:<content hash>[-n] when the export has no id.")),
        pa.field("source_record_id", pa.string(), metadata=described("The export's own id, when it has one.")),
        pa.field("occurred_at", UTC_TS, nullable=False,
                 metadata=described("When it happened, UTC (converted from the spec's time zone).")),
        pa.field("category", pa.string(), nullable=False,
                 metadata=described("Canonical offense category (docs/data-model.md, Offense taxonomy).")),
        pa.field("source_category", pa.string(), metadata=described("The offense value as exported.")),
        pa.field("category_mapped", pa.bool_(), nullable=False,
                 metadata=described("False when the exported value was unknown and became other.")),
        pa.field("location_type", pa.string(), metadata=described("Place type as exported (street, residence...).")),
        *LOCATION_FIELDS,
        pa.field("district", pa.string(),
                 metadata=described("Area id of the study-area polygon holding the point (or the nearest one).")),
        pa.field("offender_ids", pa.list_(pa.string()),
                 metadata=described("Agency person record ids of the offenders (persons.person_id), where known.")),
        pa.field("victim_ids", pa.list_(pa.string()),
                 metadata=described("Agency person record ids of the victims, where known.")),
        pa.field("mo_text", pa.string(), metadata=described("Modus operandi narrative, where known.")),
        pa.field("weapon", pa.string(), metadata=described("Weapon, where known.")),
        pa.field("status", pa.string(), metadata=described("Case status, where known.")),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: one row per crime incident, canonical schema."},
)

#: Quarantine rows for every source: the raw row as received and the rule it broke.
REJECTS = pa.schema(
    [
        *LINEAGE_FIELDS,
        pa.field("rule", pa.string(), nullable=False,
                 metadata=described("Machine code of the rule the row broke (docs/data-model.md lists them).")),
        pa.field("field", pa.string(), metadata=described("Canonical field that broke it, when one did.")),
        pa.field("reason", pa.string(), nullable=False,
                 metadata=described("A sentence naming the field, the value and what was expected.")),
        pa.field("raw", pa.string(), nullable=False,
                 metadata=described("The row as received (fields as JSON, identifiers pseudonymised).")),
        # the id the row would have had in silver (null when none could be made): a duplicate_id reject
        # names the id it lost, so an incremental refine finds the losers of an id whose winner changes
        pa.field("record_id", pa.string(),
                 metadata=described("The id the row would have had in silver, when one could be made.")),
    ],
    metadata={b"description": b"Quarantine: rejected rows with the rule they broke."},
)

#: Reference boundary layers (police districts, precincts...).
BOUNDARIES = pa.schema(
    [
        pa.field("layer", pa.string(), nullable=False,
                 metadata=described("Boundary layer (one per incident source): area ids repeat across layers.")),
        pa.field("area_id", pa.string(), nullable=False,
                 metadata=described("District or precinct id, as incidents.district holds it.")),
        pa.field("name", pa.string(), metadata=described("Area name, where the boundary file has one.")),
        pa.field("geometry", pa.binary(), nullable=False, metadata=described("Polygon as WKB, EPSG:4326.")),
        pa.field("area_km2", pa.float64(), metadata=described("Area in square kilometres.")),
    ],
    metadata={b"description": b"Reference: boundary polygons (WKB, EPSG:4326)."},
)

#: Reference: one row per feed spec, with the time zone its times are read in (BI views' ``*_local`` columns).
SOURCE_CATALOG = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False, metadata=described("Source spec name.")),
        pa.field("table", pa.string(), nullable=False, metadata=described("Canonical table the source feeds.")),
        pa.field("timezone", pa.string(), nullable=False,
                 metadata=described("IANA time zone its times are read in (BI views' *_local columns).")),
        pa.field("description", pa.string(), metadata=described("The spec's description.")),
        pa.field("provenance", pa.string(), metadata=described("Where the data comes from.")),
        pa.field("licence", pa.string(), metadata=described("Licence of the data.")),
    ],
    metadata={b"description": b"Reference: the feeds the lake holds, with their local time zone."},
)

# --- feeds beyond crime records (multi-source ingestion) -------------------
# Identifier columns (phones, IMEI/IMSI, accounts, handles, names) hold keyed
# pseudonyms (hex HMAC-SHA256, see jobs/ingest/pseudonymise.py) in silver, never
# the raw value, unless a setting allows raw identifiers.

CDR_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False, metadata=described("Record id (<source>:<source id>).")),
        pa.field("caller", pa.string(), nullable=False, metadata=described("Calling number, pseudonymised.")),
        pa.field("callee", pa.string(), metadata=described("Called number, pseudonymised.")),
        pa.field("start_time", UTC_TS, nullable=False, metadata=described("Start of the call or session, UTC.")),
        pa.field("duration_s", pa.int32(), metadata=described("Duration in seconds (0..86,400).")),
        pa.field("kind", pa.string(), nullable=False, metadata=described("voice, sms or data.")),
        pa.field("direction", pa.string(),
                 metadata=described("out or in: the row describes the caller when out, the callee when in.")),
        pa.field("cell_id", pa.string(), metadata=described("Serving cell of that party (cell_sites.cell_id).")),
        pa.field("imei", pa.string(), metadata=described("Handset IMEI of that party, pseudonymised.")),
        pa.field("imsi", pa.string(), metadata=described("SIM IMSI of that party, pseudonymised.")),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: call-detail records, one row per call, SMS or data session."},
)

CELL_SITES = pa.schema(
    [
        pa.field("cell_id", pa.string(), nullable=False,
                 metadata=described("Cell (sector) id, as cdr_events.cell_id holds it.")),
        pa.field("site_id", pa.string(), metadata=described("Mast the sector belongs to.")),
        pa.field("lon", pa.float64(), nullable=False, metadata=described("Mast longitude, EPSG:4326.")),
        pa.field("lat", pa.float64(), nullable=False, metadata=described("Mast latitude, EPSG:4326.")),
        pa.field("azimuth_deg", pa.float64(), metadata=described("Sector azimuth, degrees from north (0..360).")),
        pa.field("beam_width_deg", pa.float64(), metadata=described("Sector beam width, degrees (0..360).")),
        pa.field("range_m", pa.float64(), metadata=described("Coverage range in metres.")),
        pa.field("geometry", pa.binary(), metadata=described("Coverage sector polygon as WKB, EPSG:4326.")),
        pa.field("h3", pa.string(), metadata=described("H3 cell of the mast at resolution 12.")),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: cell sites with their coverage sectors."},
)

OSINT_POSTS = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False, metadata=described("Post id.")),
        pa.field("platform", pa.string(), nullable=False,
                 metadata=described("Platform the post was collected from.")),
        pa.field("author", pa.string(), nullable=False, metadata=described("Author handle, pseudonymised.")),
        pa.field("text", pa.string(), metadata=described("Post text.")),
        pa.field("language", pa.string(), metadata=described("Language code, where known.")),
        pa.field("posted_at", UTC_TS, nullable=False, metadata=described("When it was posted, UTC.")),
        *LOCATION_FIELDS,
        pa.field("place_name", pa.string(), metadata=described("Place the post names or is tagged with.")),
        pa.field("mentions", pa.list_(pa.string()), metadata=described("Handles mentioned, pseudonymised.")),
        pa.field("urls", pa.list_(pa.string()), metadata=described("Links in the post.")),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: open-source intelligence posts."},
)

TRANSACTIONS = pa.schema(
    [
        pa.field("txn_id", pa.string(), nullable=False, metadata=described("Transaction id.")),
        pa.field("account", pa.string(), nullable=False, metadata=described("Account, pseudonymised.")),
        pa.field("counterparty", pa.string(), metadata=described("Counterparty account, pseudonymised.")),
        pa.field("amount", pa.float64(), nullable=False,
                 metadata=described("Amount, unsigned (direction carries the sign).")),
        pa.field("currency", pa.string(), nullable=False, metadata=described("ISO 4217 currency code.")),
        pa.field("occurred_at", UTC_TS, nullable=False, metadata=described("When it happened, UTC.")),
        pa.field("channel", pa.string(), nullable=False,
                 metadata=described("atm, card, transfer, cash_deposit or salary.")),
        pa.field("direction", pa.string(), metadata=described("debit or credit, from the account's side.")),
        pa.field("terminal_id", pa.string(),
                 metadata=described("ATM or card terminal, for atm and card rows (located at the terminal).")),
        *LOCATION_FIELDS,
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: financial transactions."},
)

CAMERAS = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False, metadata=described("Camera id.")),
        pa.field("lon", pa.float64(), nullable=False, metadata=described("Camera longitude, EPSG:4326.")),
        pa.field("lat", pa.float64(), nullable=False, metadata=described("Camera latitude, EPSG:4326.")),
        pa.field("heading_deg", pa.float64(), metadata=described("Viewing direction, degrees from north (0..360).")),
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
            metadata=described("Pixel-to-ground control points {u, v, lon, lat}: 4 or more (fewer is quarantined)."),
        ),
        pa.field("geometry", pa.binary(), metadata=described("Camera point as WKB, EPSG:4326.")),
        pa.field("h3", pa.string(), metadata=described("H3 cell of the camera at resolution 12.")),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: cameras and their pixel-to-ground control points."},
)

PERSONS = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False,
                 metadata=described("Agency person record id (incidents.offender_ids, victim_ids).")),
        pa.field("name", pa.string(), metadata=described("Name, pseudonymised.")),
        pa.field("date_of_birth", pa.date32(), metadata=described("Date of birth.")),
        pa.field("role", pa.string(), metadata=described("offender, victim, witness or other.")),
        pa.field("phones", pa.list_(pa.string()), metadata=described("Phone numbers, pseudonymised.")),
        pa.field("accounts", pa.list_(pa.string()), metadata=described("Bank accounts, pseudonymised.")),
        *LINEAGE_FIELDS,
    ],
    metadata={b"description": b"Silver: person / offender reference records."},
)

INCIDENT_ENRICHMENT = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False,
                 metadata=described("Silver incident the case details belong to.")),
        pa.field("offender_ids", pa.list_(pa.string()),
                 metadata=described("Agency person record ids of the offenders.")),
        pa.field("victim_ids", pa.list_(pa.string()), metadata=described("Agency person record ids of the victims.")),
        pa.field("mo_text", pa.string(), metadata=described("Modus operandi narrative.")),
        pa.field("weapon", pa.string(), metadata=described("Weapon.")),
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
