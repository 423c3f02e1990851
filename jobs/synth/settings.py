"""Record types of the synthetic-feed generator: its settings and its output."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa


@dataclass(frozen=True)
class SynthSettings:
    """Sizes and rates of the synthetic feeds.

    The defaults make the demo: about 2,500 phones and 400,000 CDR rows over
    four weeks, generated in a few seconds. :meth:`scaled` multiplies the
    population-sized counts (``scale=25`` gives about 10 million CDR rows).
    """

    # time window: the `days` days ending at `end` (default: latest incident)
    days: int = 28
    end: datetime | None = None
    # phones and CDRs
    n_phones: int = 2500
    calls_per_phone_day: float = 3.2  # originated events (voice, sms, data)
    mean_contacts: float = 12.0
    community_size: int = 40
    cdr_chunk_days: int = 7
    # criminal groups
    n_groups: int = 8
    group_size: tuple[int, int] = (4, 8)
    burner_fraction: float = 0.6  # members with at least one burner line
    group_calls_per_member_day: float = 2.5
    plants_per_group: int = 4
    colocation_hours: float = 3.0
    silent_fraction: float = 0.3  # plants where one member's own phone goes silent
    # transactions
    n_accounts: int = 2000
    n_atms: int = 60
    n_rings: int = 4
    ring_size: tuple[int, int] = (4, 7)
    n_mules: int = 20
    n_atm_spikes: int = 5
    # OSINT
    n_handles: int = 1500
    posts_per_handle_day: float = 0.4
    incident_report_fraction: float = 0.05
    incident_announce_fraction: float = 0.01
    n_chatter_bursts: int = 9  # days of 15-40 posts on one topic in one place (truth/osint_bursts)
    # cameras, persons, series
    n_cameras: int = 24
    n_other_persons: int = 400
    duplicate_fraction: float = 0.12
    n_series: int = 10
    series_size: tuple[int, int] = (3, 7)

    def __post_init__(self) -> None:
        for name in ("days", "n_phones", "community_size", "cdr_chunk_days", "n_accounts", "n_atms", "n_handles"):
            if getattr(self, name) < 1:
                raise ValueError(f"SynthSettings.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("group_size", "ring_size", "series_size"):
            lo, hi = getattr(self, name)
            if not 2 <= lo <= hi:
                raise ValueError(f"SynthSettings.{name} must be (low, high) with 2 <= low <= high, got {(lo, hi)}")
        for name in ("burner_fraction", "silent_fraction", "duplicate_fraction",
                     "incident_report_fraction", "incident_announce_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SynthSettings.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.calls_per_phone_day <= 0 or self.mean_contacts < 1:
            raise ValueError("calls_per_phone_day must be > 0 and mean_contacts >= 1")
        if not 0 < self.colocation_hours <= 24:
            raise ValueError(f"colocation_hours must be in (0, 24], got {self.colocation_hours}")

    def scaled(self, scale: float) -> SynthSettings:
        """Return a copy with population-sized counts multiplied by ``scale``."""
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")

        def s(n: int, lo: int = 1) -> int:
            return max(lo, int(round(n * scale)))

        return dataclasses.replace(
            self,
            n_phones=s(self.n_phones, 50),
            n_groups=s(self.n_groups, 1),
            n_accounts=s(self.n_accounts, 50),
            n_atms=s(self.n_atms, 5),
            n_rings=s(self.n_rings, 1),
            n_mules=s(self.n_mules, 2),
            n_atm_spikes=s(self.n_atm_spikes, 1),
            n_handles=s(self.n_handles, 20),
            n_cameras=s(self.n_cameras, 2),
            n_other_persons=s(self.n_other_persons, 10),
            n_series=s(self.n_series, 1),
        )


@dataclass
class SynthFeeds:
    """Raw synthetic feeds (as an agency would export them) plus the planted truth.

    Feed tables hold raw identifiers (phone numbers, IMEIs, IMSIs, account
    numbers, handles, names); ingestion pseudonymises them. Column names are
    listed in ``docs/synthetic-data.md``.
    """

    cell_sites: pa.Table
    cdr_events: pa.Table
    transactions: pa.Table
    atm_terminals: pa.Table
    osint_posts: pa.Table
    cameras: pa.Table
    persons: pa.Table
    incident_enrichment: pa.Table
    # planted truth
    truth_group_members: pa.Table
    truth_burners: pa.Table
    truth_imei_swaps: pa.Table
    truth_colocations: pa.Table
    truth_accounts: pa.Table
    truth_ring_transfers: pa.Table
    truth_atm_spikes: pa.Table
    truth_series: pa.Table
    truth_osint_mentions: pa.Table
    truth_osint_places: pa.Table  # posts whose text names a place, as written (jobs/synth/osint.py)
    truth_osint_bursts: pa.Table  # chatter bursts: topic, local day, place, the posts (jobs/synth/osint.py)
    truth_person_duplicates: pa.Table
    settings: SynthSettings
    seed: int

    def feeds(self) -> dict[str, pa.Table]:
        """Feed tables by name (what an agency would hand over)."""
        return {
            "cell_sites": self.cell_sites,
            "cdr_events": self.cdr_events,
            "transactions": self.transactions,
            "atm_terminals": self.atm_terminals,
            "osint_posts": self.osint_posts,
            "cameras": self.cameras,
            "persons": self.persons,
            "incident_enrichment": self.incident_enrichment,
        }

    def truth(self) -> dict[str, pa.Table]:
        """Planted ground-truth tables by name (``truth_`` prefix dropped)."""
        return {
            f.name[len("truth_"):]: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.startswith("truth_")
        }
