"""The hotspot domain's configuration and inputs: which feed it forecasts, its study area, gold features.

The assets (``orchestration/hotspots/assets.py``), the champion gate
(``checks.py``) and the CLI read their inputs through these functions, so they
all forecast the same feed over the same cells with the same parameters.
"""

from typing import Literal

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog

MODEL_NAME = "hotspot_lgbm"
EXPERIMENT = "hotspots"
VALID_WEEKS = 8  # last training weeks that choose the model's settings (time-ordered validation)
INCIDENT_COLUMNS = ["occurred_at", "h3", "lon", "lat", "category", "location_type"]


class HotspotConfig(dg.Config):
    """Settings shared by the hotspot assets (the same defaults everywhere)."""

    source: str = Field("", description="Incident source (spec name) to forecast; empty: the first incident spec "
                                        "with a study_area (the bundled demo's is Chicago's).")
    resolution: int = Field(9, description="H3 resolution of the forecast cells.")
    train_weeks: int = Field(78, description="Training weeks before the origin (kept small for `make run`).")
    burn_in_weeks: int = Field(26, description="Weeks after the first incident left out so trailing windows fill.")
    backtest_weeks: int = Field(6, ge=1, description=(
        "Weeks of the rolling-origin backtest before the origin; hotspot_model holds the same weeks out of "
        "training, and the champion gate scores both models on those of them that neither trained on."))
    model_name: str = Field(MODEL_NAME, description="Registered MLflow model name.")
    patrol_cells_per_shift: int = Field(10, description="Patrol capacity: cells covered per 8-hour shift.")
    top_share: float = Field(0.01, description="Share of the study area outlined as top cells on the maps.")
    seed: int = 0


class CellFeaturesConfig(HotspotConfig):
    """:class:`HotspotConfig` plus the period of the ``cell_features`` rows."""

    period: Literal["week", "day"] = Field("week", description=(
        "Period of the rows: `week` (Monday 00:00 UTC; what hotspot_model trains on) or `day` (00:00 UTC, "
        "the same look-backs counted in days: roll_7, roll_28, roll_91, roll_364)."))
    train_days: int = Field(28, ge=1, description="period: day only, days of rows before the origin.")


# -- shared inputs ---------------------------------------------------------------------

def forecast_source(sources: SourceCatalog, name: str = ""):
    """The incident spec to forecast: ``name``, or the first incident spec with a study area.

    A name no spec has, or a spec without a study area, is a configuration error: raised as a
    ``dagster.Failure`` that is not retried (a retry cannot fix it).
    """
    specs = [s for s in sources.specs("incidents")]
    if name:
        found = [s for s in specs if s.name == name]
        if not found:
            raise dg.Failure(f"hotspot config source {name!r} is not an incident spec of this deployment; known: "
                             f"{', '.join(s.name for s in specs) or 'none'}", allow_retries=False)
        if found[0].study_area is None:
            raise dg.Failure(f"source {name!r} has no study_area; hotspot forecasting needs its boundary layer",
                             allow_retries=False)
        return found[0]
    with_area = [s for s in specs if s.study_area is not None]
    if not with_area:
        raise dg.Failure("no incident spec declares a study_area: hotspot forecasting needs a boundary layer "
                         "(add study_area to a spec, see docs/data-model.md)", allow_retries=False)
    return with_area[0]


def map_layers(context, sources: SourceCatalog, config: HotspotConfig) -> tuple[list, str]:
    """The forecast source's ``map_layers`` for the maps' base, and a note for the metadata. A layer that
    cannot be read does not stop the forecast: the maps are drawn without it and the note (and the log)
    say why."""
    from jobs.ingest.spec import SpecError
    from orchestration.ingest.boundaries import read_map_layers

    spec = forecast_source(sources, config.source)
    try:
        layers = read_map_layers(spec)
    except SpecError as exc:
        context.log.warning(f"maps drawn without the spec's map_layers: {exc}")
        return [], f"not drawn: {exc}"
    return layers, ", ".join(f"{layer.name} ({len(layer.geometry)} features)" for layer in layers) or "none"


