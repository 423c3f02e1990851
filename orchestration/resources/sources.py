"""The catalogue of source specs the deployment ingests."""

from __future__ import annotations

from functools import cached_property

import dagster as dg
from pydantic import Field, PrivateAttr

from jobs.ingest.spec import SourceSpec, load_spec


class SourceCatalog(dg.ConfigurableResource):
    """Source specs (YAML files) by canonical table."""

    spec_paths: list[str] = Field(description="YAML source spec files.")
    _cache: dict = PrivateAttr(default_factory=dict)

    def specs(self, table: str | None = None) -> list[SourceSpec]:
        if "all" not in self._cache:
            self._cache["all"] = [load_spec(p) for p in self.spec_paths]
        return [s for s in self._cache["all"] if table is None or s.table == table]
