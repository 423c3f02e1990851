"""Bank ledger of the synthetic world: ordinary accounts, mule accounts, fraud rings, ATM cash-outs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.spatial import cKDTree

from jobs.synth import identifiers as ids
from jobs.synth.world import TZ, World, _ts, sample_hours

ATM_AMOUNTS = np.array([20, 40, 60, 80, 100, 120, 160, 200, 300, 400])
ATM_WEIGHTS = np.array([8, 14, 12, 10, 16, 5, 6, 14, 8, 7], dtype=float)
MERCHANT_KINDS = np.array(["grocery", "gas station", "restaurant", "pharmacy", "coffee shop",
                           "convenience store", "clothing", "electronics", "bar", "fast food"], dtype=object)
TXN_COLUMNS = ("txn_id", "account", "counterparty", "amount", "currency", "direction", "booked_at",
               "channel", "terminal_id", "merchant", "lon", "lat", "reference")


@dataclass
class Ledger:
    """Transactions plus what the other generators need: who owns which account."""

    transactions: pa.Table
    atm_terminals: pa.Table
    account_numbers: np.ndarray
    account_owner: np.ndarray  # phone index of the owner
    truth_accounts: pa.Table
    truth_ring_transfers: pa.Table
    truth_atm_spikes: pa.Table


class _Rows:
    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                                  ("acct", "cp", "amt", "dir", "t", "chan", "term", "merch", "ref")}

    def add(self, acct, cp, amt, direction, t, chan, term=None, merch=None, ref=None) -> None:
        n = len(acct)
        self.cols["acct"].append(np.asarray(acct, dtype=object))
        self.cols["cp"].append(np.asarray(cp, dtype=object) if cp is not None else np.full(n, None, object))
        self.cols["amt"].append(np.round(np.asarray(amt, float), 2))
        self.cols["dir"].append(np.full(n, direction, object) if isinstance(direction, str) else np.asarray(direction, object))
        self.cols["t"].append(np.asarray(t, np.int64))
        self.cols["chan"].append(np.full(n, chan, object))
        for k, v in (("term", term), ("merch", merch), ("ref", ref)):
            self.cols[k].append(np.asarray(v, dtype=object) if v is not None else np.full(n, None, object))

    def cat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.cols.items()}


def _transfer(rows: _Rows, payer, payee, amt, t, ref, payee_print=None) -> None:
    """A transfer between two customer accounts books a debit on one and a credit on the other."""
    rows.add(payer, payee if payee_print is None else payee_print, amt, "debit", t, "transfer", ref=ref)
    rows.add(payee, payer, amt, "credit", t, "transfer", ref=ref)


@dataclass
class _Bank:
    """The bank's customers and the places they pay at (drawn first, in this order)."""

    owner: np.ndarray  # phone index of each account's owner
    acct: np.ndarray  # account numbers
    acct_of_phone: np.ndarray  # account index of each phone, -1 without one
    employer: np.ndarray  # external accounts paying salaries
    landlord: np.ndarray  # external accounts receiving rent
    merchant_acct: np.ndarray
    m_name: np.ndarray  # merchant names
    m_lon: np.ndarray
    m_lat: np.ndarray
    atm_id: np.ndarray
    a_lon: np.ndarray
    a_lat: np.ndarray
    near_m: np.ndarray  # per account, the merchants nearest its owner's home
    near_a: np.ndarray  # per account, the ATMs nearest its owner's home

    @property
    def n(self) -> int:
        return len(self.owner)


