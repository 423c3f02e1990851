"""Investigator queries on CDRs: contacts, call chains, expansion, SIM/device swaps, silence, burners.

Every query takes the canonical ``CDR_EVENTS`` table (or a subset of its
columns) and returns an Arrow table. Contacts are undirected: a call or SMS
from A to B makes A and B contacts of each other.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.cdr import served_party
from jobs.links.inputs import require_columns, to_timedelta
from jobs.localtime import utc_timestamp
from jobs.links.schemas import BURNER_PHONES
from jobs.schemas import UTC_TS

TimeLike = dt.datetime | str | pd.Timestamp
DurationLike = dt.timedelta | str | pd.Timedelta


def _phone_list(phones: Sequence[str] | str, name: str) -> list[str]:
    if isinstance(phones, str):
        raise TypeError(f"{name} must be a list of phone numbers, not one string")
    out = list(dict.fromkeys(str(p) for p in phones))
    if not out:
        raise ValueError(f"{name} is empty: give at least one phone number")
    return out


def _contact_rows(
    cdr: pa.Table, start: TimeLike | None, end: TimeLike | None, kinds: Sequence[str] = ("voice", "sms")
) -> pd.DataFrame:
    require_columns(cdr, ["caller", "callee", "start_time", "kind"], "cdr")
    mask = pc.and_(pc.is_valid(cdr.column("callee")), pc.is_in(cdr.column("kind"), value_set=pa.array(list(kinds))))
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(cdr.column("start_time"), pa.scalar(utc_timestamp(start, "start"), UTC_TS)))
    if end is not None:
        mask = pc.and_(mask, pc.less_equal(cdr.column("start_time"), pa.scalar(utc_timestamp(end, "end"), UTC_TS)))
    cols = ["caller", "callee", "start_time"] + [c for c in ("event_id", "duration_s") if c in cdr.column_names]
    df = cdr.filter(pc.fill_null(mask, False)).select(cols).to_pandas()
    return df[df["caller"] != df["callee"]]


def _undirected_counts(df: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat(
        [
            df[["caller", "callee"]].set_axis(["phone", "contact"], axis=1),
            df[["callee", "caller"]].set_axis(["phone", "contact"], axis=1),
        ],
        ignore_index=True,
    )
    return both.groupby(["phone", "contact"], sort=True).size().rename("n_events").reset_index()


def common_contacts(
    cdr: pa.Table,
    numbers: Sequence[str],
    *,
    min_shared: int | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pa.Table:
    """Phones in contact with several of the given numbers.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows (calls and SMS are used).
    numbers : sequence of str
        The numbers under investigation.
    min_shared : int or None
        Minimum number of ``numbers`` a contact must have been in touch with;
        default all of them (at least 2 when several numbers are given).
    start, end : datetime or str, optional
        Time window (inclusive) of the events considered.

    Returns
    -------
    pyarrow.Table
        ``contact``, ``n_shared`` (how many of ``numbers``), ``shared_with``
        (list), ``n_events`` (with those numbers), sorted by ``n_shared`` then
        ``n_events`` descending. The query numbers themselves are not listed.
    """
    nums = _phone_list(numbers, "numbers")
    k = len(nums) if min_shared is None else int(min_shared)
    if k < 1 or k > len(nums):
        raise ValueError(f"min_shared must be between 1 and {len(nums)}, got {min_shared}")
    counts = _undirected_counts(_contact_rows(cdr, start, end))
    counts = counts[counts["phone"].isin(nums) & ~counts["contact"].isin(nums)]
    agg = (
        counts.groupby("contact", sort=True)
        .agg(n_shared=("phone", "nunique"), shared_with=("phone", lambda s: sorted(s)), n_events=("n_events", "sum"))
        .reset_index()
    )
    agg = agg[agg["n_shared"] >= k].sort_values(["n_shared", "n_events", "contact"], ascending=[False, False, True])
    schema = pa.schema(
        [("contact", pa.string()), ("n_shared", pa.int64()), ("shared_with", pa.list_(pa.string())), ("n_events", pa.int64())]
    )
    return pa.Table.from_pandas(agg, schema=schema, preserve_index=False)


def contact_expansion(
    cdr: pa.Table,
    seeds: Sequence[str],
    *,
    depth: int = 2,
    min_events: int = 1,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pa.Table:
    """Contacts of the seed numbers out to ``depth`` degrees (breadth-first).

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows.
    seeds : sequence of str
        Starting numbers (degree 0).
    depth : int
        Largest degree to expand to (2 = contacts of contacts).
    min_events : int
        A pair counts as a contact when it has at least this many events.
    start, end : datetime or str, optional
        Time window (inclusive).

    Returns
    -------
    pyarrow.Table
        ``phone``, ``degree`` (0 for seeds), ``via`` (phones of the previous
        degree it is in contact with), ``n_events`` (with those phones).
    """
    seeds = _phone_list(seeds, "seeds")
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    counts = _undirected_counts(_contact_rows(cdr, start, end))
    counts = counts[counts["n_events"] >= max(1, int(min_events))]
    adj: dict[str, dict[str, int]] = defaultdict(dict)
    for p, c, n in counts.itertuples(index=False):
        adj[p][c] = int(n)
    rows = [(s, 0, [], 0) for s in sorted(seeds)]
    seen = set(seeds)
    frontier = sorted(seeds)
    for d in range(1, depth + 1):
        found: dict[str, list[str]] = defaultdict(list)
        for p in frontier:
            for c in adj.get(p, ()):
                if c not in seen:
                    found[c].append(p)
        for c in sorted(found):
            via = sorted(found[c])
            rows.append((c, d, via, sum(adj[c][v] for v in via)))
        seen.update(found)
        frontier = sorted(found)
    schema = pa.schema([("phone", pa.string()), ("degree", pa.int64()), ("via", pa.list_(pa.string())), ("n_events", pa.int64())])
    return pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema)


def call_chains(
    cdr: pa.Table,
    source: str,
    *,
    window: DurationLike = "24h",
    max_hops: int = 3,
    min_hops: int = 2,
    start: TimeLike | None = None,
    target: str | None = None,
    max_gap: DurationLike | None = None,
    limit: int = 10_000,
) -> pa.Table:
    """Time-respecting call chains A -> B -> C ... starting at ``source``.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows (calls and SMS).
    source : str
        First caller of every chain.
    window : duration
        All hops fall within this time from the first hop.
    max_hops, min_hops : int
        Chain length bounds in calls.
    start : datetime, optional
        Only chains whose first hop is at or after this time.
    target : str, optional
        Keep only chains ending at this phone.
    max_gap : duration, optional
        Largest time between consecutive hops.
    limit : int
        Stop after this many chains (raise it for hub numbers).

    Returns
    -------
    pyarrow.Table
        ``chain_id``, ``n_hops``, ``phones`` (list, source first),
        ``event_ids`` (list), ``times`` (list of hop start times); each hop
        starts strictly later than the previous one; a phone appears at most
        once in a chain.

    Notes
    -----
    Depth-first enumeration of time-respecting paths in a temporal network
    (Holme & Saramäki, 2012, "Temporal networks", Phys. Rep. 519).
    """
    if max_hops < 1 or min_hops < 1 or min_hops > max_hops:
        raise ValueError(f"need 1 <= min_hops <= max_hops, got min_hops={min_hops}, max_hops={max_hops}")
    win = to_timedelta(window, "window").value // 1000
    gap = None if max_gap is None else to_timedelta(max_gap, "max_gap").value // 1000
    df = _contact_rows(cdr, start, None)
    if "event_id" not in df.columns:
        df["event_id"] = [f"row{i}" for i in range(len(df))]
    df["t"] = pd.to_datetime(df["start_time"], utc=True).dt.as_unit("us").astype("int64")
    df = df.sort_values(["t", "event_id"], kind="stable")
    out_by: dict[str, tuple[np.ndarray, list[str], list[str]]] = {}
    for caller, g in df.groupby("caller", sort=False):
        out_by[caller] = (g["t"].to_numpy(), g["callee"].tolist(), g["event_id"].tolist())
    chains: list[tuple[list[str], list[str], list[int]]] = []

    def extend(path: list[str], eids: list[str], times: list[int], t0: int) -> None:
        if len(chains) >= limit:
            return
        if len(eids) >= min_hops and (target is None or path[-1] == target):
            chains.append((list(path), list(eids), list(times)))
        if len(eids) == max_hops or path[-1] not in out_by:
            return
        ts, callees, ids = out_by[path[-1]]
        lo = np.searchsorted(ts, times[-1], side="right")
        hi_t = t0 + win if gap is None else min(t0 + win, times[-1] + gap)
        hi = np.searchsorted(ts, hi_t, side="right")
        for j in range(lo, hi):
            if callees[j] in path:
                continue
            path.append(callees[j]); eids.append(ids[j]); times.append(int(ts[j]))
            extend(path, eids, times, t0)
            path.pop(); eids.pop(); times.pop()

    if source in out_by:
        ts, callees, ids = out_by[source]
        for j in range(len(ts)):
            if len(chains) >= limit:
                break
            if callees[j] == source:
                continue
            extend([source, callees[j]], [ids[j]], [int(ts[j])], int(ts[j]))
    schema = pa.schema(
        [
            ("chain_id", pa.int64()),
            ("n_hops", pa.int64()),
            ("phones", pa.list_(pa.string())),
            ("event_ids", pa.list_(pa.string())),
            ("times", pa.list_(UTC_TS)),
        ]
    )
    return pa.table(
        {
            "chain_id": pa.array(np.arange(len(chains), dtype=np.int64)),
            "n_hops": pa.array([len(c[1]) for c in chains], pa.int64()),
            "phones": pa.array([c[0] for c in chains], pa.list_(pa.string())),
            "event_ids": pa.array([c[1] for c in chains], pa.list_(pa.string())),
            "times": pa.array([[pd.Timestamp(t, unit="us", tz="UTC") for t in c[2]] for c in chains], pa.list_(UTC_TS)),
        },
        schema=schema,
    )


def device_swaps(cdr: pa.Table, *, min_count: int = 2) -> pa.Table:
    """IMEI/IMSI swaps: one device with several SIMs, one SIM in several devices.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows with ``imei`` and ``imsi``.
    min_count : int
        Report a device (SIM) seen with at least this many SIMs (devices).

    Returns
    -------
    pyarrow.Table
        ``kind`` (``device_many_sims`` keyed by IMEI or ``sim_many_devices``
        keyed by IMSI), ``key``, ``n_distinct``, ``values`` (the other
        identifiers, in order of first use), ``phones`` (served numbers),
        ``first_seen``, ``last_seen``.
    """
    require_columns(cdr, ["caller", "start_time", "imei", "imsi"], "cdr")
    if min_count < 2:
        raise ValueError(f"min_count must be >= 2, got {min_count}")
    df = pd.DataFrame(
        {
            "phone": served_party(cdr).to_pandas(),
            "imei": cdr.column("imei").to_pandas(),
            "imsi": cdr.column("imsi").to_pandas(),
            "t": cdr.column("start_time").to_pandas(),
        }
    ).dropna(subset=["imei", "imsi"])
    rows = []
    for kind, key, other in (("device_many_sims", "imei", "imsi"), ("sim_many_devices", "imsi", "imei")):
        n = df.groupby(key)[other].nunique()
        hits = n[n >= min_count].index
        sub = df[df[key].isin(hits)].sort_values([key, "t"], kind="stable")
        for k, g in sub.groupby(key, sort=True):
            rows.append(
                {
                    "kind": kind,
                    "key": k,
                    "n_distinct": int(g[other].nunique()),
                    "values": list(dict.fromkeys(g[other])),
                    "phones": list(dict.fromkeys(g["phone"].dropna())),
                    "first_seen": g["t"].min(),
                    "last_seen": g["t"].max(),
                }
            )
    schema = pa.schema(
        [
            ("kind", pa.string()),
            ("key", pa.string()),
            ("n_distinct", pa.int64()),
            ("values", pa.list_(pa.string())),
            ("phones", pa.list_(pa.string())),
            ("first_seen", UTC_TS),
            ("last_seen", UTC_TS),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _activity(cdr: pa.Table) -> pd.DataFrame:
    """One row per (phone, event) for both parties of calls/SMS and the served party of data."""
    require_columns(cdr, ["caller", "callee", "start_time"], "cdr")
    t = cdr.column("start_time").to_pandas()
    caller = cdr.column("caller").to_pandas()
    callee = cdr.column("callee").to_pandas()
    return pd.concat(
        [pd.DataFrame({"phone": caller, "t": t}), pd.DataFrame({"phone": callee, "t": t}).dropna(subset=["phone"])],
        ignore_index=True,
    )


def silent_periods(
    cdr: pa.Table,
    *,
    incident_time: TimeLike,
    baseline: DurationLike = "7D",
    gap_before: DurationLike = "2h",
    gap_after: DurationLike = "2h",
    phones: Sequence[str] | None = None,
    min_expected: float = 3.0,
) -> pa.Table:
    """Phones that go dark around an incident.

    The baseline rate is the phone's events per hour in
    ``[incident - gap_before - baseline, incident - gap_before)``; the gap is
    ``[incident - gap_before, incident + gap_after]``.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows; a phone is active in a row as caller or callee.
    incident_time : datetime or str
        Time of the incident.
    baseline, gap_before, gap_after : duration
        Window lengths.
    phones : sequence of str, optional
        Restrict to these phones (default: every phone active in the baseline).
    min_expected : float
        Flag ``went_dark`` only when the baseline predicts at least this many
        events in the gap and none happened.

    Returns
    -------
    pyarrow.Table
        ``phone``, ``baseline_events``, ``rate_per_hour``, ``gap_events``,
        ``expected_gap_events``, ``p_value`` (Poisson probability of at most
        ``gap_events`` events), ``went_dark``, ``last_before``,
        ``first_after``, sorted by ``p_value``.

    Notes
    -----
    A Poisson model of call activity; a small ``p_value`` means the silence
    is unlikely under the phone's usual rate.
    """
    t0 = utc_timestamp(incident_time, "incident_time")
    base, gb, ga = to_timedelta(baseline, "baseline"), to_timedelta(gap_before, "gap_before"), to_timedelta(gap_after, "gap_after")
    if base <= pd.Timedelta(0):
        raise ValueError("baseline must be longer than zero")
    act = _activity(cdr)
    if phones is not None:
        act = act[act["phone"].isin(_phone_list(phones, "phones"))]
    b0, g0, g1 = t0 - gb - base, t0 - gb, t0 + ga
    in_base = act[(act["t"] >= b0) & (act["t"] < g0)]
    in_gap = act[(act["t"] >= g0) & (act["t"] <= g1)]
    res = pd.DataFrame({"baseline_events": in_base.groupby("phone").size()})
    if phones is not None:
        res = res.reindex(sorted(set(_phone_list(phones, "phones"))), fill_value=0)
    res["gap_events"] = in_gap.groupby("phone").size().reindex(res.index, fill_value=0)
    hours = base / pd.Timedelta(hours=1)
    res["rate_per_hour"] = res["baseline_events"] / hours
    res["expected_gap_events"] = res["rate_per_hour"] * ((gb + ga) / pd.Timedelta(hours=1))
    from scipy.stats import poisson

    res["p_value"] = poisson.cdf(res["gap_events"], res["expected_gap_events"]) if len(res) else []
    res["went_dark"] = (res["gap_events"] == 0) & (res["expected_gap_events"] >= min_expected)
    res["last_before"] = act[act["t"] < g0].groupby("phone")["t"].max().reindex(res.index)
    res["first_after"] = act[act["t"] > g1].groupby("phone")["t"].min().reindex(res.index)
    res = res.rename_axis("phone").reset_index().sort_values(["p_value", "phone"])
    schema = pa.schema(
        [
            ("phone", pa.string()),
            ("baseline_events", pa.int64()),
            ("rate_per_hour", pa.float64()),
            ("gap_events", pa.int64()),
            ("expected_gap_events", pa.float64()),
            ("p_value", pa.float64()),
            ("went_dark", pa.bool_()),
            ("last_before", UTC_TS),
            ("first_after", UTC_TS),
        ]
    )
    return pa.Table.from_pandas(res[schema.names], schema=schema, preserve_index=False)


def burner_candidates(
    cdr: pa.Table,
    *,
    max_active_days: float = 14.0,
    max_contacts: int = 12,
    edge_margin_days: float = 1.0,
    min_events: int = 10,
    min_score: int = 2,
) -> pa.Table:
    """Phones that look like burners: short-lived, few contacts, device reused.

    Parameters
    ----------
    cdr : pyarrow.Table
        ``CDR_EVENTS`` rows.
    max_active_days : float
        A phone is short-lived when its first-to-last activity spans at most
        this many days and starts and ends at least ``edge_margin_days``
        inside the data's time range (so ordinary phones cut by the data
        window are not flagged).
    max_contacts : int
        A phone has few contacts when it talks to at most this many numbers.
    min_events : int
        Phones with fewer events are ignored.
    min_score : int
        Flag a phone when at least this many of the three indicators
        (short-lived, few contacts, shares its IMEI with another number) hold.

    Returns
    -------
    pyarrow.Table
        ``phone``, ``n_events``, ``n_contacts``, ``active_days``,
        ``short_lived``, ``few_contacts``, ``shared_device``, ``score``,
        ``is_burner``; sorted by score descending.

    Notes
    -----
    Indicators follow common investigative practice for "burner" (prepaid,
    throw-away) phones: brief activation, a closed circle of contacts, and
    SIM swaps in one handset.
    """
    act = _activity(cdr)
    if act.empty:
        return pa.table({"phone": pa.array([], pa.string())})
    tmin, tmax = act["t"].min(), act["t"].max()
    g = act.groupby("phone")["t"]
    feats = pd.DataFrame({"n_events": g.size(), "first": g.min(), "last": g.max()})
    counts = _undirected_counts(_contact_rows(cdr, None, None))
    feats["n_contacts"] = counts.groupby("phone")["contact"].nunique().reindex(feats.index, fill_value=0)
    feats["active_days"] = (feats["last"] - feats["first"]) / pd.Timedelta(days=1)
    margin = pd.Timedelta(days=edge_margin_days)
    feats["short_lived"] = (
        (feats["active_days"] <= max_active_days) & (feats["first"] >= tmin + margin) & (feats["last"] <= tmax - margin)
    )
    feats["few_contacts"] = (feats["n_contacts"] >= 1) & (feats["n_contacts"] <= max_contacts)
    feats["shared_device"] = False
    if "imei" in cdr.column_names:
        dev = pd.DataFrame({"phone": served_party(cdr).to_pandas(), "imei": cdr.column("imei").to_pandas()}).dropna()
        per_imei = dev.groupby("imei")["phone"].nunique()
        shared = dev[dev["imei"].isin(per_imei[per_imei >= 2].index)]["phone"].unique()
        feats["shared_device"] = feats.index.isin(shared)
    feats = feats[feats["n_events"] >= min_events]
    feats["score"] = feats[["short_lived", "few_contacts", "shared_device"]].sum(axis=1).astype(np.int64)
    feats["is_burner"] = feats["score"] >= min_score
    out = feats.rename_axis("phone").reset_index().sort_values(["score", "n_events", "phone"], ascending=[False, True, True])
    return pa.Table.from_pandas(out[BURNER_PHONES.names], schema=BURNER_PHONES, preserve_index=False)
