"""Call-network edges: per-partition aggregation of CDRs and an associative merge.

``aggregate_edges`` turns CDR rows into one row per (period, caller, callee);
``merge_edges`` combines edge tables computed on disjoint partitions of the
CDRs. Both run through the same reduction (sums, min, max), so
``merge_edges([aggregate_edges(a), aggregate_edges(b)]) == aggregate_edges(a + b)``
for any split of the rows; the Spark runner calls ``aggregate_edges`` per
partition and ``merge_edges`` on the results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.inputs import require_columns
from jobs.links.schemas import CALL_EDGES, EDGE_INPUT_COUNTS
from jobs.schemas import UTC_TS

#: Period name -> arguments of ``pyarrow.compute.floor_temporal``.
PERIODS: dict[str, dict] = {
    "hour": {"unit": "hour"},
    "day": {"unit": "day"},
    "week": {"unit": "week", "week_starts_monday": True},
    "month": {"unit": "month"},
}

_SUM_COLUMNS = ("n_events", "n_voice", "n_sms", "total_duration_s")


def period_start(times: pa.ChunkedArray | pa.Array, period: str) -> pa.ChunkedArray | pa.Array:
    """Start (UTC) of the period each time falls in.

    ``period`` is ``hour``, ``day``, ``week`` (ISO weeks, Monday 00:00 UTC),
    ``month`` or ``all`` (every row maps to the epoch, one network for the
    whole input).
    """
    times = times.cast(UTC_TS) if times.type != UTC_TS else times
    if period == "all":
        return pa.array(np.zeros(len(times), dtype=np.int64)).cast(UTC_TS)
    if period not in PERIODS:
        raise ValueError(f"period={period!r} is not one of {sorted([*PERIODS, 'all'])}")
    return pc.floor_temporal(times, multiple=1, **PERIODS[period])


def aggregate_edges(
    cdr: pa.Table,
    *,
    period: str = "week",
    kinds: Sequence[str] = ("voice", "sms"),
    dedupe_mirrored: bool = True,
) -> pa.Table:
    """Aggregate CDR rows into directed, weighted call-network edges.

    Parameters
    ----------
    cdr : pyarrow.Table
        Rows with the ``CDR_EVENTS`` columns ``caller``, ``callee``,
        ``start_time``, ``duration_s`` and ``kind``.
    period : str
        ``hour``, ``day``, ``week`` (default), ``month`` or ``all``.
    kinds : sequence of str
        Event kinds that make an edge; data sessions have no callee.
    dedupe_mirrored : bool
        Operators write a call between two of their subscribers twice (an
        ``out`` row for the caller, an ``in`` row for the callee); drop an
        ``in`` row when an ``out`` row with the same caller, callee and start
        time exists (see :func:`drop_mirrored`). Exact per partition when
        partitions keep both rows together (keyed by time or by caller and
        callee).

    Returns
    -------
    pyarrow.Table
        ``CALL_EDGES``: one row per (period, caller, callee) with the event
        count, voice and SMS counts, total duration and first/last contact,
        sorted by period, caller, callee. Rows without a callee and self-calls
        are dropped.

    Notes
    -----
    The reduction is a commutative monoid (sum, min, max), the map-side
    combine of MapReduce (Dean & Ghemawat, 2004), so partial results from any
    partitioning merge exactly with :func:`merge_edges`.
    """
    require_columns(cdr, ["caller", "callee", "start_time", "duration_s", "kind"], "cdr")
    rows = edge_rows(cdr, kinds)
    if dedupe_mirrored and "direction" in rows.column_names:
        rows = drop_mirrored(rows)
    kind = rows.column("kind")
    start = rows.column("start_time")
    start = start.cast(UTC_TS) if start.type != UTC_TS else start
    unit = pa.table(
        {
            "period": period_start(start, period),
            "caller": rows.column("caller").cast(pa.string()),
            "callee": rows.column("callee").cast(pa.string()),
            "n_events": pa.array(np.ones(rows.num_rows, dtype=np.int64)),
            "n_voice": pc.cast(pc.equal(kind, "voice"), pa.int64()),
            "n_sms": pc.cast(pc.equal(kind, "sms"), pa.int64()),
            "total_duration_s": pc.fill_null(pc.cast(rows.column("duration_s"), pa.int64()), 0),
            "first_contact": start,
            "last_contact": start,
        }
    )
    return _reduce(unit)


def edge_rows(cdr: pa.Table, kinds: Sequence[str] = ("voice", "sms")) -> pa.Table:
    """The CDR rows that make an edge: a kind in ``kinds``, a callee, and a callee other than the caller."""
    require_columns(cdr, ["caller", "callee", "kind"], "cdr")
    if isinstance(kinds, str):
        raise TypeError("kinds must be a sequence of kind names, e.g. ('voice', 'sms')")
    keep = pc.and_(
        pc.is_in(cdr.column("kind"), value_set=pa.array(list(kinds), pa.string())),
        pc.and_(pc.is_valid(cdr.column("callee")), pc.not_equal(cdr.column("caller"), cdr.column("callee"))),
    )
    return cdr.filter(pc.fill_null(keep, False))


def edge_input_counts(cdr: pa.Table, *, period: str = "week", kinds: Sequence[str] = ("voice", "sms")) -> pa.Table:
    """How many edge-making CDR rows each (period, kind) has: the bounds of its edges' event count.

    Parameters
    ----------
    cdr : pyarrow.Table
        Rows with ``caller``, ``callee``, ``start_time``, ``kind`` and optionally ``direction``.
    period, kinds
        As in :func:`aggregate_edges`.

    Returns
    -------
    pyarrow.Table
        ``EDGE_INPUT_COUNTS``: ``rows`` counts every edge-making row, ``out_rows`` those whose
        ``direction`` is not ``in``. :func:`drop_mirrored` removes only ``in`` rows, so the summed
        ``n_<kind>`` of a period's edges lies in ``[out_rows, rows]``; sums of partial counts
        (record batches of one table) add up.
    """
    require_columns(cdr, ["caller", "callee", "start_time", "kind"], "cdr")
    rows = edge_rows(cdr, kinds)
    is_in = (pc.fill_null(pc.equal(rows.column("direction"), "in"), False) if "direction" in rows.column_names
             else pa.array(np.zeros(rows.num_rows, dtype=bool)))
    unit = pa.table({
        "period": period_start(rows.column("start_time"), period),
        "kind": rows.column("kind").cast(pa.string()),
        "rows": pa.array(np.ones(rows.num_rows, dtype=np.int64)),
        "out_rows": pc.cast(pc.invert(is_in), pa.int64()),
    })
    return sum_edge_input_counts([unit])


def sum_edge_input_counts(tables: Iterable[pa.Table]) -> pa.Table:
    """Add up :func:`edge_input_counts` tables (computed on disjoint parts of the CDRs)."""
    tables = [t.select(EDGE_INPUT_COUNTS.names).cast(EDGE_INPUT_COUNTS) for t in tables]
    if not tables:
        return EDGE_INPUT_COUNTS.empty_table()
    grouped = pa.concat_tables(tables).group_by(["period", "kind"]).aggregate([("rows", "sum"), ("out_rows", "sum")])
    out = grouped.rename_columns([{"rows_sum": "rows", "out_rows_sum": "out_rows"}.get(c, c) for c in grouped.column_names])
    return out.select(EDGE_INPUT_COUNTS.names).cast(EDGE_INPUT_COUNTS).sort_by([("period", "ascending"), ("kind", "ascending")])


def drop_mirrored(cdr: pa.Table) -> pa.Table:
    """Drop ``in`` rows that mirror an ``out`` row (same caller, callee, start time).

    Rows are kept in their input order; ``in`` rows of calls whose ``out``
    side is not in the table (the caller is on another network) stay.
    """
    require_columns(cdr, ["caller", "callee", "start_time", "direction"], "cdr")
    is_in = pc.fill_null(pc.equal(cdr.column("direction"), "in"), False)
    if not pc.any(is_in).as_py():
        return cdr
    key = ["caller", "callee", "start_time"]
    outs = cdr.filter(pc.invert(is_in)).select(key).group_by(key).aggregate([])
    outs = outs.append_column("_mirror", pa.array(np.ones(outs.num_rows, dtype=bool)))
    ins = cdr.filter(is_in)
    ins = ins.append_column("_pos", pa.array(np.arange(ins.num_rows, dtype=np.int64)))
    joined = ins.select([*key, "_pos"]).join(outs, keys=key, join_type="left outer")
    mirrored = joined.filter(pc.is_valid(joined.column("_mirror"))).column("_pos")
    keep_in = pc.invert(pc.is_in(ins.column("_pos"), value_set=mirrored.combine_chunks() if mirrored.num_chunks else pa.array([], pa.int64())))
    return pa.concat_tables([cdr.filter(pc.invert(is_in)), ins.filter(keep_in).drop_columns(["_pos"])])


def merge_edges(tables: Iterable[pa.Table]) -> pa.Table:
    """Merge edge tables from disjoint CDR partitions into one.

    Parameters
    ----------
    tables : iterable of pyarrow.Table
        Outputs of :func:`aggregate_edges` (or of earlier merges) computed
        with the same ``period``.

    Returns
    -------
    pyarrow.Table
        ``CALL_EDGES`` with counts and durations summed, the earliest first
        contact and the latest last contact of each (period, caller, callee).
    """
    tables = list(tables)
    if not tables:
        return CALL_EDGES.empty_table()
    for i, t in enumerate(tables):
        require_columns(t, CALL_EDGES.names, f"tables[{i}]")
    return _reduce(pa.concat_tables([t.select(CALL_EDGES.names).cast(CALL_EDGES) for t in tables]))


def _reduce(unit: pa.Table) -> pa.Table:
    if unit.num_rows == 0:
        return CALL_EDGES.empty_table()
    # Grouping on integer codes is several times faster than on 64-char hex strings.
    vocab = pc.unique(pa.chunked_array(unit.column("caller").chunks + unit.column("callee").chunks, pa.string()))
    keyed = pa.table(
        {
            "period": pc.cast(unit.column("period"), pa.int64()),
            "src": pc.index_in(unit.column("caller"), value_set=vocab),
            "dst": pc.index_in(unit.column("callee"), value_set=vocab),
            **{c: unit.column(c) for c in _SUM_COLUMNS},
            "first_contact": pc.cast(unit.column("first_contact"), pa.int64()),
            "last_contact": pc.cast(unit.column("last_contact"), pa.int64()),
        }
    )
    grouped = keyed.group_by(["period", "src", "dst"], use_threads=True).aggregate(
        [(c, "sum") for c in _SUM_COLUMNS] + [("first_contact", "min"), ("last_contact", "max")]
    )
    out = pa.table(
        {
            "period": grouped.column("period").cast(UTC_TS),
            "caller": pc.take(vocab, grouped.column("src")),
            "callee": pc.take(vocab, grouped.column("dst")),
            **{c: grouped.column(f"{c}_sum") for c in _SUM_COLUMNS},
            "first_contact": grouped.column("first_contact_min").cast(UTC_TS),
            "last_contact": grouped.column("last_contact_max").cast(UTC_TS),
        }
    ).cast(CALL_EDGES)
    order = pc.sort_indices(out, sort_keys=[("period", "ascending"), ("caller", "ascending"), ("callee", "ascending")])
    return out.take(order)
