"""Entry point of the synthetic-feed generator."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from jobs.synth import identifiers as ids
from jobs.synth.cameras import generate_cameras
from jobs.synth.cdr import iter_cdr_chunks
from jobs.synth.geometry import cell_sites_table
from jobs.synth.osint import generate_posts
from jobs.synth.people import generate_people
from jobs.synth.settings import SynthFeeds, SynthSettings
from jobs.synth.transactions import generate_ledger
from jobs.synth.world import World, build_world


def _settings(scale: float | SynthSettings) -> SynthSettings:
    if isinstance(scale, SynthSettings):
        return scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a number or SynthSettings, got {type(scale).__name__}")
    return SynthSettings().scaled(float(scale))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def build(incidents: pa.Table, *, seed: int, scale: float | SynthSettings = 1.0) -> World:
    """Build the synthetic world (cells, phones, groups, plants) without generating feeds.

    Use with :func:`iter_cdr` to stream CDRs chunk by chunk at large scales.
    """
    return build_world(incidents, _settings(scale), _check_seed(seed))


def iter_cdr(world: World) -> Iterator[pa.Table]:
    """CDR feed of a built world, in time order, one Arrow table per ``cdr_chunk_days``."""
    return iter_cdr_chunks(world)


def generate(incidents: pa.Table, *, seed: int, scale: float | SynthSettings = 1.0,
             include_cdr: bool = True) -> SynthFeeds:
    """Generate every synthetic feed and its planted truth over real incidents.

    Parameters
    ----------
    incidents
        Arrow table with ``incident_id``, ``occurred_at`` (tz-aware, UTC),
        ``lon``, ``lat``, ``category``, ``location_type``; e.g. silver
        ``incidents`` or :func:`jobs.synth.incidents.from_crimemapping`.
    seed
        Seed of every random stream; the same seed, settings and incidents
        give identical tables.
    scale
        A multiplier of the demo sizes (``1.0``: ~2,500 phones, ~0.4 M CDR
        rows over 28 days) or a full :class:`SynthSettings`.
    include_cdr
        Set False to leave ``cdr_events`` empty and stream it with
        :func:`build` + :func:`iter_cdr` instead (large scales).

    Returns
    -------
    SynthFeeds
        Raw feed tables (unpseudonymised identifiers) and truth tables.

    Notes
    -----
    Routines (home at night, work on weekday office hours), diurnal call
    curves and community-structured contact graphs follow the patterns
    measured on operator CDRs by Gonzalez, Hidalgo & Barabasi, "Understanding
    individual human mobility patterns", Nature 453 (2008) and Onnela et al.,
    "Structure and tie strengths in mobile communication networks", PNAS 104
    (2007). Fraud typologies (cycles, mules, cash-out) follow FATF, "Money
    laundering using trade and financial schemes". See docs/synthetic-data.md.
    """
    w = build(incidents, seed=seed, scale=scale)
    s = w.settings
    cdr = pa.concat_tables(list(iter_cdr_chunks(w))) if include_cdr else None
    ledger = generate_ledger(w, np.random.default_rng([w.seed, 7]))
    rng = np.random.default_rng([w.seed, 8])
    # handles: every group member and a sample of the population
    gm = np.concatenate(w.members) if w.members else np.zeros(0, np.int64)
    others = np.setdiff1d(rng.choice(w.n_phones, min(w.n_phones, s.n_handles), replace=False), gm)
    handle_phone = np.concatenate([gm, others])[: max(s.n_handles, len(gm))]
    first, last = ids.names(rng, w.n_phones)  # the subscriber's name, shared by every record of them
    handles = ids.handles(rng, first[handle_phone], last[handle_phone])
    posts, mentions, places, bursts = generate_posts(w, np.random.default_rng([w.seed, 9]), handle_phone, handles)
    cams = generate_cameras(w, np.random.default_rng([w.seed, 10]))
    people = generate_people(w, np.random.default_rng([w.seed, 11]), ledger.account_numbers,
                             ledger.account_owner, handle_phone, handles, first, last)
    if cdr is None:
        from jobs.synth.cdr import CDR_COLUMNS  # empty table of the right shape
        first_chunk = next(iter_cdr_chunks(w))
        cdr = first_chunk.slice(0, 0).select(list(CDR_COLUMNS))
    return SynthFeeds(
        cell_sites=cell_sites_table(w.net), cdr_events=cdr, transactions=ledger.transactions,
        atm_terminals=ledger.atm_terminals, osint_posts=posts, cameras=cams, persons=people["persons"],
        incident_enrichment=people["incident_enrichment"],
        truth_group_members=w.truth["group_members"], truth_burners=w.truth["burners"],
        truth_imei_swaps=w.truth["imei_swaps"], truth_colocations=w.truth["colocations"],
        truth_accounts=ledger.truth_accounts, truth_ring_transfers=ledger.truth_ring_transfers,
        truth_atm_spikes=ledger.truth_atm_spikes, truth_series=people["series"],
        truth_osint_mentions=mentions, truth_osint_places=places, truth_osint_bursts=bursts, truth_person_duplicates=people["person_duplicates"],
        settings=s, seed=w.seed,
    )
