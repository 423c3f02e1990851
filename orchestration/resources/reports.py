"""Where runs write files for people and tools, under the state folder (``CRIMEFUSION_HOME``).

=====================================  ==========================================================
``reports/<domain>/``                  maps, plots and pages of a domain (:meth:`Reports.folder`)
``exports/<domain>/``                  GIS exports (GeoParquet) read by QGIS (:meth:`Reports.exports`)
``models/<name>/``                     model files kept beside MLflow (:meth:`Reports.models`)
``notifications/<name>.jsonl``         notifications, one JSON line each (:meth:`Reports.notifications`)
=====================================  ==========================================================

The folder comes from the settings through the resource factory
(``orchestration/resources/factory.py``), so assets, checks and sensors never
read the environment, and a test points a run elsewhere by passing
``Reports(home=...)`` instead of patching ``CRIMEFUSION_HOME``.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field


class Reports(dg.ConfigurableResource):
    """The state folder's output side: reports and figures, GIS exports, model files, notifications."""

    home: str = Field(description="The state folder (CRIMEFUSION_HOME); a relative path is resolved when used.")
    tiles: str | None = Field(None, description=(
        "Tile URL template of the maps' base layer (CRIMEFUSION_TILES); none: the maps draw the study "
        "area's boundaries with their labels."))

    def root(self) -> Path:
        """The state folder, resolved."""
        return Path(self.home).expanduser().resolve()

    def _made(self, *parts: str) -> Path:
        path = self.root().joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def folder(self, domain: str) -> Path:
        """``<home>/reports/<domain>``, created: where a domain's assets write maps, plots and pages."""
        return self._made("reports", domain)

    def exports(self, domain: str) -> Path:
        """``<home>/exports/<domain>``, created: GIS layers for tools outside the lakehouse."""
        return self._made("exports", domain)

    def models(self, name: str) -> Path:
        """``<home>/models/<name>``, created: model files (a fitted linkage model, a cached detector)."""
        return self._made("models", name)

    def notifications(self, name: str) -> Path:
        """``<home>/notifications/<name>.jsonl`` (its folder created): one JSON line per notification."""
        return self._made("notifications") / f"{name}.jsonl"
