"""How a served forecast was made: one cell and week of gold ``hotspot_forecast``, traced and rebuilt.

Each forecast row carries the registered model that made it (``model_name``,
``model_version``, ``method``) and the Delta versions of the inputs it read
(``incidents_version``, ``police_districts_version``). :func:`explain_forecast`
reads the row, the model's registry record (gate decision, margin, run, training
cut-off), the inputs at those versions (Delta time travel), and scores the cell
again with that model version, so the served number is shown to be reproducible,
not just described. ``crimefusion forecast-explain`` prints it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow.compute as pc

from orchestration.hotspots.inputs import HotspotConfig, local_week_start, study_inputs
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog

#: Input tables a forecast row records the version of, by its column.
INPUTS = {"incidents_version": ("silver", "incidents"), "police_districts_version": ("reference", "police_districts")}


class ExplainError(LookupError):
    """The forecast row or what it points at cannot be found; the message says what is missing."""


def week_of(day: dt.date) -> str:
    """The key of the forecast week holding the local date ``day``: its Monday, ``YYYY-MM-DD``."""
    return (day - dt.timedelta(days=day.weekday())).isoformat()


def explain_forecast(lakehouse: Lakehouse, sources: SourceCatalog, tracking_uri: str, cell: str, day: dt.date,
                     *, rebuild: bool = True, config: HotspotConfig | None = None) -> dict:
    """The served row of ``cell`` in the week holding ``day``, its model, its inputs and their versions, and
    (``rebuild``) the same cell scored again from those inputs with that model version."""
    from models.hotspots.serving import load_hotspot_scorer, score_period
    from models.registry import resolve, run_params, version_tags

    if not lakehouse.exists("gold", "hotspot_forecast"):
        raise ExplainError(f"no gold/hotspot_forecast under {lakehouse.root_uri()}: materialise hotspot_forecast first")
    key = week_of(day)
    rows = lakehouse.read("gold", "hotspot_forecast", filters=[("week", "=", key)])
    if rows.num_rows == 0:
        weeks = sorted(set(lakehouse.read("gold", "hotspot_forecast", columns=["week"])["week"].to_pylist()))
        raise ExplainError(f"no forecast for the week of {key}; forecast weeks: {', '.join(weeks[-8:]) or 'none'}")
    n_cells = rows.num_rows
    hit = rows.filter(pc.equal(rows["h3"], cell))
    if hit.num_rows == 0:
        raise ExplainError(f"cell {cell!r} is not among the {n_cells:,} cells forecast for the week of {key} "
                           f"(H3 resolution {_resolution(rows['h3'][0].as_py())})")
    row = hit.to_pylist()[0]
    out = {"cell": cell, "week": key, "served": {k: row.get(k) for k in (
        "expected_count", "risk_rank", "expected_share", "in_top_cells", "drivers")} | {"cells": n_cells},
        "model": {"name": row.get("model_name"), "version": row.get("model_version"), "method": row.get("method")},
        "inputs": {}}
    for column, (layer, table) in INPUTS.items():
        version = row.get(column)
        entry = {"table": f"{layer}/{table}", "version": version}
        if version is not None:
            entry["committed_at"] = _commit_time(lakehouse, layer, table, int(version))
        out["inputs"][column] = entry
    name, number = out["model"]["name"], out["model"]["version"]
    if name is None or number is None or any(row.get(c) is None for c in INPUTS):
        out["provenance"] = "incomplete: the row was written before forecasts recorded their model and inputs"
        out["rebuilt"] = None
        return out
    version = resolve(tracking_uri, f"models:/{name}/{number}")
    tags = version_tags(tracking_uri, version)
    params = run_params(tracking_uri, version)
    out["model"].update({"run_id": version.run_id, "won_by": tags.get("won_by"),
                         "gate_decision": tags.get("gate_decision"), "trained_to": params.get("trained_to"),
                         "source": params.get("source")})
    out["provenance"] = "complete"
    if not rebuild:
        out["rebuilt"] = None
        return out
    scorer, _, method = load_hotspot_scorer(tracking_uri, version)
    read = {c: int(row[c]) for c in INPUTS}
    cfg = (config or HotspotConfig()).model_copy(update={"source": params.get("source") or ""})
    incidents, cells, _, tz = study_inputs(lakehouse, sources, cfg, resolution=scorer.resolution, versions=read)
    expected, drivers = score_period(scorer, incidents, cells, local_week_start(key, tz))
    pos = cells.column("h3").to_pylist().index(cell)
    again = float(expected[pos])
    served = float(row["expected_count"])
    out["rebuilt"] = {"expected_count": again, "abs_diff": abs(again - served),
                      "reproduced": bool(abs(again - served) <= 1e-6 * max(1.0, abs(served))),
                      "drivers": drivers[pos] if drivers is not None else None, "method": method}
    return out


def _resolution(h3: str) -> int:
    import h3 as h3lib

    return h3lib.get_resolution(h3)


def _commit_time(lakehouse: Lakehouse, layer: str, table: str, version: int) -> str | None:
    """When ``version`` of a table was committed (UTC, ISO 8601), from its Delta history; None when vacuumed."""
    for entry in lakehouse.table(layer, table).history():
        if int(entry.get("version", -1)) == version and entry.get("timestamp") is not None:
            return pd.Timestamp(int(entry["timestamp"]), unit="ms", tz="UTC").isoformat()
    return None
