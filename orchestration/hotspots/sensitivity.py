"""Grid sensitivity for the hotspot model cards (#17 item 7): does the choice of grid change which method wins?

``hotspot_model`` ranks the baselines that read only cell positions and times on H3 resolutions 8-10 and
on square cells at two origins, over the last weeks of its source's data
(:func:`models.evaluation.grid_sensitivity.card_grid_sensitivity`), puts it in the learned version's card
and records it in its materialisation (``grid_sensitivity``), from which the champion gate's check reads
it back for the card of a baseline it registers, without computing it again.
"""

from __future__ import annotations

import dagster as dg

from orchestration.hotspots.inputs import HotspotConfig, study_inputs
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog

#: Where the table travels from ``hotspot_model`` to the champion gate's check.
METADATA_KEY = "grid_sensitivity"


def measure(lakehouse: Lakehouse, sources: SourceCatalog, config: HotspotConfig):
    """The card's grid sensitivity of ``config``'s source, its incidents to the week of the last one; None
    when fewer than two weeks of data precede it."""
    from jobs.grid.cell_features import data_origin
    from models.evaluation.grid_sensitivity import card_grid_sensitivity

    incidents, _, districts, tz = study_inputs(lakehouse, sources, config)
    return card_grid_sensitivity(incidents, districts.column("geometry"), data_origin(incidents, timezone=tz),
                                 timezone=tz, resolution=config.resolution)


def metadata(grid) -> dict:
    """The materialisation's entries: the table and verdict as JSON, the verdict as text; none without one."""
    if grid is None:
        return {}
    return {METADATA_KEY: dg.MetadataValue.json(grid.to_dict()),
            "grid_sensitivity_verdict": dg.MetadataValue.text(grid.verdict)}


def recorded(instance: dg.DagsterInstance):
    """The grid sensitivity ``hotspot_model``'s latest materialisation recorded, or None."""
    from models.evaluation.grid_sensitivity import GridSensitivity

    event = instance.get_latest_materialization_event(dg.AssetKey("hotspot_model"))
    meta = event.asset_materialization.metadata if event is not None and event.asset_materialization else {}
    return GridSensitivity.from_dict(meta[METADATA_KEY].value) if METADATA_KEY in meta else None
