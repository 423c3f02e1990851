"""Order-free digests of key multisets: two tables hold the same keys when their tallies are equal.

A tally is ``(count, digest)``: the number of keys and the sum of their 64-bit
hashes modulo 2**64. It is additive, so it can be kept up to date from a
table's change feed (inserted keys add, deleted keys subtract) instead of
rescanning the table; a key present twice, or missing, changes the digest.

Notes
-----
The digest is MSet-Add-Hash: D. Clarke, S. Devadas, M. van Dijk, B. Gassend,
G. E. Suh, "Incremental Multiset Hash Functions and Their Application to
Memory Integrity Checking", ASIACRYPT 2003. Keys are hashed with SipHash-2-4
under a fixed key (``pandas.util.hash_array``), so digests are stable across
processes and versions. Two different multisets of n keys collide with
probability about 2**-64.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: The hash key (16 bytes); changing it changes every stored digest.
HASH_KEY = "crimefusion-tal1"


def key_hashes(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """SipHash-2-4 of each key (as text), uint64; nulls hash like the empty string."""
    from pandas.util import hash_array

    values = pc.fill_null(keys.cast(pa.string()), "").to_numpy(zero_copy_only=False)
    if not len(values):
        return np.zeros(0, np.uint64)
    return hash_array(np.asarray(values, dtype=object), hash_key=HASH_KEY, categorize=False)


def tally(keys: pa.Array | pa.ChunkedArray, signs: np.ndarray | None = None) -> tuple[int, int]:
    """``(count, digest)`` of ``keys``; ``signs`` (+1 / -1 per key) subtracts keys that left.

    The digest is returned as a signed 64-bit integer (the same bits as the
    unsigned sum), so it can be stored in an ``int64`` column.
    """
    h = key_hashes(keys)
    if signs is None:
        return len(h), int(np.sum(h, dtype=np.uint64).view(np.int64))
    signs = np.asarray(signs)
    if len(signs) != len(h):
        raise ValueError(f"tally: {len(signs)} signs for {len(h)} keys")
    plus, minus = np.sum(h[signs > 0], dtype=np.uint64), np.sum(h[signs < 0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        digest = np.uint64(plus) - np.uint64(minus)
    return int(np.sum(signs > 0) - np.sum(signs < 0)), int(np.array([digest], np.uint64).view(np.int64)[0])


def combine(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """The tally of two multisets together (counts add, digests add modulo 2**64)."""
    digest = np.array([a[1], b[1]], np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        total = np.sum(digest, dtype=np.uint64)
    return a[0] + b[0], int(np.array([total], np.uint64).view(np.int64)[0])


#: Sign of each Delta change type in a change feed: rows a commit added count +1, rows it removed -1.
CHANGE_SIGNS = {"insert": 1, "update_postimage": 1, "delete": -1, "update_preimage": -1}


def change_signs(change_types: pa.Array | pa.ChunkedArray) -> pa.Array:
    """+1 / -1 per row of a change feed's ``_change_type`` column (:data:`CHANGE_SIGNS`), int64."""
    kinds = list(CHANGE_SIGNS)
    idx = pc.index_in(change_types, value_set=pa.array(kinds))
    return pa.array([CHANGE_SIGNS[k] for k in kinds], pa.int64()).take(idx)