def generate_ledger(w: World, rng: np.random.Generator, member_accounts: bool = True) -> Ledger:
    """Generate the ledger over the world's window.

    Ordinary accounts get salaries (bi-weekly, employed owners), card purchases
    at merchants near home, ATM withdrawals at nearby terminals, rent and
    person-to-person transfers along the phone social graph. Planted: fraud
    rings (money sent round a cycle of accounts within two days, a small fee
    kept at each hop, amounts just under the USD 10,000 reporting threshold),
    mule accounts (fan-in from many payers, fan-out within two days), and ATM
    cash-out spikes (many withdrawals at one terminal within a few hours).
    Every step draws from ``rng`` in the order below.
    """
    s = w.settings
    gm = np.concatenate(w.members) if w.members else np.zeros(0, np.int64)
    bank = _open_accounts(w, rng, gm)
    rows = _Rows()
    _card_purchases(rows, w, rng, bank)
    _atm_withdrawals(rows, w, rng, bank)
    _salaries_and_rent(rows, w, rng, bank)
    _p2p_transfers(rows, w, rng, bank)
    acc_rows, ring_rows = _fraud_rings(rows, w, rng, bank, gm, member_accounts)
    taken = {a for a, *_ in acc_rows}
    mule_pool = [i for i in rng.permutation(bank.n).tolist() if bank.acct[i] not in taken][: s.n_mules]
    spike_rows = _atm_spikes(rows, w, rng, bank, mule_pool)
    acc_rows += _mules(rows, w, rng, bank, mule_pool)
    atms = pa.table({
        "terminal_id": pa.array(bank.atm_id, pa.string()),
        "lon": pa.array(np.round(bank.a_lon, 6)), "lat": pa.array(np.round(bank.a_lat, 6)),
        "operator": pa.array(ids.BANK_CODES[np.arange(s.n_atms) % len(ids.BANK_CODES)].astype(object), pa.string()),
    })
    return Ledger(_transactions_table(rows, bank), atms, bank.acct, bank.owner, *_truth_tables(acc_rows, ring_rows,
                                                                                                spike_rows))


