"""What a deployment ingests, which decides which domains' definitions load."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.resources.sources import SourceCatalog

__all__ = ["Feeds"]


@dataclass(frozen=True)
class Feeds:
    """The canonical tables with at least one source spec, and those the synthetic generator feeds.

    Each domain's ``definitions.py`` reads it to say what it contributes: the
    analyses of CDRs and transactions load only when those feeds exist, the
    video assets only with camera sites, so a deployment with crime records
    alone gets a clean graph.
    """

    tables: tuple[str, ...] = ()
    synthetic: frozenset[str] = frozenset()

    @classmethod
    def of(cls, sources: SourceCatalog, *, synthetic: bool) -> Feeds:
        """The feeds of a source catalogue; ``synthetic`` (``CRIMEFUSION_SYNTHETIC``) turns the generator on."""
        generated = {s.table for s in sources.specs() if s.name.startswith("synthetic_")} if synthetic else set()
        return cls(tables=tuple(sources.tables()), synthetic=frozenset(generated))

    def has(self, *tables: str) -> bool:
        """Whether every table of ``tables`` has a spec."""
        return set(tables) <= set(self.tables)
