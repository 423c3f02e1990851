"""Arrow schemas of the fusion tables (gold): events, entities, entity_links, incident_context.

Entity ids are ``<kind>:<value>`` strings (``phone:<pseudonym>``, ``device:<pseudonym>``,
``account:...``, ``handle:...``, ``person:<person_id>``, ``camera:<camera_id>``,
``vehicle:<camera_id>:<video source>:t<track_id>``: one tracked vehicle), so one
column can reference any kind and the pseudonymised values join across sources.
"""

from __future__ import annotations

import pyarrow as pa

from jobs.schemas import UTC_TS

ENTITY_KINDS = ("person", "phone", "device", "account", "handle", "vehicle", "camera")
LINK_TYPES = ("same-as", "uses", "called", "transacted-with", "mentioned", "named-in-post", "seen-near")
CONTEXT_RELATIONS = ("tower_dump", "transaction", "osint_post", "osint_place", "camera_detection", "osint_mention")

EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),  # <origin table>:<record id>
        pa.field("source", pa.string(), nullable=False),  # feed (spec) name
        pa.field("origin", pa.string(), nullable=False),  # silver table the row came from (gold osint_mentions)
        pa.field("kind", pa.string(), nullable=False),  # category / voice|sms|data / channel / post / class
        pa.field("occurred_at", UTC_TS, nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("geometry", pa.binary(), nullable=False),  # WKB point, EPSG:4326
        pa.field("h3", pa.string(), nullable=False),
        pa.field("district", pa.string()),
        # reported | serving_cell | terminal | geotag | camera | named_place | named_place_time
        pa.field("location_basis", pa.string(), nullable=False),
        pa.field("cell_id", pa.string()),  # CDR rows: the serving cell whose site gives the location
        pa.field("entity_ids", pa.list_(pa.string())),
    ],
    metadata={b"description": b"Gold: every located, timed record of every source."},
)

ENTITIES = pa.schema(
    [
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),  # pseudonym or record id
        pa.field("n_records", pa.int64(), nullable=False),
        pa.field("first_seen", UTC_TS),
        pa.field("last_seen", UTC_TS),
        pa.field("sources", pa.list_(pa.string())),  # silver tables that name it
        pa.field("cluster_id", pa.string(), nullable=False),  # resolved identity (same-as components)
    ],
    metadata={b"description": b"Gold: people, phones, devices, accounts, handles, vehicles and cameras."},
)

ENTITY_LINKS = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("dst", pa.string(), nullable=False),
        pa.field("link_type", pa.string(), nullable=False),
        pa.field("n_evidence", pa.int64(), nullable=False),
        pa.field("first_seen", UTC_TS),
        pa.field("last_seen", UTC_TS),
        pa.field("evidence", pa.string(), nullable=False),  # rule and a sample of record ids
        pa.field("confidence", pa.float64(), nullable=False),
    ],
    metadata={b"description": b"Gold: typed links between entities with evidence and confidence."},
)

INCIDENT_CONTEXT = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("relation", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),  # event_id in gold events
        pa.field("entity_id", pa.string()),
        pa.field("occurred_at", UTC_TS, nullable=False),
        pa.field("dt_s", pa.int64(), nullable=False),  # record time - incident time
        pa.field("distance_m", pa.float64()),  # record location (cell site for CDRs) to incident
        pa.field("cell_id", pa.string()),
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field("geometry", pa.binary()),
        pa.field("h3", pa.string()),
        pa.field("contacts_present", pa.int64()),  # tower dumps: other dumped phones it called in the window
        pa.field("confidence", pa.float64(), nullable=False),
    ],
    metadata={b"description": b"Gold: phones, transactions, posts and detections around each incident."},
)


#: Map-side partial of the CDR links (``called``, ``uses`` phone -> device); see :func:`cdr_link_partials`.
CDR_LINK_PARTIALS = pa.schema([("link_type", pa.string()), ("src", pa.string()), ("dst", pa.string()),
                               ("n_evidence", pa.int64()), ("first_us", pa.int64()), ("last_us", pa.int64()),
                               ("sample", pa.string())])


#: Map-side partial of :func:`entities`: per (entity, origin) the events naming it, first and last time.
ENTITY_STATS = pa.schema([("entity_id", pa.string()), ("origin", pa.string()), ("n_records", pa.int64()),
                          ("first_us", pa.int64()), ("last_us", pa.int64())])


#: Output of :func:`fuzzy_person_matches`.
MATCHES = pa.schema([
    pa.field("person_id_a", pa.string(), nullable=False),
    pa.field("person_id_b", pa.string(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("evidence", pa.string(), nullable=False),
])


CANDIDATES = pa.schema([
    ("relation", pa.string()), ("record_id", pa.string()), ("entity_id", pa.string()), ("other_id", pa.string()),
    ("t_us", pa.int64()), ("lon", pa.float64()), ("lat", pa.float64()), ("h3", pa.string()), ("cell_id", pa.string()),
])
