"""Compute: where kernels run.

``embedded`` (default) runs kernels in-process on SedonaDB and Arrow. The
distributed ``spark`` engine (same kernels per partition, SedonaDB inside each
Spark task) is selected by the same resource key when it is configured.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr


class Compute(dg.ConfigurableResource):
    """The engine kernels run on and the SedonaDB context they share within a run."""

    engine: str = "embedded"
    _sedona = PrivateAttr(default=None)

    def sedona(self):
        """A SedonaDB context, created once per process and reused by every kernel call."""
        if self.engine != "embedded":
            raise ValueError(f"compute engine {self.engine!r} is not available in this build; use 'embedded'")
        if self._sedona is None:
            import sedonadb

            self._sedona = sedonadb.connect()
        return self._sedona
