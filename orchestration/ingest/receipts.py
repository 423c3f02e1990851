"""The receipts ledger: which bronze receipts have been refined into silver, and how.

A *receipt* is one landed file of one source (its content-addressed
``ingest_id``). Silver and quarantine are built incrementally, receipt by
receipt, so the refine step must know which receipts it has already parsed.
The ledger is an append-only Delta table, ``control/receipts``, one row per
event; a receipt's state is its latest row (``seq``, wall-clock nanoseconds, orders them):

``refined``
    its rows are in silver and quarantine, parsed under ``spec_fingerprint``
    from the bronze rows landed at ``ingested_at``;
``pending``
    a refine started re-parsing it (it was pulled in because a newer receipt
    supersedes one of its rows): until a later ``refined`` row it counts as
    unrefined, so a run killed between the silver and quarantine commits is
    finished by the next one;
``withdrawn``
    it left bronze (a withdrawn day, a corrected re-delivery) and its rows
    were removed from silver and quarantine.

What bronze holds is the truth: a receipt in bronze whose latest ledger row is
not ``refined`` with the same ``ingested_at`` and spec fingerprint is
refined again; a ``refined`` receipt no longer in bronze is withdrawn. So a
process killed after its bronze commit leaves a receipt that the next refine
finds and finishes (crash consistency), and appends from concurrent writers
never conflict (the ledger is only ever appended to).

Which receipts bronze holds is read from the Delta log's per-file statistics
(each landed file writes files holding one receipt, so ``min(ingest_id) ==
max(ingest_id)``): no data file is opened. Files whose statistics do not pin
one receipt (compacted files, tables wider than the 32 columns delta-rs keeps
statistics for) fall back to scanning the two lineage columns.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa

from jobs.ingest.spec import SourceSpec
from orchestration.lakehouse.schemas import LEDGER

LAYER, TABLE = "control", "receipts"

REFINED, PENDING, WITHDRAWN = "refined", "pending", "withdrawn"


@dataclass(frozen=True)
class Receipt:
    """A receipt as bronze holds it now."""

    ingest_id: str
    ingested_at: datetime | None
    partition: str | None = None


@dataclass(frozen=True)
class Entry:
    """A receipt's latest ledger row."""

    ingest_id: str
    state: str
    ingested_at: datetime | None
    spec_fingerprint: str | None
    rows_in: int | None = None
    accepted: int | None = None
    quarantined: int | None = None


#: Raised when what a parse makes of the same bytes changes (version 2: ids from a row's content and the
#: reject's raw record use the columns the row has, by name): every receipt is then refined again.
PARSE_SCHEME = 2

#: Spec keys that only change how things are shown (``timezone``, the maps' ``map_layers``), not what a
#: parse makes of a row.
_DISPLAY_ONLY = ("timezone", "map_layers")


def spec_fingerprint(spec: SourceSpec, pseudonym_key: bytes | None) -> str:
    """What a receipt's silver rows depend on besides its bytes: the spec and the pseudonym key.

    The key enters through a keyed hash of a constant, so the ledger never
    holds anything from which the key could be recovered. Changing either
    makes every receipt of the source unrefined (the next run re-parses the
    source, as a rebuild would).
    """
    import hmac

    key_tag = "none" if pseudonym_key is None else hmac.new(pseudonym_key, b"crimefusion/receipts", "sha256").hexdigest()
    # Keys that change no parsed row are left out, so setting them re-parses nothing.
    text = spec.model_dump_json(exclude=set(_DISPLAY_ONLY)) + "\x1f" + key_tag + "\x1f" + str(PARSE_SCHEME)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def bronze_receipts(lake, name: str) -> dict[str, Receipt]:
    """Receipts in ``bronze/<name>`` with their landing time and partition, from the Delta log where it suffices."""
    if not lake.exists("bronze", name):
        return {}
    dt = lake.table("bronze", name)
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    if not actions:
        return {}
    has_partition = "ingest_partition" in pa.schema(dt.schema().to_arrow()).names
    found: dict[str, Receipt] = {}
    for a in actions:
        one = [a.get(f"min.{c}") for c in _PINNED]
        if any(f"min.{c}" not in a for c in _PINNED[:2]) or one != [a.get(f"max.{c}") for c in _PINNED] \
                or one[0] is None or one[1] is None:
            found = {}
            break
        partitioned = "min.ingest_partition" in a
        if has_partition and not partitioned:
            found = {}
            break
        if partitioned and one[2] is None and a.get("null_count.ingest_partition") != a.get("num_records"):
            found = {}  # some rows of the file have a partition and some have none
            break
        found[one[0]] = Receipt(one[0], one[1], one[2] if partitioned else None)
    if found:
        return found
    # statistics do not pin one receipt per file: read the lineage columns
    cols = ["ingest_id", "ingested_at"] + (["ingest_partition"] if has_partition else [])
    rows = pa.table(dt.to_pyarrow_table(columns=cols))
    grouped = rows.group_by("ingest_id").aggregate([(c, "max") for c in cols[1:]])
    parts = grouped["ingest_partition_max"].to_pylist() if len(cols) == 3 else [None] * grouped.num_rows
    return {i: Receipt(i, t, p) for i, t, p in zip(grouped["ingest_id"].to_pylist(),
                                                  grouped["ingested_at_max"].to_pylist(), parts)}


#: Lineage columns whose per-file statistics identify a receipt.
_PINNED = ("ingest_id", "ingested_at", "ingest_partition")


def latest(lake, source: str) -> dict[str, Entry]:
    """Each receipt's latest ledger row for ``source``."""
    if not lake.exists(LAYER, TABLE):
        return {}
    rows = lake.read(LAYER, TABLE, filters=[("source", "=", source)],
                     columns=["ingest_id", "state", "ingested_at", "spec_fingerprint", "rows_in", "accepted",
                              "quarantined", "seq"])
    if not rows.num_rows:
        return {}
    rows = rows.sort_by([("seq", "ascending")])
    out: dict[str, Entry] = {}
    for r in rows.to_pylist():  # one row per refine event: small next to the data
        out[r["ingest_id"]] = Entry(r["ingest_id"], r["state"], r["ingested_at"], r["spec_fingerprint"],
                                    r["rows_in"], r["accepted"], r["quarantined"])
    return out


def record(lake, spec: SourceSpec, entries: list[dict], *, now: datetime | None = None) -> None:
    """Append ledger rows (``ingest_id``, ``state`` and optional counts) for ``spec``'s source."""
    if not entries:
        return
    now = now or datetime.now(timezone.utc)
    # wall-clock nanoseconds order events across runs and processes; + k orders the rows of one append
    base = time.time_ns()
    rows = [{"source": spec.name, "table": spec.table, "recorded_at": now, "seq": base + k,
             "ingested_at": None, "spec_fingerprint": None, "rows_in": None, "accepted": None, "quarantined": None,
             **e} for k, e in enumerate(entries)]
    lake.append(LAYER, TABLE, pa.Table.from_pylist(rows, schema=LEDGER))


def forget(lake, spec: SourceSpec) -> int:
    """Mark every receipt of ``spec``'s source unrefined (``crimefusion rebuild``); returns how many."""
    entries = latest(lake, spec.name)
    todo = [{"ingest_id": i, "state": PENDING} for i, e in entries.items() if e.state != WITHDRAWN]
    record(lake, spec, todo)
    return len(todo)
