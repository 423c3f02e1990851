"""Series commands: ``crimefusion series-match`` (does a new incident fit a known series?)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["series_match", "read_incident"]


def read_incident(file: Path | None, **options: Any) -> dict[str, Any]:
    """The new incident from a JSON file (one object) overlaid with the non-empty options."""
    incident: dict[str, Any] = {}
    if file is not None:
        try:
            incident = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{file}: cannot read the incident JSON: {exc}") from None
        if not isinstance(incident, dict):
            raise ValueError(f"{file}: expected one JSON object (occurred_at, lon, lat, mo_text...)")
    incident.update({k: v for k, v in options.items() if v is not None})
    return incident


def series_match(
    file: Annotated[Path | None, typer.Option("--file", help="JSON file with the incident's fields.")] = None,
    occurred_at: Annotated[str | None, typer.Option("--occurred-at", help="ISO date-time, UTC if no offset.")] = None,
    lon: Annotated[float | None, typer.Option("--lon")] = None,
    lat: Annotated[float | None, typer.Option("--lat")] = None,
    mo_text: Annotated[str | None, typer.Option("--mo-text", help="Modus-operandi narrative.")] = None,
    weapon: Annotated[str | None, typer.Option("--weapon")] = None,
    category: Annotated[str | None, typer.Option("--category")] = None,
    location_type: Annotated[str | None, typer.Option("--location-type")] = None,
    offender_ids: Annotated[str | None, typer.Option("--offender-ids", help="Comma-separated person ids.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only series of this source.")] = None,
    top: Annotated[int, typer.Option("--top", min=1)] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the matches as JSON here.")] = None,
    lake: Annotated[str | None,
                    typer.Option("--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE or ./lake).")] = None,
) -> None:
    """Does a new incident fit a known crime series? Ranks the series of gold crime_series.

    Reads the lakehouse (--lake, default CRIMEFUSION_LAKE) and the linkage model saved by the
    crime_series asset (CRIMEFUSION_HOME/models/series).
    """
    import pickle

    import pyarrow.compute as pc
    from rich.console import Console
    from rich.table import Table

    from jobs.patterns.crime_series import match_series
    from jobs.patterns.tables import ENRICHMENT_TABLE
    from models.crime_series.linkage import linkable_incidents
    from models.crime_series.store import SERIES_MODELS, load_linkage_model
    from orchestration.cli.options import FAILURE, fail
    from orchestration.resources.factory import cli_resources

    err = Console(stderr=True)
    try:
        incident = read_incident(file, occurred_at=occurred_at, lon=lon, lat=lat, mo_text=mo_text, weapon=weapon,
                                 category=category, location_type=location_type, offender_ids=offender_ids)
    except ValueError as exc:
        raise fail(str(exc)) from None
    resources = cli_resources(lake)[1]
    lakehouse = resources["lakehouse"]
    for layer, name in (("gold", "crime_series"), ("silver", "incidents")):
        if not lakehouse.exists(layer, name):
            raise fail(f"no {layer}/{name} under {lakehouse.root_uri()}: materialise crime_series first "
                       "(crimefusion run, or the Dagster UI)", FAILURE)
    folder = resources["reports"].models(SERIES_MODELS)
    try:
        model, report = load_linkage_model(folder)
    except FileNotFoundError as exc:
        raise fail(str(exc), FAILURE) from None
    except (ImportError, AttributeError, EOFError, pickle.UnpicklingError) as exc:  # saved by another version
        raise fail(f"cannot load the series linkage model in {folder} ({type(exc).__name__}: {exc}); it was saved "
                   "by another crimefusion version: materialise crime_series again", FAILURE) from None
    series = lakehouse.read("gold", "crime_series")
    enrichment = (lakehouse.read("silver", ENRICHMENT_TABLE)
                  if lakehouse.exists("silver", ENRICHMENT_TABLE) else None)
    incidents = linkable_incidents(lakehouse.read("silver", "incidents").drop_columns(["geometry"]), enrichment)
    if source:
        incidents = incidents.filter(pc.equal(incidents["source"], source))
    try:
        matches = match_series(incident, incidents, series, model, top=top)
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"Series matching the incident (model AUC {report.get('heldout_auc')})")
    for col in ("series", "score", "members", "best match", "distance m", "days", "MO sim", "weapon", "offender"):
        table.add_column(col, justify="right" if col not in ("series", "best match") else "left")
    for r in matches.to_pylist():
        table.add_row(r["series_id"], f"{r['score']:.3f}", str(r["n_members"]), r["best_incident_id"],
                      f"{r['distance_m']:,.0f}", f"{r['days_apart']:.1f}", f"{r['mo_similarity']:.2f}",
                      "same" if r["same_weapon"] else "-", "shared" if r["shared_offender"] else "-")
    Console().print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(matches.to_pylist(), indent=2, default=str) + "\n", encoding="utf-8")
        err.print(f"wrote {json_out}")
