"""Behavioural features per phone (from ``cdr_events``) and per account (from ``transactions``).

The features are the ones investigators read burner phones and money-mule
accounts by: a burner lives briefly, talks to few, mostly new numbers, moves
between handsets (IMEI changes) and is often used at night; a mule receives
from many payers (fan-in) and passes most of it on within a day or two
(pass-through), in round amounts, often as cash at ATMs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

#: Phone feature columns, in model order.
PHONE_FEATURES = [
    "n_events",
    "n_contacts",
    "new_contact_share",
    "night_share",
    "n_sites",
    "n_imeis",
    "imei_changes",
    "sims_per_imei",
    "lifetime_days",
    "active_days",
    "events_per_active_day",
]

#: Account feature columns, in model order.
ACCOUNT_FEATURES = [
    "n_txns",
    "fan_in",
    "fan_out",
    "velocity",
    "round_share",
    "atm_share",
    "inflow",
    "outflow",
    "pass_through",
    "lifetime_days",
]

_DEBIT = {"debit", "out", "dr", "d", "withdrawal"}
_CREDIT = {"credit", "in", "cr", "c", "deposit"}


def _require(table: pa.Table, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise ValueError(f"{what}: columns {missing} missing; available: {table.column_names}")


def _night(hours: np.ndarray, start: int, end: int) -> np.ndarray:
    return (hours >= start) | (hours < end) if start > end else (hours >= start) & (hours < end)


def phone_features(
    cdr_events: pa.Table,
    *,
    cell_sites: pa.Table | None,
    tz: str = "UTC",
    night_start: int = 22,
    night_end: int = 6,
) -> pa.Table:
    """Per-phone behavioural features from call-detail records.

    Parameters
    ----------
    cdr_events : pyarrow.Table
        :data:`jobs.schemas.CDR_EVENTS` rows. A row describes the *served* line:
        the caller when ``direction`` is ``out`` (or null), the callee when it is
        ``in``; ``cell_id``, ``imei`` and ``imsi`` belong to the served line, and
        the other number is its contact. Rows without a served number are skipped.
    cell_sites : pyarrow.Table or None
        ``cell_id, site_id`` (:data:`jobs.schemas.CELL_SITES`), to count the
        distinct *sites* (masts) a line was served from: the three sectors of
        one mast are one site. A cell missing from it, or without a site, counts
        as its own site (the rule of the ``cell_calls`` spike series); ``None``
        (no site register) counts every cell as its own site.
    tz : str
        Local time zone for night hours and active days.
    night_start, night_end : int
        Local hours of the night window (``22`` to ``6`` wraps midnight).

    Returns
    -------
    pyarrow.Table
        ``phone`` then :data:`PHONE_FEATURES` (float64):
        ``n_contacts`` distinct counterparts; ``new_contact_share`` share of
        events that were the first with their counterpart (1.0: every call to
        a new number); ``night_share``; ``n_sites`` distinct cell sites;
        ``n_imeis`` distinct handsets of the SIM; ``imei_changes`` handset
        switches in time order; ``sims_per_imei`` most SIMs (IMSI, else number)
        seen on any handset this line used; ``lifetime_days`` first to last
        event; ``active_days`` distinct local days; ``events_per_active_day``.

    Notes
    -----
    Burner and SIM-swap indicators as used in telecom fraud and law-enforcement
    CDR analysis (e.g. Hilas & Mastorocostas 2008, "An application of supervised
    and unsupervised learning approaches to telecommunications fraud
    detection", *Knowledge-Based Systems* 21(7): behavioural profiles per line).
    """
    _require(cdr_events, ["caller", "callee", "start_time", "direction", "cell_id", "imei", "imsi"], "phone_features")
    df = cdr_events.select(["caller", "callee", "start_time", "direction", "cell_id", "imei", "imsi"]).to_pandas()
    inbound = df["direction"].astype("string").str.lower().eq("in").fillna(False).to_numpy()
    subject = np.where(inbound, df["callee"].to_numpy(object), df["caller"].to_numpy(object))
    contact = np.where(inbound, df["caller"].to_numpy(object), df["callee"].to_numpy(object))
    f = pd.DataFrame(
        {
            "phone": subject,
            "contact": contact,
            "t": pd.to_datetime(df["start_time"], utc=True),
            "cell_id": df["cell_id"],
            "imei": df["imei"],
            "sim": df["imsi"].where(df["imsi"].notna(), pd.Series(subject, index=df.index)),
        }
    )
    site = df["cell_id"]
    if cell_sites is not None:
        _require(cell_sites, ["cell_id", "site_id"], "phone_features cell_sites")
        reg = cell_sites.select(["cell_id", "site_id"]).to_pandas().dropna(subset=["cell_id"])
        reg = reg.drop_duplicates("cell_id").set_index("cell_id")["site_id"]
        # a cell unknown to the register (or without a site) is its own site
        site = df["cell_id"].map(reg).where(lambda s: s.notna(), df["cell_id"])
    f["site"] = site.to_numpy(object)
    f = f[f["phone"].notna()].sort_values(["phone", "t"], kind="stable").reset_index(drop=True)
    if len(f) == 0:
        return pa.table({"phone": pa.array([], pa.string()), **{c: pa.array([], pa.float64()) for c in PHONE_FEATURES}})
    local = f["t"].dt.tz_convert(tz)
    f["night"] = _night(local.dt.hour.to_numpy(), night_start, night_end)
    f["day"] = local.dt.tz_localize(None).dt.normalize()
    f["first_contact"] = f["contact"].notna() & ~f.duplicated(["phone", "contact"])
    same_phone = f["phone"].eq(f["phone"].shift())
    prev_imei = f["imei"].where(f["imei"].notna()).groupby(f["phone"]).ffill().groupby(f["phone"]).shift()
    f["imei_change"] = same_phone & f["imei"].notna() & prev_imei.notna() & f["imei"].ne(prev_imei)
    sims_on_imei = f.dropna(subset=["imei"]).groupby("imei")["sim"].nunique()
    f["sims_on_imei"] = f["imei"].map(sims_on_imei).fillna(0)
    g = f.groupby("phone", sort=True)
    out = pd.DataFrame(
        {
            "n_events": g.size(),
            "n_contacts": g["contact"].nunique(),
            "first": g["first_contact"].sum(),
            "with_contact": g["contact"].count(),
            "night_share": g["night"].mean(),
            "n_sites": g["site"].nunique(),
            "n_imeis": g["imei"].nunique(),
            "imei_changes": g["imei_change"].sum(),
            "sims_per_imei": g["sims_on_imei"].max(),
            "lifetime_days": (g["t"].max() - g["t"].min()).dt.total_seconds() / 86400.0,
            "active_days": g["day"].nunique(),
        }
    )
    out["new_contact_share"] = (out["first"] / out["with_contact"].where(out["with_contact"] > 0)).fillna(0.0)
    out["events_per_active_day"] = out["n_events"] / out["active_days"]
    return pa.table(
        {"phone": pa.array(out.index.to_numpy(object), pa.string()),
         **{c: pa.array(out[c].to_numpy(np.float64)) for c in PHONE_FEATURES}}
    )


def _flow_sign(df: pd.DataFrame, direction_col: str | None) -> np.ndarray:
    """+1 credit (inflow), -1 debit (outflow) per row."""
    if direction_col is not None and direction_col in df.columns:
        d = df[direction_col].astype("string").str.lower()
        bad = d.notna() & ~d.isin(_DEBIT | _CREDIT)
        if bad.any():
            raise ValueError(
                f"column {direction_col!r} has values {sorted(d[bad].unique())[:5]}; expected one of "
                f"{sorted(_DEBIT | _CREDIT)}"
            )
        sign = np.where(d.isin(_CREDIT).fillna(False), 1, -1)
        unknown = d.isna().to_numpy()
    else:
        sign = np.zeros(len(df), dtype=int)
        unknown = np.ones(len(df), dtype=bool)
    amt = df["amount"].to_numpy(np.float64)
    chan = df["channel"].astype("string").str.lower().fillna("")
    by_sign = np.where(amt < 0, -1, 0)
    by_channel = np.where(chan.eq("cash_deposit"), 1, -1)
    fallback = np.where(by_sign != 0, by_sign, by_channel)
    if (amt < 0).any():
        fallback = np.where(amt < 0, -1, 1)
    return np.where(unknown, fallback, sign)


def account_features(
    transactions: pa.Table,
    *,
    direction_col: str | None = "direction",
    round_unit: float = 100.0,
    pass_through_days: float = 2.0,
) -> pa.Table:
    """Per-account behavioural features from transactions.

    Parameters
    ----------
    transactions : pyarrow.Table
        :data:`jobs.schemas.TRANSACTIONS` rows, one row per booking on
        ``account``. Flow direction: the ``direction_col`` column if the table
        has one (``debit``/``credit`` or ``out``/``in``); otherwise the sign of
        ``amount`` if any amount is negative (negative = debit); otherwise the
        channel (``cash_deposit`` is a credit, ``atm``, ``card`` and
        ``transfer`` are debits).
    round_unit : float
        Amounts that are whole multiples of this count as round.
    pass_through_days : float
        Window of the pass-through ratio.

    Returns
    -------
    pyarrow.Table
        ``account`` then :data:`ACCOUNT_FEATURES` (float64): ``fan_in``
        distinct counterparties crediting the account; ``fan_out`` distinct
        counterparties it debits to; ``velocity`` bookings per day of
        lifetime (at least one day); ``round_share``; ``atm_share`` share of
        bookings at ATMs; ``inflow``/``outflow`` totals; ``pass_through`` share
        of inflow that leaves again within the same window,
        ``sum_w min(in_w, out_w) / sum_w in_w`` over windows of
        ``pass_through_days`` (the larger of two grids offset by half a window,
        so a transfer pair is not split by a window edge); ``lifetime_days``.

    Notes
    -----
    Fan-in/fan-out and rapid pass-through are the money-mule typologies of
    FATF's *Money Laundering Using New Payment Methods* (2010) and Europol's
    EMMA reports; the features follow the graph-free "velocity" indicators of
    Weber et al. 2019 ("Anti-Money Laundering in Bitcoin", KDD workshop).
    """
    _require(transactions, ["account", "counterparty", "amount", "occurred_at", "channel"], "account_features")
    if round_unit <= 0 or pass_through_days <= 0:
        raise ValueError("round_unit and pass_through_days must be > 0")
    cols = ["account", "counterparty", "amount", "occurred_at", "channel"]
    if direction_col is not None and direction_col in transactions.column_names:
        cols.append(direction_col)
    df = transactions.select(cols).to_pandas()
    df = df[df["account"].notna()].reset_index(drop=True)
    if len(df) == 0:
        return pa.table({"account": pa.array([], pa.string()), **{c: pa.array([], pa.float64()) for c in ACCOUNT_FEATURES}})
    sign = _flow_sign(df, direction_col)
    amt = np.abs(df["amount"].to_numpy(np.float64))
    t = pd.to_datetime(df["occurred_at"], utc=True)
    chan = df["channel"].astype("string").str.lower()
    f = pd.DataFrame(
        {
            "account": df["account"],
            "cp_in": df["counterparty"].where((sign > 0) & chan.eq("transfer").to_numpy()),
            "cp_out": df["counterparty"].where((sign < 0) & chan.eq("transfer").to_numpy()),
            "in": np.where(sign > 0, amt, 0.0),
            "out": np.where(sign < 0, amt, 0.0),
            "round": np.isclose(np.mod(amt + 1e-9, round_unit), 0.0, atol=0.005) & (amt > 0),
            "atm": chan.eq("atm").fillna(False).to_numpy(),
            "t": t,
        }
    )
    g = f.groupby("account", sort=True)
    out = pd.DataFrame(
        {
            "n_txns": g.size(),
            "fan_in": g["cp_in"].nunique(),
            "fan_out": g["cp_out"].nunique(),
            "round_share": g["round"].mean(),
            "atm_share": g["atm"].mean(),
            "inflow": g["in"].sum(),
            "outflow": g["out"].sum(),
            "lifetime_days": (g["t"].max() - g["t"].min()).dt.total_seconds() / 86400.0,
        }
    )
    out["velocity"] = out["n_txns"] / np.maximum(out["lifetime_days"], 1.0)
    width = pass_through_days * 86400.0
    secs = (f["t"] - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy()
    best = np.zeros(len(out))
    for offset in (0.0, width / 2):
        w = np.floor((secs + offset) / width).astype(np.int64)
        sums = f.assign(w=w).groupby(["account", "w"], sort=False)[["in", "out"]].sum()
        passed = np.minimum(sums["in"], sums["out"]).groupby(level=0).sum()
        best = np.maximum(best, passed.reindex(out.index).fillna(0.0).to_numpy())
    out["pass_through"] = np.where(out["inflow"] > 0, best / out["inflow"].where(out["inflow"] > 0, 1.0), 0.0)
    return pa.table(
        {"account": pa.array(out.index.to_numpy(object), pa.string()),
         **{c: pa.array(out[c].to_numpy(np.float64)) for c in ACCOUNT_FEATURES}}
    )
