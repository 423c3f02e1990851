"""Seeded synthetic CDRs for tests and benchmarks: planted groups and power-law contact networks.

The full synthetic world with planted burners, swaps and rings lives in
``jobs/synth``; these generators only make call graphs whose community
structure is known, quickly and at any size. :func:`silver_from_synth` turns
a ``jobs.synth`` world into the silver and truth tables its ingestion makes
(pseudonymised), for tests and benchmarks that do not run the ingestion.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jobs.schemas import UTC_TS

_EPOCH_2024_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z


def phone_ids(n: int, *, seed: int = 0, width: int = 64) -> pa.Array:
    """``n`` distinct pseudonymous phone ids (lower-case hex, ``width`` chars) like silver's HMACs."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2**63, size=(n, (width + 15) // 16), dtype=np.int64)
    ids = ["".join(f"{int(v):016x}" for v in row)[:width] for row in raw]
    if len(set(ids)) != n:
        raise RuntimeError("phone id collision; use another seed")
    return pa.array(ids, pa.string())


def _cdr_table(phones: pa.Array, src: np.ndarray, dst: np.ndarray, t_us: np.ndarray, rng: np.random.Generator) -> pa.Table:
    n = len(src)
    is_sms = rng.random(n) < 0.3
    dur = np.where(is_sms, 0, rng.exponential(90.0, n).astype(np.int32) + 1).astype(np.int32)
    kind = pa.DictionaryArray.from_arrays(pa.array(is_sms.astype(np.int8)), pa.array(["voice", "sms"])).cast(pa.string())
    return pa.table(
        {
            "event_id": pa.array(np.char.add("e", np.arange(n).astype(str)) if n <= 2_000_000 else np.arange(n).astype(str)),
            "caller": phones.take(pa.array(src)),
            "callee": phones.take(pa.array(dst)),
            "start_time": pa.array(t_us, pa.int64()).cast(UTC_TS),
            "duration_s": pa.array(dur, pa.int32()),
            "kind": kind,
            "direction": pa.array(np.full(n, "out", dtype=object), pa.string()),
        }
    )


def planted_partition_cdr(
    *,
    n_groups: int = 10,
    group_size: int = 30,
    events_per_phone: int = 40,
    p_out: float = 0.05,
    days: int = 7,
    seed: int = 0,
) -> tuple[pa.Table, dict[str, int]]:
    """CDRs of phones in planted groups: each event stays in the caller's group with probability ``1 - p_out``.

    Returns the CDR table and the truth ``{phone: group}``.

    Notes
    -----
    The planted partition (stochastic block) model of Condon & Karp (2001).
    """
    if n_groups < 1 or group_size < 2:
        raise ValueError("need n_groups >= 1 and group_size >= 2")
    if not 0 <= p_out < 1:
        raise ValueError(f"p_out must be in [0, 1), got {p_out}")
    rng = np.random.default_rng(seed)
    n = n_groups * group_size
    phones = phone_ids(n, seed=seed)
    group = np.repeat(np.arange(n_groups), group_size)
    src = np.repeat(np.arange(n), events_per_phone)
    out = rng.random(len(src)) < p_out
    same = group[src] * group_size + rng.integers(0, group_size, len(src))
    dst = np.where(out, rng.integers(0, n, len(src)), same)
    keep = dst != src
    src, dst = src[keep], dst[keep]
    t = _EPOCH_2024_US + rng.integers(0, days * 86_400_000_000, len(src))
    return _cdr_table(phones, src, dst, t, rng), dict(zip(phones.to_pylist(), group.tolist()))


def power_law_cdr(
    n_rows: int, *, n_phones: int | None = None, exponent: float = 2.1, n_groups: int | None = None, p_in: float = 0.7,
    days: int = 28, seed: int = 0,
) -> pa.Table:
    """``n_rows`` CDRs on a heavy-tailed contact network, for benchmarks.

    Callers are drawn with Zipf-like activity (degree exponent ``exponent``);
    with probability ``p_in`` the callee is in the caller's group (groups of
    about 50 phones), else anywhere with the same heavy-tailed popularity.
    """
    rng = np.random.default_rng(seed)
    n_phones, n_groups = _power_law_sizes(n_rows, n_phones, n_groups)
    w = (np.arange(1, n_phones + 1, dtype=float)) ** (-1.0 / (exponent - 1.0))
    w /= w.sum()
    perm = rng.permutation(n_phones)  # popularity independent of group
    cdf = np.cumsum(w)
    src = perm[np.minimum(np.searchsorted(cdf, rng.random(n_rows)), n_phones - 1)]
    far = perm[np.minimum(np.searchsorted(cdf, rng.random(n_rows)), n_phones - 1)]
    group_of = np.arange(n_phones) % n_groups
    members = np.argsort(group_of, kind="stable")
    starts = np.searchsorted(group_of[members], np.arange(n_groups))
    sizes = np.bincount(group_of, minlength=n_groups)
    g = group_of[src]
    near = members[starts[g] + (rng.random(n_rows) * sizes[g]).astype(np.int64)]
    dst = np.where(rng.random(n_rows) < p_in, near, far)
    dst = np.where(dst == src, (dst + 1) % n_phones, dst)
    t = _EPOCH_2024_US + rng.integers(0, days * 86_400_000_000, n_rows)
    return _cdr_table(phone_ids(n_phones, seed=seed + 1), src, dst, t, rng)