def study_inputs(lakehouse: Lakehouse, sources: SourceCatalog, config: HotspotConfig, resolution: int | None = None,
                 versions: dict | None = None):
    """``(incidents, cells, districts, timezone)`` of the configured source (``districts``: its boundary rows,
    ``area_id``, ``name``, ``geometry``, for the maps); cells at ``resolution``
    (default the config's: a served model passes its own).

    ``versions``: a dict that receives the Delta versions read (``incidents_version``,
    ``police_districts_version``), for provenance; versions already in it are read instead of the
    latest (how ``crimefusion forecast-explain`` reconstructs a served forecast)."""
    from jobs.grid.cells import study_area_cells
    from orchestration.ingest.boundaries import layer_name

    spec = forecast_source(sources, config.source)
    layer = layer_name(spec)
    given = versions or {}
    v_districts = given.get("police_districts_version")
    v_districts = lakehouse.version("reference", "police_districts") if v_districts is None else int(v_districts)
    v_incidents = given.get("incidents_version")
    v_incidents = lakehouse.version("silver", "incidents") if v_incidents is None else int(v_incidents)
    if versions is not None:  # what was read, for the outputs' provenance
        versions.update(incidents_version=v_incidents, police_districts_version=v_districts)
    districts = lakehouse.read("reference", "police_districts", filters=[("layer", "=", layer)], version=v_districts)
    if districts.num_rows == 0:
        raise ValueError(f"reference/police_districts has no layer {layer!r}; materialise police_districts first")
    incidents = lakehouse.read("silver", "incidents", columns=INCIDENT_COLUMNS,
                               filters=[("source", "=", spec.name)], version=v_incidents)
    incidents = incidents.filter(pc.is_valid(incidents.column("h3")))
    if incidents.num_rows == 0:
        raise ValueError(f"silver/incidents has no located rows of source {spec.name!r}")
    cells = study_area_cells(districts.column("geometry"), resolution=resolution or config.resolution)
    return incidents, cells, districts.select(["area_id", "name", "geometry"]), spec.local_timezone


def gold_features(lakehouse: Lakehouse) -> tuple[pa.Table, "CellFeatureParams", int]:
    """Gold ``cell_features``, the parameters its rows were built with, and the table version both were read at."""
    from jobs.grid.params import COMMIT_KEY, CellFeatureParams

    version = lakehouse.version("gold", "cell_features")
    feats = lakehouse.read("gold", "cell_features", version=version)
    text = lakehouse.written_with("gold", "cell_features", COMMIT_KEY, version)
    if text is None:
        raise ValueError(f"gold/cell_features (version {version}) was written without its feature parameters "
                         f"(commit info {COMMIT_KEY!r}; tables written before they were stored lack it): "
                         "materialise cell_features again")
    return feats, CellFeatureParams.from_json(text), version


def week_key(ts: pd.Timestamp) -> str:
    """A week partition's key: its Monday as ``YYYY-MM-DD`` (the local date when ``ts`` carries the study area's
    zone, as :func:`local_week_start` gives it)."""
    return ts.date().isoformat()


def local_week_start(key: str, timezone: str) -> pd.Timestamp:
    """The instant a week partition starts: 00:00 local time of ``timezone`` on its Monday ``key``, tz-aware in
    that zone (so ``week_key`` gives ``key`` back)."""
    return pd.Timestamp(key).tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")


def period_span(freq: str, timezone: str, origin: pd.Timestamp, n_periods: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last start of the ``n_periods`` periods (``freq``, local boundaries of ``timezone``) before
    ``origin`` (a period start): counted on the grid, not in fixed hours, so a change of the clocks in between
    keeps them on local midnights."""
    import numpy as np

    from jobs.grid.cell_features import period_grid

    pg = period_grid(freq, timezone=timezone)
    p = int(pg.index_of(np.array([pd.Timestamp(origin).value]))[0])
    return (pd.Timestamp(int(pg.start_ns(p - n_periods)), tz="UTC"),
            pd.Timestamp(int(pg.start_ns(p - 1)), tz="UTC"))


def week_rows(lakehouse: Lakehouse, table: str, key: str) -> tuple[pa.Table, int | None, int]:
    """Gold ``table``'s rows of week ``key``, read at its current Delta version, that version, and the H3
    resolution of their cells (the served model's, which a later step keeps); an error naming the week when
    it has none."""
    import h3

    version = lakehouse.version("gold", table)
    rows = lakehouse.read("gold", table, filters=[("week", "=", key)], version=version)
    if rows.num_rows == 0:
        raise ValueError(f"gold/{table} has no rows for week {key}; materialise that partition first")
    return rows, version, h3.get_resolution(rows.column("h3")[0].as_py())


def with_provenance(table: pa.Table, provenance: dict) -> pa.Table:
    """``table`` with a constant column per entry of ``provenance``: Delta versions of the inputs
    (``*_version``, int64) and the model's name, version and method (strings)."""
    for name, value in provenance.items():
        typ = pa.int64() if name.endswith("_version") and name != "model_version" else pa.string()
        table = table.append_column(name, pa.array([value] * table.num_rows, typ))
    return table
