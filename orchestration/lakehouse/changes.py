"""Change feeds: what a gold asset has not seen yet of the tables it reads.

Silver tables record Delta's change data feed (``delta.enableChangeDataFeed``):
every commit that inserts, deletes or replaces rows also records those rows
with a ``_change_type``. A gold asset that follows a silver table keeps a
*watermark* per input, the input's Delta version it last consumed, in the
append-only table ``control/watermarks`` (consumer, input, version; the latest
row wins). Each run reads the changes after its watermark, applies them, and
only then moves the watermark: a run killed in between reapplies the same
changes next time, which every consumer makes idempotent (delete what the
changed keys held, then append their present rows).

When the feed cannot say what changed (no watermark yet, the feed was off for
part of the range, the versions were vacuumed) :func:`changes` returns
``None`` and the consumer rebuilds in full, then records the versions it read.

Notes
-----
Delta Lake change data feed (delta.io, "Change data feed"); delta-rs
``DeltaTable.load_cdf`` and the CDC files it writes for predicate
overwrites, deletes and merges.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
from orchestration.lakehouse.schemas import WATERMARKS

LAYER, TABLE = "control", "watermarks"
CHANGE_FEED = "delta.enableChangeDataFeed"


#: Order of change types inside one commit: what a commit removed comes before what it added.
_RANK = {"delete": 0, "update_preimage": 0, "insert": 1, "update_postimage": 1}


def consumer_key(name: str, settings) -> str:
    """A consumer's watermark key that changes with the settings its output depends on.

    Other settings make a new consumer with no watermark, so the output is
    rebuilt in full rather than mixing rows made under two settings.
    """
    import hashlib
    import json

    text = json.dumps(settings, sort_keys=True, default=str)
    return f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def enable_change_feed(lake, layer: str, name: str) -> bool:
    """Turn on the table's change data feed (a metadata commit, once); True when it was already on."""
    return lake.exists(layer, name) and lake.set_table_properties(layer, name, {CHANGE_FEED: "true"}) is None


def watermarks(lake, consumer: str) -> dict[str, int]:
    """``{"layer/name": version}`` the consumer last consumed."""
    if not lake.exists(LAYER, TABLE):
        return {}
    rows = lake.read(LAYER, TABLE, columns=["input", "version", "seq"], filters=[("consumer", "=", consumer)])
    out: dict[str, int] = {}
    for r in sorted(rows.to_pylist(), key=lambda r: r["seq"]):
        out[r["input"]] = r["version"]
    return out


def save_watermarks(lake, consumer: str, versions: dict[str, int]) -> bool:
    """Record the input versions a consumer has now consumed (after its writes committed).

    Only the entries that moved are appended, and nothing is committed when
    none did: a run that found nothing new leaves no trace in the lake.
    Returns whether a row was written. Every :data:`COMPACT_AT` files the
    table's small files are merged into one (rows unchanged), so reading the
    watermarks does not slow down as nights accumulate.
    """
    marks = watermarks(lake, consumer) if versions else {}
    moved = {k: int(v) for k, v in versions.items() if marks.get(k) != int(v)}
    if not moved:
        return False
    now, base = datetime.now(timezone.utc), time.time_ns()
    rows = [{"consumer": consumer, "input": k, "version": v, "recorded_at": now, "seq": base + i}
            for i, (k, v) in enumerate(sorted(moved.items()))]
    lake.append(LAYER, TABLE, pa.Table.from_pylist(rows, schema=WATERMARKS))
    _compact(lake)
    return True


#: Files of ``control/watermarks`` at which its small files are merged (one append per consumer and run).
COMPACT_AT = 64


def _compact(lake) -> None:
    # OPTIMIZE rewrites files without changing rows, so it does not conflict with concurrent appends;
    # losing a race to another compaction is harmless (the next save tries again)
    dt = lake.table(LAYER, TABLE)
    if len(dt.file_uris()) < COMPACT_AT:
        return
    try:
        dt.optimize.compact()
    except Exception:  # noqa: BLE001 - a concurrent compaction won: the files are merged either way
        pass


