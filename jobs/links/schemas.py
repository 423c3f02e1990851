"""Arrow schemas of the link-analysis gold tables: the links domain's one schemas module.

The kernels in this package build their outputs against these definitions, and
the assets write them; :class:`WeekNetwork` is what the link charts read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from jobs.schemas import UTC_TS

if TYPE_CHECKING:
    import pandas as pd

#: Directed, weighted phone-to-phone edges per period (calls and SMS).
CALL_EDGES = pa.schema(
    [
        pa.field("period", UTC_TS, nullable=False),
        pa.field("caller", pa.string(), nullable=False),
        pa.field("callee", pa.string(), nullable=False),
        pa.field("n_events", pa.int64(), nullable=False),
        pa.field("n_voice", pa.int64(), nullable=False),
        pa.field("n_sms", pa.int64(), nullable=False),
        pa.field("total_duration_s", pa.int64(), nullable=False),
        pa.field("first_contact", UTC_TS, nullable=False),
        pa.field("last_contact", UTC_TS, nullable=False),
    ],
    metadata={b"description": b"Gold: call network edges, one row per (period, caller, callee)."},
)

CALL_COMMUNITIES = pa.schema(
    [
        pa.field("phone", pa.string(), nullable=False),
        pa.field("period", UTC_TS, nullable=False),
        pa.field("community", pa.int64(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
    ],
    metadata={b"description": b"Gold: Leiden community of each phone per period."},
)

KEY_PLAYERS = pa.schema(
    [
        pa.field("phone", pa.string(), nullable=False),
        pa.field("period", UTC_TS, nullable=False),
        pa.field("community", pa.int64(), nullable=False),
        pa.field("degree", pa.int64(), nullable=False),
        pa.field("in_degree", pa.int64(), nullable=False),
        pa.field("out_degree", pa.int64(), nullable=False),
        pa.field("strength", pa.float64(), nullable=False),
        pa.field("coreness", pa.int64(), nullable=False),
        pa.field("betweenness", pa.float64(), nullable=False),
        pa.field("eigenvector", pa.float64(), nullable=False),
        pa.field("pagerank", pa.float64(), nullable=False),
        pa.field("rank_degree", pa.int64(), nullable=False),
        pa.field("rank_betweenness", pa.int64(), nullable=False),
        pa.field("rank_eigenvector", pa.int64(), nullable=False),
        pa.field("rank_pagerank", pa.int64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata={b"description": b"Gold: centralities of each phone and its ranks inside its community."},
)

FRAUD_RINGS = pa.schema(
    [
        pa.field("ring_id", pa.int64(), nullable=False),
        pa.field("patterns", pa.list_(pa.string()), nullable=False),
        pa.field("members", pa.list_(pa.string()), nullable=False),
        pa.field("core_members", pa.list_(pa.string()), nullable=False),
        pa.field("n_txns", pa.int64(), nullable=False),
        pa.field("total_amount", pa.float64(), nullable=False),
        pa.field("first_at", UTC_TS, nullable=False),
        pa.field("last_at", UTC_TS, nullable=False),
        pa.field("community", pa.int64()),
        pa.field("flows", pa.string(), nullable=False),  # JSON list of transfers
        pa.field("evidence", pa.string(), nullable=False),  # JSON object
    ],
    metadata={b"description": b"Gold: suspected fraud rings (transfer cycles, fan-in/fan-out mules)."},
)

#: Columns of :func:`jobs.links.queries.burner_candidates` (gold ``burner_phones``).
BURNER_PHONES = pa.schema([
    ("phone", pa.string()), ("n_events", pa.int64()), ("n_contacts", pa.int64()), ("active_days", pa.float64()),
    ("short_lived", pa.bool_()), ("few_contacts", pa.bool_()), ("shared_device", pa.bool_()), ("score", pa.int64()),
    ("is_burner", pa.bool_()),
])


#: Columns of :func:`edge_input_counts`.
EDGE_INPUT_COUNTS = pa.schema([("period", UTC_TS), ("kind", pa.string()), ("rows", pa.int64()),
                               ("out_rows", pa.int64())])


@dataclass(frozen=True)
class WeekNetwork:
    """One week of the call network as the link charts read it (:func:`jobs.links.lookups.week_network`).

    ``edges``, ``communities`` and ``key_players`` are that week's rows of the gold tables; ``pairs``
    their undirected pairs (:func:`jobs.links.selections.phone_pairs`); ``events`` the week's calls and
    SMS (:func:`jobs.links.timeline.contact_events`) for the timelines; ``aliases`` every phone of the
    lake's networks -> its alias; ``timezone`` where people read the times.
    """

    week: dt.datetime
    edges: pa.Table
    communities: pa.Table
    key_players: pa.Table
    pairs: "pd.DataFrame"
    events: pa.Table | None
    aliases: Mapping[str, str]
    timezone: str = "UTC"

    @property
    def end(self) -> dt.datetime:
        return self.week + dt.timedelta(days=7)
