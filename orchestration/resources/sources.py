"""The catalogue of source specs the deployment ingests, and where their files land."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from jobs.ingest.spec import SourceSpec, load_spec


class SourceCatalog(dg.ConfigurableResource):
    """Source specs (YAML files) by canonical table, and the landing folder."""

    spec_paths: list[str] = Field(description="YAML source spec files.")
    landing: str = Field(default="landing", description="Landing folder: <landing>/<source>/<YYYY-MM-DD>/files.")
    data_roots: list[str] = Field(default_factory=list,
                                  description="Folders specs' files and boundaries may point into (CRIMEFUSION_DATA_ROOTS).")
    _cache: dict = PrivateAttr(default_factory=dict)

    def specs(self, table: str | None = None) -> list[SourceSpec]:
        if "all" not in self._cache:
            roots = tuple(Path(r) for r in self.data_roots)
            self._cache["all"] = [load_spec(p, data_roots=roots) for p in self.spec_paths]
        return [s for s in self._cache["all"] if table is None or s.table == table]

    def spec(self, name: str) -> SourceSpec:
        for s in self.specs():
            if s.name == name:
                return s
        raise KeyError(f"no source spec named {name!r}; known: {', '.join(s.name for s in self.specs())}")

    def tables(self) -> list[str]:
        """Canonical tables that have at least one spec, in a stable order."""
        return sorted({s.table for s in self.specs()}, key=lambda t: (t != "incidents", t))

    def landing_path(self) -> Path:
        return Path(self.landing).expanduser().resolve()