def changes(lake, layer: str, name: str, since: int | None, until: int | None = None, *,
            columns: list[str] | None = None) -> pa.Table | None:
    """Rows changed in versions ``since + 1 .. until`` (default: now), or ``None`` when the feed cannot say.

    An empty table means nothing changed. Columns: the table's (or
    ``columns``, read alone from the change files), plus ``_change_type`` and
    ``_commit_version``.
    """
    if since is None or not lake.exists(layer, name):
        return None
    dt = lake.table(layer, name)
    until = dt.version() if until is None else until
    if until < since:
        return None  # the table was re-created: versions went back
    if until == since:
        return None if dt.metadata().configuration.get(CHANGE_FEED) != "true" else _empty(dt, columns)
    meta = None if columns is None else [*columns, "_change_type", "_commit_version"]
    try:
        reader = dt.load_cdf(starting_version=since + 1, ending_version=until, columns=meta)
        table = pa.table(reader.read_all())
    except Exception:  # noqa: BLE001 - delta-rs raises several kinds for "no change data for that range"
        return None
    if _has_data_commits_without_cdc(dt, since + 1, until, table):
        return None
    return _plain(table)


def net_changes(feed: pa.Table, key: str) -> tuple[pa.Table, pa.Array]:
    """What the changes leave: the rows present now among the changed keys, and every changed key.

    Within a commit, deletes come before inserts (a replace records both for
    a key); across commits the later wins.
    """
    if not feed.num_rows:
        return feed.drop_columns(["_change_type", "_commit_version"]), pa.array([], feed.schema.field(key).type)
    rank = pc.index_in(feed["_change_type"], value_set=pa.array(list(_RANK))).to_numpy(zero_copy_only=False)
    order = pa.array([_RANK[t] for t in list(_RANK)], pa.int8()).take(pa.array(rank))
    t = feed.append_column("_rank", order).append_column("_pos", pa.array(range(feed.num_rows), pa.int64()))
    t = t.sort_by([(key, "ascending"), ("_commit_version", "ascending"), ("_rank", "ascending"), ("_pos", "ascending")])
    keys = t[key].combine_chunks()
    last = pc.not_equal(keys.slice(0, len(keys) - 1), keys.slice(1)) if len(keys) > 1 else pa.array([], pa.bool_())
    is_last = pa.concat_arrays([last, pa.array([True])]) if len(keys) else pa.array([], pa.bool_())
    final = t.filter(is_last)
    present = final.filter(pc.equal(final["_rank"], 1)).drop_columns(["_change_type", "_commit_version", "_rank", "_pos"])
    return present, pc.unique(keys)


def has_removals(feed: pa.Table) -> bool:
    """Whether any change removed or replaced a row (not only appends)."""
    return feed.num_rows > 0 and pc.any(pc.is_in(feed["_change_type"], value_set=pa.array(
        ["delete", "update_preimage"]))).as_py()


def _plain(table: pa.Table) -> pa.Table:
    """Arrow view types (what delta-rs hands out) as the plain types the kernels expect."""
    table = table.drop_columns([c for c in ("_commit_timestamp",) if c in table.column_names])
    cols = []
    for f in table.schema:
        col = table[f.name]
        if pa.types.is_string_view(f.type):
            col = col.cast(pa.string())
        elif pa.types.is_binary_view(f.type):
            col = col.cast(pa.binary())
        elif f.name == "_commit_version":
            col = col.cast(pa.int64())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _empty(dt, columns: list[str] | None = None) -> pa.Table:
    schema = pa.schema(dt.schema().to_arrow())
    fields = [f for f in schema if columns is None or f.name in columns]
    return pa.table({**{f.name: pa.array([], f.type) for f in fields},
                     "_change_type": pa.array([], pa.string()), "_commit_version": pa.array([], pa.int64())})


def _has_data_commits_without_cdc(dt, start: int, end: int, feed: pa.Table) -> bool:
    """True when a commit in range changed data while the feed was off (its rows would be missed)."""
    seen = set(pc.unique(feed["_commit_version"].cast(pa.int64())).to_pylist()) if feed.num_rows else set()
    for entry in dt.history(dt.version() - start + 1):  # newest first: back to ``start``
        version = entry.get("version")
        if version is None or version < start or version > end or version in seen:
            continue
        op = (entry.get("operation") or "").upper()
        if op in ("SET TBLPROPERTIES", "ADD COLUMN", "OPTIMIZE", "VACUUM START", "VACUUM END", "CREATE TABLE"):
            continue  # no row changed
        params = entry.get("operationMetrics") or {}
        changed = sum(int(params.get(k, 0) or 0) for k in ("num_added_rows", "num_deleted_rows", "num_updated_rows",
                                                             "num_copied_rows", "num_target_rows_inserted",
                                                             "num_target_rows_deleted", "num_target_rows_updated"))
        if changed or not params:
            return True
    return False