def _open_accounts(w: World, rng: np.random.Generator, gm: np.ndarray) -> _Bank:
    """Account owners (every group member among them), external accounts, merchants and ATMs."""
    s = w.settings
    n = s.n_accounts
    n_ph = w.n_phones
    owner = rng.choice(n_ph, min(n, n_ph), replace=False) if n <= n_ph else rng.integers(0, n_ph, n)
    # group members each hold an account
    missing = np.setdiff1d(gm, owner)
    if len(missing):
        owner[: len(missing)] = missing  # replace the first draws (random) by members
    n = len(owner)
    acct = ids.accounts(rng, n)
    n_emp = max(5, n // 100)
    n_land = max(5, n // 60)
    n_merch = max(20, n // 10)
    ext = ids.accounts(rng, n_emp + n_land + n_merch)
    employer, landlord, merchant_acct = ext[:n_emp], ext[n_emp:n_emp + n_land], ext[n_emp + n_land:]
    pts = w.all_incidents_xy
    mj = rng.integers(0, len(pts), n_merch)
    mx, my = w.clip_xy(pts[mj, 0] + rng.normal(0, 100, n_merch), pts[mj, 1] + rng.normal(0, 100, n_merch))
    m_lon, m_lat = w.frame.to_lonlat(mx, my)
    m_name = np.array([f"{k.title()} #{i:04d}" for i, k in enumerate(MERCHANT_KINDS[rng.integers(0, len(MERCHANT_KINDS), n_merch)].tolist())], dtype=object)
    aj = rng.integers(0, len(pts), s.n_atms)
    atx, aty = w.clip_xy(pts[aj, 0] + rng.normal(0, 80, s.n_atms), pts[aj, 1] + rng.normal(0, 80, s.n_atms))
    a_lon, a_lat = w.frame.to_lonlat(atx, aty)
    atm_id = np.array([f"ATM{i:05d}" for i in ids.unique_ints(rng, 100_000, s.n_atms).tolist()], dtype=object)
    home = np.column_stack([w.home_x[owner], w.home_y[owner]])
    _, near_m = cKDTree(np.column_stack([mx, my])).query(home, k=min(15, n_merch))
    _, near_a = cKDTree(np.column_stack([atx, aty])).query(home, k=min(4, s.n_atms))
    acct_of_phone = np.full(n_ph, -1, np.int64)
    acct_of_phone[owner] = np.arange(n)
    return _Bank(owner=owner, acct=acct, acct_of_phone=acct_of_phone, employer=employer, landlord=landlord,
                 merchant_acct=merchant_acct, m_name=m_name, m_lon=m_lon, m_lat=m_lat, atm_id=atm_id, a_lon=a_lon,
                 a_lat=a_lat, near_m=np.atleast_2d(near_m).reshape(n, -1), near_a=np.atleast_2d(near_a).reshape(n, -1))


def _daily_counts(rng: np.random.Generator, n: int, days: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Account index and day of each of a Poisson number of events per account and day."""
    cnt = rng.poisson(mean, (n, days))
    ai = np.repeat(np.repeat(np.arange(n), days), cnt.ravel())
    day = np.repeat(np.tile(np.arange(days), n), cnt.ravel())
    return ai, day


def _card_purchases(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank) -> None:
    """Card payments, three in four at a merchant near home."""
    ai, day = _daily_counts(rng, bank.n, w.settings.days, 1.2)
    k = len(ai)
    hour = sample_hours(rng, w.weekend[day])
    t = w.day_start[day] + hour * 3600 + rng.integers(0, 3600, k)
    near_m = bank.near_m
    mi = np.where(rng.random(k) < 0.75, near_m[ai, rng.integers(0, near_m.shape[1], k)],
                  rng.integers(0, len(bank.merchant_acct), k))
    rows.add(bank.acct[ai], bank.merchant_acct[mi], rng.lognormal(np.log(28), 0.8, k), "debit", t, "card",
             merch=bank.m_name[mi])


def _atm_withdrawals(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank) -> None:
    """Baseline cash withdrawals at one of the ATMs nearest home."""
    ai, day = _daily_counts(rng, bank.n, w.settings.days, 0.12)
    k = len(ai)
    hour = sample_hours(rng, w.weekend[day])
    t = w.day_start[day] + hour * 3600 + rng.integers(0, 3600, k)
    ti = bank.near_a[ai, rng.integers(0, bank.near_a.shape[1], k)]
    amt = rng.choice(ATM_AMOUNTS, k, p=ATM_WEIGHTS / ATM_WEIGHTS.sum())
    rows.add(bank.acct[ai], None, amt, "debit", t, "atm", term=bank.atm_id[ti])


def _salaries_and_rent(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank) -> None:
    """Salaries every other Friday for the employed, rent on the 1st."""
    n, acct, D = bank.n, bank.acct, w.settings.days
    emp = np.flatnonzero(w.employed[bank.owner])
    emp_of = bank.employer[rng.integers(0, len(bank.employer), len(emp))]
    pay = rng.lognormal(np.log(1900), 0.45, len(emp))
    dates = _local_dates(w)
    fridays = [d for d in range(D) if dates[d].weekday() == 4]
    for j, d in enumerate(fridays[::2]):
        t = w.day_start[d] + 6 * 3600 + rng.integers(0, 3600, len(emp))
        rows.add(acct[emp], emp_of, pay * rng.normal(1, 0.01, len(emp)), "credit", t, "transfer",
                 ref=np.full(len(emp), f"PAYROLL {j}", object))
    first_days = [d for d in range(D) if dates[d].day == 1]
    rent = rng.lognormal(np.log(1100), 0.35, n)
    ll = bank.landlord[rng.integers(0, len(bank.landlord), n)]
    for d in first_days:
        t = w.day_start[d] + 8 * 3600 + rng.integers(0, 36000, n)
        rows.add(acct, ll, rent, "debit", t, "transfer", ref=np.full(n, "RENT", object))


def _p2p_transfers(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank) -> None:
    """Person-to-person transfers along phone contacts who also bank here."""
    acct = bank.acct
    ai, day = _daily_counts(rng, bank.n, w.settings.days, 0.05)
    ph = bank.owner[ai]
    deg = w.nbr_offs[ph + 1] - w.nbr_offs[ph]
    nb = w.nbr[np.clip(w.nbr_offs[ph] + (rng.random(len(ph)) * deg).astype(np.int64), 0, len(w.nbr) - 1)]
    bi = np.where(deg > 0, bank.acct_of_phone[nb], -1)
    ok = bi >= 0
    ai, bi, day = ai[ok], bi[ok], day[ok]
    t = w.day_start[day] + sample_hours(rng, w.weekend[day]) * 3600 + rng.integers(0, 3600, len(ai))
    amt = np.round(rng.lognormal(np.log(60), 0.7, len(ai)), 0)
    refs = np.array([f"P2P{r:08d}" for r in ids.unique_ints(rng, 10**8, len(ai)).tolist()], dtype=object)
    spaced = np.where(rng.random(len(ai)) < 0.25, ids.iban_spaced(acct[bi]), acct[bi])
    _transfer(rows, acct[ai], acct[bi], amt, t, refs, payee_print=spaced)


def _fraud_rings(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank, gm: np.ndarray,
                 member_accounts: bool) -> tuple[list[tuple], list[tuple]]:
    """Planted fraud rings: money sent round a cycle of accounts; the accounts' and the hops' truth rows."""
    s, acct, acct_of_phone = w.settings, bank.acct, bank.acct_of_phone
    in_ring = np.zeros(bank.n, bool)
    acc_rows: list[tuple[str, str, str | None, str | None]] = []
    ring_rows: list[tuple] = []
    member_acct = set(acct_of_phone[gm].tolist()) if len(gm) else set()
    for r in range(s.n_rings):
        size = int(rng.integers(s.ring_size[0], s.ring_size[1] + 1))
        # rings recruit group members' accounts first when the ring is tied to a group
        g = r % max(1, len(w.members)) if w.members else -1
        cands = [int(acct_of_phone[p]) for p in (w.members[g] if g >= 0 else [])] if member_accounts else []
        cands = [c for c in cands if c >= 0][: size // 2]
        in_ring[cands] = True
        free = np.flatnonzero(~in_ring)
        rest = rng.choice(free, size - len(cands), replace=False)
        ring = np.concatenate([np.array(cands, dtype=np.int64), rest])
        in_ring[ring] = True
        for a in ring.tolist():
            acc_rows.append((acct[a], "ring", f"R{r:03d}", f"G{g:03d}" if a in member_acct else None))
        n_cycles = int(rng.integers(2, 5))
        for c in range(n_cycles):
            order = rng.permutation(ring)
            tt = w.t_start + int(rng.uniform(0.02, 0.85) * (w.t_end - w.t_start))
            amount = float(rng.uniform(9000, 9900))
            for h in range(len(order)):
                payer, payee = order[h], order[(h + 1) % len(order)]
                ref = f"INV-{r:02d}{c:02d}{h:02d}-{int(rng.integers(1000, 9999))}"
                _transfer(rows, acct[[payer]], acct[[payee]], [amount], [tt], [ref])
                ring_rows.append((f"R{r:03d}", c, h, acct[payer], acct[payee], round(amount, 2), tt, ref))
                tt += int(rng.uniform(1, 8) * 3600)
                amount *= 1 - rng.uniform(0.005, 0.02)
    return acc_rows, ring_rows


def _atm_spikes(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank, mule_pool: list[int]) -> list[tuple]:
    """Planted ATM cash-out spikes: many withdrawals at one terminal within a few hours; their truth rows."""
    s, acct, atm_id = w.settings, bank.acct, bank.atm_id
    spike_term = rng.choice(s.n_atms, min(s.n_atm_spikes, s.n_atms), replace=False)
    spike_rows = []
    for term in spike_term.tolist():
        start = w.t_start + int(rng.uniform(0.05, 0.9) * (w.t_end - w.t_start))
        start -= start % 3600
        dur = int(rng.integers(2, 5)) * 3600
        k = int(rng.integers(15, 40))
        who = rng.integers(0, bank.n, k)  # skimmed cards of ordinary customers ...
        if mule_pool:  # ... and a few mules cashing out
            who[:3] = rng.choice(np.array(mule_pool), 3)
        t = start + np.sort(rng.integers(0, dur, k))
        rows.add(acct[who], None, rng.choice([300, 400, 500, 600, 800], k), "debit", t, "atm",
                 term=np.full(k, atm_id[term], object))
        spike_rows.append((atm_id[term], start, start + dur, k))
    return spike_rows


def _mules(rows: _Rows, w: World, rng: np.random.Generator, bank: _Bank, mule_pool: list[int]) -> list[tuple]:
    """Planted mule accounts: fan-in from many payers, fan-out within two days, then cash; their truth rows."""
    acct = bank.acct
    acc_rows = []
    for a in mule_pool:
        acc_rows.append((acct[a], "mule", None, None))
        for _ in range(int(rng.integers(1, 3))):
            tt = w.t_start + int(rng.uniform(0.05, 0.85) * (w.t_end - w.t_start))
            k_in = int(rng.integers(5, 16))
            payers = ids.accounts(rng, k_in)  # victims at other banks
            amt_in = np.round(rng.uniform(200, 2000, k_in), 2)
            t_in = tt + np.sort(rng.integers(0, 24 * 3600, k_in))
            rows.add(np.full(k_in, acct[a], object), payers, amt_in, "credit", t_in, "transfer",
                     ref=np.full(k_in, "INVOICE PAYMENT", object))
            total = float(amt_in.sum())
            k_out = int(rng.integers(2, 5))
            share = rng.dirichlet(np.ones(k_out)) * total * 0.9
            outs = ids.accounts(rng, k_out)
            t_out = int(t_in.max()) + np.sort(rng.integers(3600, 48 * 3600, k_out))
            rows.add(np.full(k_out, acct[a], object), outs, share, "debit", t_out, "transfer",
                     ref=np.full(k_out, "LOAN REPAY", object))
            cash_t = int(t_out.max()) + int(rng.integers(600, 6 * 3600))
            rows.add([acct[a]], None, [min(800.0, total * 0.1 // 20 * 20 + 20)], "debit", [cash_t], "atm",
                     term=[bank.atm_id[int(rng.integers(0, w.settings.n_atms))]])
    return acc_rows


def _transactions_table(rows: _Rows, bank: _Bank) -> pa.Table:
    """Every booked row in time order, ATM and card rows located at their terminal or merchant."""
    c = rows.cat()
    term_s, merch_s = pd.Series(c["term"]), pd.Series(c["merch"])
    lon = term_s.map(dict(zip(bank.atm_id, bank.a_lon))).fillna(merch_s.map(dict(zip(bank.m_name, bank.m_lon)))).to_numpy(float)
    lat = term_s.map(dict(zip(bank.atm_id, bank.a_lat))).fillna(merch_s.map(dict(zip(bank.m_name, bank.m_lat)))).to_numpy(float)
    o = np.argsort(c["t"], kind="stable")
    c = {k: v[o] for k, v in c.items()}
    lon, lat = lon[o], lat[o]
    m = len(o)
    return pa.table({
        "txn_id": pa.array([f"TX{i:010d}" for i in range(m)], pa.string()),
        "account": pa.array(c["acct"], pa.string()),
        "counterparty": pa.array(c["cp"], pa.string()),
        "amount": pa.array(c["amt"], pa.float64()),
        "currency": pa.array(np.full(m, "USD", object), pa.string()),
        "direction": pa.array(c["dir"], pa.string()),
        "booked_at": _ts(c["t"]),
        "channel": pa.array(c["chan"], pa.string()),
        "terminal_id": pa.array(c["term"], pa.string()),
        "merchant": pa.array(c["merch"], pa.string()),
        "lon": pa.array(np.round(lon, 6), mask=np.isnan(lon)),
        "lat": pa.array(np.round(lat, 6), mask=np.isnan(lat)),
        "reference": pa.array(c["ref"], pa.string()),
    })


def _truth_tables(acc_rows: list[tuple], ring_rows: list[tuple],
                  spike_rows: list[tuple]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Truth of the plants: accounts (ring or mule), ring hops, ATM spikes."""
    truth_accounts = pa.table({
        "account": pa.array([r[0] for r in acc_rows], pa.string()),
        "role": pa.array([r[1] for r in acc_rows], pa.string()),
        "ring_id": pa.array([r[2] for r in acc_rows], pa.string()),
        "group_id": pa.array([r[3] for r in acc_rows], pa.string()),
    })
    truth_ring = pa.table({
        "ring_id": pa.array([r[0] for r in ring_rows], pa.string()),
        "cycle": pa.array([r[1] for r in ring_rows], pa.int32()),
        "hop": pa.array([r[2] for r in ring_rows], pa.int32()),
        "from_account": pa.array([r[3] for r in ring_rows], pa.string()),
        "to_account": pa.array([r[4] for r in ring_rows], pa.string()),
        "amount": pa.array([r[5] for r in ring_rows], pa.float64()),
        "booked_at": _ts(np.array([r[6] for r in ring_rows], dtype=np.int64)),
        "reference": pa.array([r[7] for r in ring_rows], pa.string()),
    })
    truth_spikes = pa.table({
        "terminal_id": pa.array([r[0] for r in spike_rows], pa.string()),
        "window_start": _ts(np.array([r[1] for r in spike_rows], dtype=np.int64)),
        "window_end": _ts(np.array([r[2] for r in spike_rows], dtype=np.int64)),
        "n_planted": pa.array([r[3] for r in spike_rows], pa.int32()),
    })
    return truth_accounts, truth_ring, truth_spikes


def _local_dates(w: World) -> list[date]:
    return [datetime.fromtimestamp(int(t) + 3600, tz=TZ).date() for t in w.day_start]