def _power_law_sizes(n_rows: int, n_phones: int | None, n_groups: int | None) -> tuple[int, int]:
    n_phones = n_phones or max(1000, n_rows // 25)
    return n_phones, n_groups or max(1, n_phones // 50)


def power_law_groups(n_rows: int, *, n_phones: int | None = None, n_groups: int | None = None, seed: int = 0) -> dict[str, int]:
    """The planted groups ``{phone: group}`` of :func:`power_law_cdr` called with the same arguments."""
    n_phones, n_groups = _power_law_sizes(n_rows, n_phones, n_groups)
    return dict(zip(phone_ids(n_phones, seed=seed + 1).to_pylist(), (np.arange(n_phones) % n_groups).tolist()))


#: Identifier columns of the synthetic truth tables and their pseudonym kinds (as silver's).
TRUTH_IDENTIFIERS: dict[str, str] = {
    "msisdn": "phone", "owner_msisdn": "phone", "imsi": "imsi", "imei": "imei",
    "account": "account", "from_account": "account", "to_account": "account",
}
_CDR_NAMES = {"record_id": "event_id", "a_number": "caller", "b_number": "callee", "event_type": "kind", "cgi": "cell_id"}


def silver_from_synth(feeds, *, key: bytes, source: str = "synthetic") -> dict[str, pa.Table]:
    """Silver-shaped ``cdr_events``, ``transactions`` and ``cell_sites`` plus ``truth/<name>`` tables of a synthetic world.

    What the ingestion of the synthetic feeds produces, without the files:
    the raw columns renamed to :mod:`jobs.schemas`, identifiers pseudonymised
    with ``key`` (use ``jobs.ingest.pseudonymise.DEMO_KEY`` for the demo) and
    the truth tables' identifier columns pseudonymised with the same key and
    kinds, so that truth joins with silver.

    Parameters
    ----------
    feeds : jobs.synth.settings.SynthFeeds
        Output of ``jobs.synth.generate``.
    key : bytes
        Pseudonymisation key.
    source : str
        Value of the lineage column ``source``.

    Returns
    -------
    dict
        ``cdr_events``, ``transactions``, ``cell_sites`` (schemas of
        ``jobs.schemas``) and ``truth_<name>`` for every truth table.
    """
    import shapely

    from jobs.ingest.pseudonymise import pseudonymise, pseudonymise_columns
    from jobs.schemas import CDR_EVENTS, CELL_SITES, PSEUDONYMISED, TRANSACTIONS

    def lineage(t: pa.Table, name: str) -> pa.Table:
        n = t.num_rows
        return (t.append_column("source", pa.array([source] * n, pa.string()))
                .append_column("ingest_id", pa.array([f"{source}:{name}"] * n, pa.string()))
                .append_column("source_file", pa.array([f"{name}.synthetic"] * n, pa.string()))
                .append_column("source_row", pa.array(np.arange(n, dtype=np.int64))))

    def shaped(t: pa.Table, schema: pa.Schema) -> pa.Table:
        cols = [t[f.name].cast(f.type) if f.name in t.column_names else pa.nulls(t.num_rows, f.type) for f in schema]
        return pa.Table.from_arrays(cols, schema=schema)

    cdr = feeds.cdr_events.rename_columns([_CDR_NAMES.get(c, c) for c in feeds.cdr_events.column_names])
    cdr = pseudonymise_columns(cdr, PSEUDONYMISED["cdr_events"], key=key)
    tx = feeds.transactions.rename_columns(["occurred_at" if c == "booked_at" else c for c in feeds.transactions.column_names])
    tx = pseudonymise_columns(tx, PSEUDONYMISED["transactions"], key=key)
    cells = feeds.cell_sites.rename_columns(["geometry" if c == "sector_wkb" else c for c in feeds.cell_sites.column_names])
    if "geometry" in cells.column_names and pa.types.is_string(cells["geometry"].type):
        cells = cells.set_column(cells.column_names.index("geometry"), "geometry",
                                 pa.array(shapely.to_wkb(shapely.from_wkt(cells["geometry"].to_numpy(zero_copy_only=False))), pa.binary()))
    out = {
        "cdr_events": shaped(lineage(cdr, "cdr_events"), CDR_EVENTS),
        "transactions": shaped(lineage(tx, "transactions"), TRANSACTIONS),
        "cell_sites": shaped(lineage(cells, "cell_sites"), CELL_SITES),
    }
    for name, table in feeds.truth().items():
        for column, kind in TRUTH_IDENTIFIERS.items():
            if column in table.column_names:
                i = table.column_names.index(column)
                table = table.set_column(i, column, pseudonymise(table[column], key=key, kind=kind))
        out[f"truth_{name}"] = table
    return out
