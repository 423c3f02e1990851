"""Fraud rings on the transaction graph: transfer cycles, fan-in/fan-out mules, account communities.

A ``TRANSACTIONS`` row with a ``counterparty`` is one side of a transfer of
``abs(amount)``: a ``debit`` row (or a row without ``direction``) moves money
from ``account`` to ``counterparty``, a ``credit`` row from ``counterparty``
to ``account``. A transfer between two accounts of the reporting bank is
booked twice (debit on the payer, credit on the payee) and is counted once
(see :func:`transfers`). Patterns found here are joined into rings: patterns
that share a core account (a cycle's accounts, a fan pattern's hub) form one
ring.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence

import igraph as ig
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.inputs import require_columns, to_timedelta
from jobs.links.graph import leiden_membership
from jobs.links.queries import DurationLike
from jobs.links.schemas import FRAUD_RINGS


def transfers(txns: pa.Table, *, channels: Sequence[str] | None = ("transfer",)) -> pd.DataFrame:
    """Account-to-account transfers as a pandas frame sorted by time, each transfer once.

    Parameters
    ----------
    txns : pyarrow.Table
        ``TRANSACTIONS`` rows. With a ``direction`` column (silver has one),
        ``credit`` rows are money received: the payer is ``counterparty`` and
        the payee ``account``; ``debit`` rows and rows with a missing
        direction are money sent from ``account`` to ``counterparty``.
    channels : sequence of str or None
        Channels counted as transfers (None: every row with a counterparty).

    Returns
    -------
    pandas.DataFrame
        Columns ``txn_id``, ``src`` (payer), ``dst`` (payee), ``amount``
        (absolute), ``at`` (UTC) and ``t`` (microseconds since the epoch).

    Notes
    -----
    A transfer between two customers of the same bank appears in its ledger
    twice, as the payer's debit and the payee's credit, with the same payer,
    payee, time and amount. Reading only debits loses every transfer from
    another bank (the fan-in of a mule account: its payers are victims
    elsewhere); reading both rows counts internal transfers twice. So both
    are read and a credit row is dropped when it mirrors a debit row of the
    same (payer, payee, time, amount in cents); the n-th mirrored credit of
    a key pairs with the n-th debit, so two real identical transfers stay two.
    """
    require_columns(txns, ["txn_id", "account", "counterparty", "amount", "occurred_at", "channel"], "txns")
    if isinstance(channels, str):
        raise TypeError("channels must be a sequence of channel names, e.g. ('transfer',)")
    mask = pc.is_valid(txns.column("counterparty"))
    if channels is not None:
        mask = pc.and_(mask, pc.is_in(txns.column("channel"), value_set=pa.array(list(channels), pa.string())))
    sub = txns.filter(pc.fill_null(mask, False))
    account = sub.column("account").to_pandas()
    counterparty = sub.column("counterparty").to_pandas()
    if "direction" in sub.column_names:
        credit = np.asarray(pc.fill_null(pc.equal(sub.column("direction"), "credit"), False).to_numpy(zero_copy_only=False), dtype=bool)
    else:
        credit = np.zeros(sub.num_rows, dtype=bool)
    df = pd.DataFrame(
        {
            "txn_id": sub.column("txn_id").to_pandas(),
            "src": np.where(credit, counterparty, account),
            "dst": np.where(credit, account, counterparty),
            "amount": np.abs(sub.column("amount").to_numpy(zero_copy_only=False).astype(float)),
            "at": sub.column("occurred_at").to_pandas(),
        }
    )
    df = df[df["src"] != df["dst"]]
    df["t"] = pd.to_datetime(df["at"], utc=True).dt.as_unit("us").astype("int64")
    if credit.any():
        is_credit = pd.Series(credit, index=range(len(credit))).loc[df.index].to_numpy()
        key = [df["src"], df["dst"], df["t"], np.round(df["amount"] * 100).astype(np.int64)]
        n_debits = pd.Series(~is_credit, index=df.index).groupby(key).transform("sum").to_numpy()
        nth_credit = pd.Series(is_credit.astype(np.int64), index=df.index).groupby(key).cumsum().to_numpy()
        df = df[~is_credit | (nth_credit > n_debits)]
    return df.sort_values(["t", "txn_id"], kind="stable").reset_index(drop=True)


def find_cycles(
    txns: pa.Table,
    *,
    max_length: int = 5,
    min_length: int = 2,
    window: DurationLike = "7D",
    amount_tolerance: float = 0.2,
    channels: Sequence[str] | None = ("transfer",),
    limit: int = 100_000,
) -> pd.DataFrame:
    """Time-ordered transfer cycles with roughly conserved amounts.

    Parameters
    ----------
    txns : pyarrow.Table
        ``TRANSACTIONS`` rows.
    max_length, min_length : int
        Cycle length bounds, in transfers (2 = A -> B -> A).
    window : duration
        The last transfer is at most this long after the first.
    amount_tolerance : float
        Each hop's amount lies within ``(1 ± amount_tolerance)`` times the
        previous hop's (fees and skims shrink the amount a little).
    channels : sequence of str or None
        Channels counted as transfers (None: every row with a counterparty).
    limit : int
        Stop after this many cycles.

    Returns
    -------
    pandas.DataFrame
        ``accounts`` (list, first payer first), ``txn_ids``, ``amounts``,
        ``times``, ``length``; each cycle once, found from its first transfer.

    Notes
    -----
    Bounded depth-first search over time-respecting paths (temporal cycles,
    Kumar & Calders, 2018, "2SCENT: an efficient algorithm for enumerating
    all simple temporal cycles", VLDB 11(11)); every hop starts strictly after
    the previous one and no account repeats except the closing one.
    """
    if min_length < 2 or max_length < min_length:
        raise ValueError(f"need 2 <= min_length <= max_length, got {min_length}, {max_length}")
    if not 0 <= amount_tolerance < 1:
        raise ValueError(f"amount_tolerance must be in [0, 1), got {amount_tolerance}")
    win = to_timedelta(window, "window").value // 1000
    df = transfers(txns, channels=channels)
    out_by: dict[str, tuple[np.ndarray, list, np.ndarray, list]] = {}
    for src, g in df.groupby("src", sort=False):
        out_by[src] = (g["t"].to_numpy(), g["dst"].tolist(), g["amount"].to_numpy(), g["txn_id"].tolist())
    found: list[dict] = []
    lo_f, hi_f = 1 - amount_tolerance, 1 + amount_tolerance

    def dfs(path: list[str], hops: list[tuple[int, float, str]], t_end: int) -> None:
        if len(found) >= limit:
            return
        ts, dsts, amts, ids = out_by.get(path[-1], (None, None, None, None))
        if ts is None:
            return
        t_prev, a_prev, _ = hops[-1]
        lo = np.searchsorted(ts, t_prev, side="right")
        hi = np.searchsorted(ts, t_end, side="right")
        for j in range(lo, hi):
            a = amts[j]
            if not (lo_f * a_prev <= a <= hi_f * a_prev):
                continue
            nxt = dsts[j]
            if nxt == path[0]:
                if len(hops) + 1 >= min_length:
                    hs = [*hops, (int(ts[j]), float(a), ids[j])]
                    found.append(
                        {
                            "accounts": list(path),
                            "txn_ids": [h[2] for h in hs],
                            "amounts": [h[1] for h in hs],
                            "times": [pd.Timestamp(h[0], unit="us", tz="UTC") for h in hs],
                            "length": len(hs),
                        }
                    )
                continue
            if nxt in path or len(hops) + 1 >= max_length:
                continue
            path.append(nxt)
            hops.append((int(ts[j]), float(a), ids[j]))
            dfs(path, hops, t_end)
            path.pop()
            hops.pop()

    for row in df.itertuples(index=False):
        if len(found) >= limit:
            break
        dfs([row.src, row.dst], [(int(row.t), float(row.amount), row.txn_id)], int(row.t) + win)
    return pd.DataFrame(found, columns=["accounts", "txn_ids", "amounts", "times", "length"])


def find_fan_patterns(
    txns: pa.Table,
    *,
    min_degree: int = 5,
    window: DurationLike = "3D",
    hold: DurationLike = "2D",
    pass_through: float = 0.8,
    channels: Sequence[str] | None = ("transfer",),
) -> pd.DataFrame:
    """Fan-in and fan-out hubs, and mules that pass the money on.

    Parameters
    ----------
    txns : pyarrow.Table
        ``TRANSACTIONS`` rows.
    min_degree : int
        Distinct senders (fan-in) or receivers (fan-out) within ``window``.
    window : duration
        Sliding window anchored at each transfer of the hub.
    hold : duration
        How long after a fan-in window (before a fan-out window) the
        matching outflow (inflow) is looked for.
    pass_through : float
        A fan hub is a ``mule`` when it moves on at least this share of the
        money it collected (or collected at least this share of what it
        paid out).
    channels : sequence of str or None
        Channels counted as transfers.

    Returns
    -------
    pandas.DataFrame
        One row per hub and direction, for its best window: a window that
        passes the money on (a mule window) if there is one, else the one
        with most counterparties (ties: higher pass-through):
        ``hub``, ``pattern`` (``mule``, ``fan_in`` or ``fan_out``),
        ``direction`` (``in``/``out``), ``counterparties`` (list), ``onward``
        (where a fan-in hub sent money on, or where a fan-out hub's money came from),
        ``txn_ids``, ``amount_in``, ``amount_out``, ``ratio``, ``first_at``,
        ``last_at``.

    Notes
    -----
    Fan-in/fan-out and pass-through are the money-mule typologies of the
    FATF/Egmont reports on trade-based and mule laundering; the sliding
    window is the "smurfing" detector of Weber et al. (2018, "Scalable graph
    learning for anti-money laundering", arXiv:1812.00076).
    """
    if min_degree < 2:
        raise ValueError(f"min_degree must be >= 2, got {min_degree}")
    if not 0 < pass_through <= 1:
        raise ValueError(f"pass_through must be in (0, 1], got {pass_through}")
    win = to_timedelta(window, "window").value // 1000
    hold_us = to_timedelta(hold, "hold").value // 1000
    df = transfers(txns, channels=channels)
    rows = []
    inflow = {k: g for k, g in df.groupby("dst", sort=True)}
    outflow = {k: g for k, g in df.groupby("src", sort=True)}
    for direction, flows, other, other_col in (("in", inflow, outflow, "src"), ("out", outflow, inflow, "dst")):
        for hub, g in flows.items():
            if g[other_col].nunique() < min_degree:
                continue
            t = g["t"].to_numpy()
            cps = g[other_col].to_numpy()
            cum = np.concatenate([[0.0], np.cumsum(g["amount"].to_numpy())])
            o = other.get(hub)
            o_t = o["t"].to_numpy() if o is not None else np.zeros(0, np.int64)
            o_cum = np.concatenate([[0.0], np.cumsum(o["amount"].to_numpy())]) if o is not None else np.zeros(1)
            # Score every window with enough counterparties; a window that passes the
            # money on beats one that does not, then more counterparties, then a higher
            # pass-through. Taking only the widest window let an unrelated credit in it
            # (a salary two days before the burst) dilute a mule's pass-through below
            # the threshold.
            best = None
            for i in range(len(t)):
                j = int(np.searchsorted(t, t[i] + win, side="right"))
                n = len(set(cps[i:j]))
                if n < min_degree:
                    continue
                w0, w1 = int(t[i]), int(t[j - 1])
                lo, hi = (w0, w1 + hold_us) if direction == "in" else (w0 - hold_us, w1)
                a_here = float(cum[j] - cum[i])
                a_there = float(o_cum[np.searchsorted(o_t, hi, side="right")] - o_cum[np.searchsorted(o_t, lo, side="left")])
                ratio = a_there / a_here if a_here else 0.0
                rank = (ratio >= pass_through, n, ratio)
                if best is None or rank > best[0]:
                    best = (rank, i, j, lo, hi, a_here, a_there, ratio)
            if best is None:
                continue
            _, i, j, lo, hi, a_here, a_there, ratio = best
            w = g.iloc[i:j]
            o_w = o[(o["t"] >= lo) & (o["t"] <= hi)] if o is not None else df.iloc[:0]
            a_in, a_out = (a_here, a_there) if direction == "in" else (a_there, a_here)
            both = pd.concat([w, o_w]).sort_values("t")
            rows.append(
                {
                    "hub": hub,
                    "pattern": "mule" if ratio >= pass_through else f"fan_{direction}",
                    "direction": direction,
                    "counterparties": sorted(set(w[other_col])),
                    "onward": sorted(set(o_w["dst" if direction == "in" else "src"])),
                    "txn_ids": both["txn_id"].tolist(),
                    "amount_in": a_in,
                    "amount_out": a_out,
                    "ratio": ratio,
                    "first_at": both["at"].min(),
                    "last_at": both["at"].max(),
                }
            )
    cols = ["hub", "pattern", "direction", "counterparties", "onward", "txn_ids", "amount_in", "amount_out", "ratio", "first_at", "last_at"]
    return pd.DataFrame(rows, columns=cols)


def account_communities(
    txns: pa.Table, *, seed: int = 0, resolution: float = 1.0, channels: Sequence[str] | None = ("transfer",)
) -> pa.Table:
    """Leiden communities of accounts on the transfer graph (weights: summed amounts).

    Returns ``account``, ``community``, ``size``; see
    :func:`jobs.links.graph.leiden_membership` for the method.
    """
    df = transfers(txns, channels=channels)
    schema = pa.schema([("account", pa.string()), ("community", pa.int64()), ("size", pa.int64())])
    if df.empty:
        return schema.empty_table()
    names = np.unique(np.concatenate([df["src"].to_numpy(dtype=str), df["dst"].to_numpy(dtype=str)]))
    idx = {n: i for i, n in enumerate(names)}
    e = df.groupby(["src", "dst"], sort=True)["amount"].sum().reset_index()
    g = ig.Graph(n=len(names), edges=[(idx[a], idx[b]) for a, b in zip(e["src"], e["dst"])], directed=False)
    g.es["weight"] = e["amount"].tolist()
    g = g.simplify(combine_edges={"weight": "sum"})
    memb = leiden_membership(g, seed=seed, resolution=resolution)
    sizes = np.bincount(memb)
    return pa.table({"account": names.tolist(), "community": memb, "size": sizes[memb]}, schema=schema)


def _patterns(cycles: pd.DataFrame, fans: pd.DataFrame) -> list[dict]:
    """Cycles then fan patterns as ``{type, core, members, txn_ids, details}``; ``core`` accounts join rings."""
    patterns: list[dict] = []
    for c in cycles.itertuples(index=False):
        patterns.append(
            {
                "type": "cycle",
                "core": list(c.accounts),
                "members": list(c.accounts),
                "txn_ids": list(c.txn_ids),
                "details": {"length": int(c.length), "amounts": [round(a, 2) for a in c.amounts]},
            }
        )
    for f in fans.itertuples(index=False):
        patterns.append(
            {
                "type": f.pattern,
                "core": [f.hub],
                "members": [f.hub, *f.counterparties, *f.onward],
                "txn_ids": list(f.txn_ids),
                "details": {
                    "hub": f.hub,
                    "direction": f.direction,
                    "n_counterparties": len(f.counterparties),
                    "amount_in": round(f.amount_in, 2),
                    "amount_out": round(f.amount_out, 2),
                    "pass_through_ratio": round(f.ratio, 3),
                },
            }
        )
    return patterns


def _join_on_core(patterns: list[dict]) -> list[list[dict]]:
    """Patterns grouped by shared core accounts (union-find), in order of each group's first pattern."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in patterns:
        root = find(p["core"][0])
        for a in p["core"][1:]:
            parent[find(a)] = root
    groups: dict[str, list[dict]] = defaultdict(list)
    for p in patterns:
        groups[find(p["core"][0])].append(p)
    return list(groups.values())


def _ring_row(pats: list[dict], comm: pd.DataFrame, by_id: pd.DataFrame, params: dict) -> dict:
    """One ``FRAUD_RINGS`` row (without ``ring_id``) of the patterns of one ring.

    ``comm`` is :func:`account_communities` indexed by account, ``by_id`` the
    transfers indexed by ``txn_id``.
    """
    core = sorted({a for p in pats for a in p["core"]})
    members = sorted({a for p in pats for a in p["members"]})
    ids = sorted({t for p in pats for t in p["txn_ids"]})
    flows = by_id.loc[ids].sort_values("t")
    cc = Counter(int(comm.at[a, "community"]) for a in core if a in comm.index)
    community = cc.most_common(1)[0][0] if cc else None
    return {
        "patterns": [p["type"] for p in pats],
        "members": members,
        "core_members": core,
        "n_txns": len(ids),
        "total_amount": float(flows["amount"].sum()),
        "first_at": flows["at"].min(),
        "last_at": flows["at"].max(),
        "community": community,
        "flows": json.dumps(
            [
                {"txn_id": i, "from": r.src, "to": r.dst, "amount": round(float(r.amount), 2), "at": r.at.isoformat()}
                for i, r in zip(flows.index, flows.itertuples(index=False))
            ]
        ),
        "evidence": json.dumps(
            {
                "patterns": [{"type": p["type"], "accounts": p["core"], "txn_ids": p["txn_ids"], **p["details"]} for p in pats],
                "community_size": int(comm["size"][comm["community"] == community].iloc[0]) if community is not None else None,
                "core_in_community": sum(1 for a in core if a in comm.index and comm.at[a, "community"] == community),
                "parameters": params,
            }
        ),
    }


def fraud_rings(
    txns: pa.Table,
    *,
    max_cycle_length: int = 5,
    min_cycle_length: int = 2,
    cycle_window: DurationLike = "7D",
    amount_tolerance: float = 0.2,
    min_fan_degree: int = 5,
    fan_window: DurationLike = "3D",
    hold: DurationLike = "2D",
    pass_through: float = 0.8,
    include_plain_fans: bool = False,
    channels: Sequence[str] | None = ("transfer",),
    seed: int = 0,
) -> pa.Table:
    """Suspected fraud rings: cycles and mule patterns joined through shared core accounts.

    Parameters
    ----------
    txns : pyarrow.Table
        ``TRANSACTIONS`` rows.
    max_cycle_length, min_cycle_length, cycle_window, amount_tolerance
        See :func:`find_cycles` (``max_length``, ``min_length``...). On bank
        ledgers, 2-cycles are mostly a loan between friends paid back; use
        ``min_cycle_length=3`` to leave them out.
    min_fan_degree, fan_window, hold, pass_through
        See :func:`find_fan_patterns`.
    include_plain_fans : bool
        Also make rings of fan-in/fan-out hubs that do not pass money on
        (collection accounts, payroll... are common false positives).
    channels : sequence of str or None
        Channels counted as transfers.
    seed : int
        Seed of the account communities.

    Returns
    -------
    pyarrow.Table
        ``FRAUD_RINGS``: ring id, pattern names, members (every account in
        the ring's flows), core members (cycle accounts and hubs), number of
        transfers and their total, time span, the Leiden community most core
        members belong to, ``flows`` (JSON list of ``{txn_id, from, to,
        amount, at}``) and ``evidence`` (JSON: each pattern with its details,
        the community's size and the parameters used). Sorted by total amount.

    Notes
    -----
    Patterns are merged with union-find (Tarjan, 1975) on their core
    accounts; counterparties of a hub do not merge rings, so two hubs that
    share a victim stay apart.
    """
    tx = transfers(txns, channels=channels)
    cycles = find_cycles(
        txns, max_length=max_cycle_length, min_length=min_cycle_length, window=cycle_window,
        amount_tolerance=amount_tolerance, channels=channels,
    )
    fans = find_fan_patterns(
        txns, min_degree=min_fan_degree, window=fan_window, hold=hold, pass_through=pass_through, channels=channels
    )
    if not include_plain_fans:
        fans = fans[fans["pattern"] == "mule"]
    patterns = _patterns(cycles, fans)
    if not patterns:
        return FRAUD_RINGS.empty_table()
    comm = account_communities(txns, seed=seed, channels=channels).to_pandas().set_index("account")
    by_id = tx.set_index("txn_id")
    params = {
        "max_cycle_length": max_cycle_length,
        "min_cycle_length": min_cycle_length,
        "cycle_window": str(cycle_window),
        "amount_tolerance": amount_tolerance,
        "min_fan_degree": min_fan_degree,
        "fan_window": str(fan_window),
        "hold": str(hold),
        "pass_through": pass_through,
    }
    rows = [_ring_row(pats, comm, by_id, params) for pats in _join_on_core(patterns)]
    rows.sort(key=lambda r: (-r["total_amount"], r["core_members"]))
    for i, r in enumerate(rows):
        r["ring_id"] = i
    return pa.Table.from_pylist(rows, schema=FRAUD_RINGS)
