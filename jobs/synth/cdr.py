"""Call-detail records of the synthetic world, generated in day chunks of vectorised numpy."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.synth.world import World, _concat, durations, sample_hours, two_legs

KIND_NAMES = np.array(["voice", "sms", "data"], dtype=object)
DIR_NAMES = np.array(["out", "in"], dtype=object)

CDR_COLUMNS = ("record_id", "a_number", "b_number", "start_time", "duration_s", "event_type",
               "direction", "cgi", "imei", "imsi")


def _population_events(w: World, days: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Routine events originated by every phone on the given days (Poisson per phone-day)."""
    n = w.n_phones
    factor = np.where(w.weekend[days], 0.85, 1.0)
    cnt = rng.poisson(w.rate[:, None] * factor[None, :])
    total = int(cnt.sum())
    phone = np.repeat(np.repeat(np.arange(n), len(days)), cnt.ravel())
    day = np.repeat(np.tile(days, n), cnt.ravel())
    we = w.weekend[day]
    hour = sample_hours(rng, we)
    t = w.day_start[day] + hour * 3600 + rng.integers(0, 3600, total)
    u = rng.random(total)
    kind = np.where(u < 0.45, 0, np.where(u < 0.8, 1, 2)).astype(np.int8)
    # counterpart: weighted contact (88%), anyone on the network (7%), off-network number (5%)
    v = rng.random(total)
    has = (w.nbr_offs[phone + 1] > w.nbr_offs[phone])
    idx = np.searchsorted(w.nbr_key, phone + rng.random(total), side="left")
    idx = np.clip(idx, 0, len(w.nbr) - 1)
    contact = np.where(has, w.nbr[idx], rng.integers(0, n, total))
    n_ext = len(w.numbers) - w.n_lines
    b = np.where(v < 0.88, contact,
                 np.where(v < 0.95, rng.integers(0, n, total), w.n_lines + rng.integers(0, n_ext, total)))
    b = np.where(b == phone, w.n_lines + rng.integers(0, n_ext, total), b)
    cell_a = w.locate(phone, hour, we, rng)
    on_net = b < w.n_lines
    cell_b = np.full(total, -1, dtype=np.int64)
    sel = on_net & (kind != 2)
    cell_b[sel] = w.locate(b[sel], hour[sel], we[sel], rng)
    return two_legs(t, phone, b, kind, durations(rng, kind), cell_a, cell_b, w.n_lines)


def _apply_overrides(w: World, ev: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Move planted lines into the incident's sector, and silence phones switched off."""
    ov = w.overrides
    if len(ov["line"]) == 0 or len(ev["t"]) == 0:
        return ev
    lines = np.unique(ov["line"])
    touched = np.flatnonzero(np.isin(ev["served"], lines) | np.isin(ev["a"], lines) | np.isin(ev["b"], lines))
    if len(touched) == 0:
        return ev
    t, srv, a, b = ev["t"][touched], ev["served"][touched], ev["a"][touched], ev["b"][touched]
    cell = ev["cell"][touched].copy()
    drop = np.zeros(len(touched), bool)
    for i in np.argsort(ov["cell"] < 0, kind="stable"):  # moves first, silences last
        ln, t0, t1, c = ov["line"][i], ov["t0"][i], ov["t1"][i], ov["cell"][i]
        inwin = (t >= t0) & (t <= t1)
        if c >= 0:
            cell[inwin & (srv == ln)] = c
        else:
            drop |= inwin & ((a == ln) | (b == ln))
    ev["cell"][touched] = cell
    if drop.any():
        keep = np.ones(len(ev["t"]), bool)
        keep[touched[drop]] = False
        ev = {k: v[keep] for k, v in ev.items()}
    return ev


def _to_table(w: World, ev: dict[str, np.ndarray], first_id: int, cell_ids: pa.Array,
              numbers: pa.Array, imsi: pa.Array, imei: pa.Array) -> pa.Table:
    n = len(ev["t"])
    rid = pc.utf8_lpad(pa.array(np.arange(first_id, first_id + n, dtype=np.int64)).cast(pa.string()), 12, "0")
    b = ev["b"]
    imei_i = w.imei_index(ev["served"], ev["t"])
    return pa.table({
        "record_id": pc.binary_join_element_wise("CDR", rid, ""),
        "a_number": numbers.take(pa.array(ev["a"])),
        "b_number": numbers.take(pa.array(b, mask=b < 0)),
        "start_time": pa.array(ev["t"] * 1_000_000, pa.timestamp("us", tz="UTC")),
        "duration_s": pa.array(ev["dur"], pa.int32()),
        "event_type": pa.array(KIND_NAMES).take(pa.array(ev["kind"].astype(np.int64))),
        "direction": pa.array(DIR_NAMES).take(pa.array(ev["dir"].astype(np.int64))),
        "cgi": cell_ids.take(pa.array(ev["cell"])),
        "imei": imei.take(pa.array(imei_i)),
        "imsi": imsi.take(pa.array(ev["served"])),
    })


def iter_cdr_chunks(w: World) -> Iterator[pa.Table]:
    """Yield the CDR feed in time order, ``cdr_chunk_days`` days per Arrow table.

    Each chunk draws from its own seeded stream, so chunks are identical
    whether generated alone or in sequence, and memory stays bounded by the
    chunk size (about 150 MB of numpy arrays per million rows).
    """
    s = w.settings
    cell_ids = pa.array(w.net.cell_ids(), pa.string())
    numbers = pa.array(w.numbers, pa.string())
    imsi = pa.array(w.imsi, pa.string())
    imei = pa.array(w.imei, pa.string())
    extra = w.extra_events
    next_id = 0
    for ci, d0 in enumerate(range(0, s.days, s.cdr_chunk_days)):
        days = np.arange(d0, min(d0 + s.cdr_chunk_days, s.days))
        rng = np.random.default_rng([w.seed, 100, ci])
        ev = _population_events(w, days, rng)
        lo, hi = w.day_start[days[0]], w.day_start[days[-1]] + 86_400
        sel = (extra["t"] >= lo) & (extra["t"] < hi)
        ev = _concat([ev, {k: v[sel] for k, v in extra.items()}])
        ev = _apply_overrides(w, ev)
        o = np.lexsort((ev["dir"], ev["a"], ev["t"]))
        ev = {k: v[o] for k, v in ev.items()}
        yield _to_table(w, ev, next_id, cell_ids, numbers, imsi, imei)
        next_id += len(ev["t"])
