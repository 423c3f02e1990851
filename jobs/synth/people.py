"""Person / offender records (with near-duplicates), linked crime series and incident enrichment."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from scipy.spatial import cKDTree

from jobs.synth import identifiers as ids
from jobs.synth.world import World

PERSON_COLUMNS = ("person_id", "name", "date_of_birth", "role", "phones", "accounts", "handles", "source_system")
ENRICHMENT_COLUMNS = ("incident_id", "offender_ids", "victim_ids", "mo_text", "weapon")

WEAPONS = np.array(["handgun", "knife", "blunt object", "vehicle", "hands/fists", "bottle", "other"], dtype=object)
WEAPON_P = np.array([0.35, 0.2, 0.12, 0.05, 0.15, 0.05, 0.08])
WEAPON_PHRASE = {
    "handgun": ["a black handgun", "a small pistol", "a handgun"], "knife": ["a knife", "a folding knife", "a box cutter"],
    "blunt object": ["a baseball bat", "a metal pipe", "a blunt object"], "vehicle": ["a car", "a dark sedan"],
    "hands/fists": ["fists", "his hands"], "bottle": ["a bottle", "a broken bottle"], "other": ["an unknown object"],
}
APPROACH = ["approached the victim on foot", "walked up from behind", "pulled up in a car", "rode up on a bicycle",
            "waited outside", "followed the victim", "knocked on the door", "started an argument"]
TARGET = ["near the entrance", "at the bus stop", "in the parking lot", "in the alley", "on the sidewalk",
          "outside the store", "in the gangway", "at the gas pump"]
ACTION = ["threatened the victim", "struck the victim", "demanded property", "pointed a weapon",
          "displayed a weapon", "fired shots", "attacked the victim"]
GETAWAY = ["fled on foot", "fled in a vehicle", "fled eastbound", "fled westbound", "ran through the alley",
           "left in a grey SUV", "fled northbound on foot"]
SOURCES = np.array(["arrests", "field_interviews", "court", "intel"], dtype=object)


def _variant(first: str, last: str, dob: date, rng: np.random.Generator) -> tuple[str, date, str]:
    """A near-duplicate of a name and date of birth, as data entry produces them."""
    k = int(rng.integers(0, 5))
    if k == 0 and first in ids.NICKNAMES:
        return f"{ids.NICKNAMES[first]} {last}", dob, "nickname"
    if k == 1 and len(last) > 3:
        i = int(rng.integers(1, len(last) - 2))
        return f"{first} {last[:i]}{last[i + 1]}{last[i]}{last[i + 2:]}", dob, "transposed_letters"
    if k == 2 and dob.day <= 12 and dob.day != dob.month:
        return f"{first} {last}", date(dob.year, dob.day, dob.month), "day_month_swapped"
    if k == 3:
        return f"{last.upper()}, {first.upper()}", dob, "reordered_upper"
    return f"{first} {chr(65 + int(rng.integers(0, 26)))}. {last}", dob + timedelta(days=int(rng.choice([-1, 1]))), "middle_initial_dob_off_by_one"


def _dob(rng: np.random.Generator, n: int, lo: int = 1962, hi: int = 2001) -> list[date]:
    start = date(lo, 1, 1).toordinal()
    return [date.fromordinal(int(x)) for x in rng.integers(start, date(hi, 12, 31).toordinal(), n)]


def _mo(rng: np.random.Generator, weapon: str, parts: tuple[int, int, int, int] | None = None) -> str:
    a, t, c, g = parts if parts is not None else tuple(int(rng.integers(0, len(x))) for x in (APPROACH, TARGET, ACTION, GETAWAY))
    if parts is not None and rng.random() < 0.35:  # the same offender is not always written up the same way
        g = int(rng.integers(0, len(GETAWAY)))
    phrase = WEAPON_PHRASE[weapon][int(rng.integers(0, len(WEAPON_PHRASE[weapon])))]
    return f"Offender {APPROACH[a]} {TARGET[t]}, {ACTION[c]} with {phrase} and {GETAWAY[g]}."


def generate_people(w: World, rng: np.random.Generator, account_numbers: np.ndarray, account_owner: np.ndarray,
                    handle_phone: np.ndarray, handles: np.ndarray, first_name: np.ndarray,
                    last_name: np.ndarray) -> dict[str, pa.Table]:
    """Persons, incident enrichment and the series / duplicate truth tables."""
    s = w.settings
    acct_of = {int(p): a for p, a in zip(account_owner.tolist(), account_numbers.tolist())}
    handle_of = {int(p): h for p, h in zip(handle_phone.tolist(), handles.tolist())}
    pid_pool = ids.unique_ints(rng, 10**7, 10 * (w.n_phones + s.n_other_persons) + 100)
    next_pid = iter(pid_pool.tolist())
    rows: list[dict] = []
    person_of_phone: dict[int, str] = {}

    def add(phone: int, role: str, first: str, last: str, dob: date) -> str:
        pid = f"P{next(next_pid):07d}"
        num = w.numbers[phone]
        shown = ids.national_format(np.array([num]))[0] if rng.random() < 0.5 else num
        rows.append({"person_id": pid, "name": f"{first} {last}", "first": first, "last": last,
                     "date_of_birth": dob, "role": role, "phones": [shown],
                     "accounts": [acct_of[phone]] if phone in acct_of else [],
                     "handles": [handle_of[phone]] if phone in handle_of else [],
                     "source_system": "arrests" if role == "offender" else "case_reports"})
        person_of_phone[phone] = pid
        return pid

    gm = np.concatenate(w.members) if w.members else np.zeros(0, np.int64)
    fn, ln = first_name[gm], last_name[gm]
    for p, f, l, d in zip(gm.tolist(), fn.tolist(), ln.tolist(), _dob(rng, len(gm), 1980, 2001)):
        add(p, "offender", f, l, d)
    outside = np.flatnonzero(w.group_of_phone < 0)
    picks = rng.choice(outside, min(len(outside), s.n_series + s.n_other_persons), replace=False)
    series_phone, other_phone = picks[: s.n_series], picks[s.n_series:]
    fn, ln = first_name[picks].tolist(), last_name[picks].tolist()
    dobs = _dob(rng, len(picks))
    series_pid = [add(int(p), "offender", fn[i], ln[i], dobs[i]) for i, p in enumerate(series_phone.tolist())]
    victim_pid = []
    for j, p in enumerate(other_phone.tolist()):
        i = len(series_phone) + j
        role = "victim" if rng.random() < 0.7 else "witness"
        pid = add(p, role, fn[i], ln[i], dobs[i])
        if role == "victim":
            victim_pid.append(pid)
    # near-duplicates of offender records
    dup_rows = []
    offenders = [r for r in rows if r["role"] == "offender"]
    for r in [offenders[i] for i in np.flatnonzero(rng.random(len(offenders)) < s.duplicate_fraction)]:
        name, dob, how = _variant(r["first"], r["last"], r["date_of_birth"], rng)
        pid = f"P{next(next_pid):07d}"
        rows.append({**r, "person_id": pid, "name": name, "date_of_birth": dob,
                     "phones": r["phones"] if rng.random() < 0.5 else [],
                     "accounts": [], "handles": r["handles"] if rng.random() < 0.3 else [],
                     "source_system": str(rng.choice(SOURCES[1:]))})
        dup_rows.append((pid, r["person_id"], how))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    persons = pa.table({
        "person_id": pa.array([r["person_id"] for r in rows], pa.string()),
        "name": pa.array([r["name"] for r in rows], pa.string()),
        "date_of_birth": pa.array([r["date_of_birth"] for r in rows], pa.date32()),
        "role": pa.array([r["role"] for r in rows], pa.string()),
        "phones": pa.array([r["phones"] for r in rows], pa.list_(pa.string())),
        "accounts": pa.array([r["accounts"] for r in rows], pa.list_(pa.string())),
        "handles": pa.array([r["handles"] for r in rows], pa.list_(pa.string())),
        "source_system": pa.array([r["source_system"] for r in rows], pa.string()),
    })
    dups = pa.table({"person_id": pa.array([d[0] for d in dup_rows], pa.string()),
                     "duplicate_of": pa.array([d[1] for d in dup_rows], pa.string()),
                     "variation": pa.array([d[2] for d in dup_rows], pa.string())})

    # --- linked series over real incidents, and enrichment of every window incident ---
    inc = w.inc
    n_inc = len(inc.t)
    weapon = rng.choice(WEAPONS, n_inc, p=WEAPON_P)
    mo = np.array([_mo(rng, wp) for wp in weapon.tolist()], dtype=object)
    offender_ids: list[list[str] | None] = [None] * n_inc
    used = np.zeros(n_inc, bool)
    coloc = w.truth.get("colocations")
    if coloc is not None and coloc.num_rows:
        id_to_i = {v: i for i, v in enumerate(inc.incident_id.tolist())}
        for iid, mid in zip(coloc["incident_id"].to_pylist(), coloc["member_id"].to_pylist()):
            i = id_to_i[iid]
            used[i] = True
            g, m = (int(x) for x in mid[1:].split("-M"))
            if offender_ids[i] is None and rng.random() < 0.3:
                offender_ids[i] = [person_of_phone[int(w.members[g][m])]]
    series_rows = []
    if n_inc:
        tree = cKDTree(np.column_stack([inc.x, inc.y]))
        for si, pid in enumerate(series_pid):
            free = np.flatnonzero(~used)
            if len(free) == 0:
                break
            seed_i = int(rng.choice(free))
            k = int(rng.integers(s.series_size[0], s.series_size[1] + 1))
            near = tree.query_ball_point([inc.x[seed_i], inc.y[seed_i]], r=1500.0)
            near = [j for j in near if not used[j]]
            if len(near) < s.series_size[0]:
                continue
            d = np.hypot(inc.x[near] - inc.x[seed_i], inc.y[near] - inc.y[seed_i])
            chosen = np.array(near)[np.argsort(d, kind="stable")[:k]]
            used[chosen] = True
            wp = str(rng.choice(WEAPONS[:3]))
            parts = tuple(int(rng.integers(0, len(x))) for x in (APPROACH, TARGET, ACTION, GETAWAY))
            for j in chosen.tolist():
                weapon[j] = wp
                mo[j] = _mo(rng, wp, parts)
                if rng.random() < 0.35:
                    offender_ids[j] = [pid]
                series_rows.append((inc.incident_id[j], f"S{si:03d}", pid))
    victims = [[str(rng.choice(victim_pid))] if victim_pid and rng.random() < 0.6 else None for _ in range(n_inc)]
    enrichment = pa.table({
        "incident_id": pa.array(inc.incident_id, pa.string()),
        "offender_ids": pa.array(offender_ids, pa.list_(pa.string())),
        "victim_ids": pa.array(victims, pa.list_(pa.string())),
        "mo_text": pa.array(mo, pa.string()),
        "weapon": pa.array(weapon, pa.string()),
    })
    series = pa.table({"incident_id": pa.array([r[0] for r in series_rows], pa.string()),
                       "series_id": pa.array([r[1] for r in series_rows], pa.string()),
                       "offender_person_id": pa.array([r[2] for r in series_rows], pa.string())})
    return {"persons": persons, "incident_enrichment": enrichment, "series": series, "person_duplicates": dups}