def follow(lake, consumer: str, layer: str, name: str, target: tuple[str, str], *,
           columns: list[str] | None = None) -> tuple[int, pa.Table | None]:
    """An input's version now and its changes since ``consumer``'s watermark (``None``: rebuild ``target``).

    Turns the input's change feed on first (a no-op once on). ``target`` is
    the consumer's output table (``(layer, name)``); while it does not exist
    there is nothing to update, so the answer is ``None``. ``columns``: read
    only these from the change files.
    """
    enable_change_feed(lake, layer, name)
    version = lake.version(layer, name)
    since = watermarks(lake, consumer).get(f"{layer}/{name}")
    if since is not None and lake.exists(*target):
        # a run killed between its MERGE into the target and its watermark: the merge already holds those changes
        done = applied_through(lake, target, consumer, f"{layer}/{name}")
        since = max(since, done) if done is not None else since
    feed = changes(lake, layer, name, since, version, columns=columns) if lake.exists(*target) else None
    return version, feed


#: Commit-info key of a follower's MERGE: which input version its changes run through (``applied_marker``).
APPLIED = "crimefusion.applied"
#: Commits of a follower's target looked at for its marker (one merge per run; other commits are its own).
APPLIED_LOOKBACK = 20


def applied_marker(consumer: str, input_key: str, version: int) -> dict[str, str]:
    """Custom commit metadata saying this commit applies ``input_key``'s changes through ``version``.

    A non-idempotent update (a MERGE that adds counts) carries it, so a run
    killed after that commit and before :func:`save_watermarks` does not add
    the same changes twice: :func:`follow` starts after the marked version.
    """
    return {APPLIED: json.dumps({"consumer": consumer, "input": input_key, "version": int(version)})}


def applied_through(lake, target: tuple[str, str], consumer: str, input_key: str) -> int | None:
    """The input version the latest marked commit of ``consumer`` on ``target`` applied through, if any."""
    for commit in lake.table(*target).history(APPLIED_LOOKBACK):
        raw = commit.get(APPLIED)
        if raw:
            mark = json.loads(raw)
            if mark.get("consumer") == consumer and mark.get("input") == input_key:
                return int(mark["version"])
    return None


def new_rows(lake, layer: str, name: str, consumer: str, key: str,
             columns: list[str] | None = None) -> tuple[pa.Table, int, bool]:
    """Rows added or replaced since ``consumer`` last moved its watermark on this table.

    Returns ``(rows, version, complete)``: with no usable watermark the whole
    table (``complete`` True); otherwise the present rows of the keys that
    changed. Call :func:`save_watermarks` with ``version`` once the rows are
    dealt with.
    """
    version = lake.version(layer, name)
    marks = watermarks(lake, consumer)
    feed = changes(lake, layer, name, marks.get(f"{layer}/{name}"), version)
    if feed is None:
        return lake.read(layer, name, columns=columns, version=version), version, True
    present, _ = net_changes(feed, key)
    if columns is not None:
        present = present.select([c for c in columns if c in present.column_names])
    return present, version, False


def changed_periods(lake, layer: str, name: str, time_column: str, consumer: str, version: int, *,
                    existing, period: str | None = "week") -> tuple[list, str]:
    """Periods an output must rebuild: those the input's changes since ``consumer``'s watermark touch.

    Rule: a period is rebuilt when a row of it was added, removed or replaced
    (before and after images both count, so a row that moved to another
    period rebuilds both). ``existing()`` lists the periods the output holds,
    or returns ``None`` when there is no output yet. Without an output or a
    watermark, or when the change feed cannot say, every period of the input
    and of the output is rebuilt (a period the input no longer has is
    emptied). ``period`` is ``hour``, ``day``, ``week`` or ``month``
    (:func:`jobs.links.edges.period_start`); ``None``: ``time_column`` holds
    the periods already. Returns the periods, sorted, and ``"incremental"`` or
    ``"full"``.
    """
    from jobs.links.edges import period_start

    held = existing()
    enable_change_feed(lake, layer, name)
    feed = None
    if held is not None:
        feed = changes(lake, layer, name, watermarks(lake, consumer).get(f"{layer}/{name}"), version,
                       columns=[time_column])
    if feed is not None:
        times = feed[time_column] if feed.num_rows else pa.array([], pa.timestamp("us", tz="UTC"))
        found = period_start(times, period) if period else times
        return sorted(pc.unique(found).to_pylist()) if len(found) else [], "incremental"
    col = lake.read(layer, name, columns=[time_column], version=version)[time_column]
    found = set(pc.unique(period_start(col, period) if period else col).to_pylist()) if len(col) else set()
    return sorted(found | set(held or [])), "full"
