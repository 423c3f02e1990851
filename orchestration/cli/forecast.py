"""``crimefusion forecast``: score every study-area cell for a run of periods, for outside evaluation.

    crimefusion forecast --incidents FILE --spec SPEC --start 2016-01-01 --end 2017-12-29 \\
        --step 7d --res 9 --method learned --out forecast.parquet

The file is read and validated with its source spec exactly as ingestion does
(rows a rule rejects are left out), the study area is the union of the spec's
boundary layer, and each period's scores come only from incidents before that
period's start (``models.hotspots.forecast.forecast_periods``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from orchestration.cli.incident_file import read_incident_file
from orchestration.cli.options import fail

#: ``--step`` spellings -> the period codes of the forecasting kernels.
STEPS = {"7d": "W", "1w": "W", "w": "W", "week": "W", "1d": "D", "d": "D", "day": "D"}
#: Refit cadence of the learned model when ``--refit-every`` is not given: once a year of periods
#: (52 weeks, 364 days), the span its trailing windows and the weekly retraining assume.
LEARNED_REFIT_EVERY = {"W": 52, "D": 364}


def forecast(
    incidents: Path = typer.Option(..., "--incidents", help="Incident file (CSV, JSONL, Parquet, GeoJSON...) the spec describes."),
    spec: Path = typer.Option(..., "--spec", help="YAML source spec of the file; its study_area boundary layer is the study area."),
    start: str = typer.Option(..., "--start", help="First period start, YYYY-MM-DD (00:00 local time of --tz)."),
    end: str = typer.Option(..., "--end", help="Last allowed period start, YYYY-MM-DD."),
    step: str = typer.Option("7d", "--step", help="Period length: 7d (weekly) or 1d (daily)."),
    res: int = typer.Option(9, "--res", min=0, max=15, help="H3 resolution of the forecast cells."),
    method: str = typer.Option("learned", "--method", help="naive, kde, prospective, sepp or learned."),
    out: Path = typer.Option(..., "--out", help="Output Parquet: period_start (date), h3 (string), score (float)."),
    refit_every: int | None = typer.Option(
        None, "--refit-every", min=1,
        help="Refit the model every N periods (default: learned once a year of periods, 52 weeks or 364 days; "
             "baselines once; "
             "baselines always read every incident before each period start).",
    ),
    tz: str | None = typer.Option(
        None, "--tz", help="IANA time zone whose local midnights start the periods (default: the spec's "
                           "`timezone`, else UTC); period_start is the local date.",
    ),
    profile: str = typer.Option(
        "auto", "--profile", help="--method learned --step 1d: multiply each cell's expected count by its own "
                                  "day-of-week profile when one ranked the 13 weeks before each refit better than "
                                  "none (auto), or never (off). Weeks have none.",
    ),
) -> None:
    """Forecast crime risk per H3 cell for every period from START to END.

    Writes one row per period and study-area cell: period_start (local date), h3, score
    (higher = riskier; the learned model and sepp give expected counts). Periods start at
    local midnight of --tz, so a day the clocks change lasts 23 or 25 hours. Forecasts for
    a period use only incidents before its start. Prints a JSON summary.
    """
    import json

    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from jobs.grid.cells import study_area_cells
    from models.hotspots.forecast import METHODS, forecast_periods

    err = Console(stderr=True)
    freq = STEPS.get(step.strip().lower())
    if freq is None:
        raise fail(f"--step must be one of {', '.join(sorted(STEPS))}, got {step!r}")
    if method not in METHODS:
        raise fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    try:
        d0, d1 = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise fail(f"--start and --end must be dates YYYY-MM-DD: {exc}") from None
    if d1 < d0:
        raise fail(f"--end {end} is before --start {start}")
    if profile not in ("auto", "off"):
        raise fail(f"--profile must be auto or off, got {profile!r}")
    if profile == "off" and method != "learned":
        raise fail(f"--profile applies to --method learned only; {method} has no time profile")
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(f"--tz must be an IANA time zone name such as America/Chicago, got {tz!r}") from None
    source, boundaries, parsed, _ = read_incident_file(incidents, spec, err, "the forecast needs")
    zone = tz or source.local_timezone  # the spec's zone was checked when it loaded
    rows = parsed.accepted
    cells = study_area_cells(boundaries.column("geometry"), resolution=res)
    err.print(f"{rows.num_rows:,} incidents ({parsed.rejects.num_rows:,} rejected), "
              f"{cells.num_rows:,} H3 res-{res} cells, method [cyan]{method}[/], periods from local midnight "
              f"({zone})")

    step_days = 7 if freq == "W" else 1
    n_periods = (d1 - d0).days // step_days + 1
    every = refit_every if refit_every is not None else (LEARNED_REFIT_EVERY[freq] if method == "learned" else None)
    columns = [TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(f"{method} periods", total=n_periods)
        try:
            table = forecast_periods(rows, cells, start=d0.isoformat(), end=d1.isoformat(), step=freq, resolution=res,
                                     method=method, refit_every=every, timezone=zone,
                                     method_params={"profile": profile} if method == "learned" else None,
                                     progress=lambda k: bar.advance(task, k))
        except ValueError as exc:
            raise fail(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    typer.echo(json.dumps({"out": str(out), "rows": table.num_rows, "periods": n_periods, "cells": cells.num_rows,
                           "method": method, "resolution": res, "timezone": zone, "incidents": rows.num_rows,
                           "rejected": parsed.rejects.num_rows}))
