"""Vectorised Arrow helpers shared by the fusion kernels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.schemas import UTC_TS


def combined(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def entity_ref(kind: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``<kind>:<value>`` entity ids; null and empty values stay null."""
    values = combined(values).cast(pa.string())
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    return pc.binary_join_element_wise(pa.scalar(f"{kind}:"), values, "")


def list_of(n: int, parts: Sequence[tuple[str, pa.Array | pa.ChunkedArray]]) -> pa.ListArray:
    """Per row, the non-null entity ids of several columns (scalar or list), in column order, distinct.

    ``parts`` are ``(kind, column)`` pairs; list columns contribute each element.
    """
    rows, values = [], []
    for kind, column in parts:
        column = combined(column)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            rows.append(pc.list_parent_indices(column).to_numpy().astype(np.int64))
            values.append(entity_ref(kind, pc.list_flatten(column)))
        else:
            rows.append(np.arange(len(column), dtype=np.int64))
            values.append(entity_ref(kind, column))
    if not parts:
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string()))
    row = np.concatenate(rows)
    value = pa.concat_arrays([v.cast(pa.string()) for v in values])
    keep = pc.is_valid(value).to_numpy(zero_copy_only=False)
    row, value = row[keep], value.filter(pa.array(keep))
    order = np.argsort(row, kind="stable")
    row, value = row[order], value.take(pa.array(order))
    # drop repeats within a row (a caller who is also the callee, a mention of oneself)
    if len(row):
        codes = pc.dictionary_encode(value).indices.to_numpy().astype(np.int64)
        key = row * (int(codes.max()) + 1) + codes
        _, first = np.unique(key, return_index=True)
        first.sort()
        row, value = row[first], value.take(pa.array(first))
    counts = np.bincount(row, minlength=n) if len(row) else np.zeros(n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), value)


def ts_us(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (UTC)."""
    return combined(column).cast(UTC_TS).cast(pa.int64()).to_numpy(zero_copy_only=False)


def us_ts(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(UTC_TS)


def require(table: pa.Table | None, columns: Sequence[str], name: str) -> None:
    if table is None:
        return
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}; it has {', '.join(table.column_names)}")
