"""``crimefusion simulate ...``: the feedback-loop audit and what-if patrol scenarios on an incident file.

    crimefusion simulate feedback --incidents FILE --spec SPEC --weeks 52 --policy naive --seed 0 --json
    crimefusion simulate feedback ... --policy naive --policy corrected --seeds 10 --plot loop.png
    crimefusion simulate patrol --incidents FILE --spec SPEC --capacity 60 --weeks 52 --seeds 10 --report DIR

The file is read and validated with its spec as ``crimefusion forecast`` reads
it; the study area's cells come from the spec's boundary layer, and each cell
belongs to the area (police district) its centre lies in or is nearest to. The
simulator itself is ``models.simulation`` (docs/accountability.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestration.cli.incident_file import read_incident_file
from orchestration.cli.options import ErrorStyleGroup, fail

app = typer.Typer(
    name="simulate",
    cls=ErrorStyleGroup,
    help="Simulate patrols: the feedback-loop audit (runaway index) and what-if strategies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

Incidents = Annotated[Path, typer.Option("--incidents", help="Incident file (CSV, JSONL, Parquet, GeoJSON...) the "
                                                             "spec describes; the true-crime model is fitted to it.")]
Spec = Annotated[Path, typer.Option("--spec", help="YAML source spec of the file; its study_area boundary layer gives "
                                                   "the cells and the districts.")]
Weeks = Annotated[int, typer.Option("--weeks", min=1, max=520, help="Weeks simulated.")]
Res = Annotated[int, typer.Option("--res", min=0, max=15, help="H3 resolution of the cells.")]
Capacity = Annotated[Optional[int], typer.Option("--capacity", min=1, help="Cells patrolled each week "
                                                                           "(default: 1% of the cells).")]
Base = Annotated[float, typer.Option("--base-discovery", help="Probability a crime in an unpatrolled cell is "
                                                              "recorded (default 0.5, NCVS reporting rates).")]
Patrolled = Annotated[float, typer.Option("--patrolled-discovery", help="Probability a crime in a patrolled cell is "
                                                                        "recorded (default 0.6, Lum & Isaac 2016).")]
Deterrence = Annotated[float, typer.Option("--deterrence", help="Share of a patrolled cell's crime prevented (default "
                                                                "0.1, an assumption after Braga et al. 2019).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


@app.callback()
def simulate() -> None:
    """Simulate patrols: the feedback-loop audit (runaway index) and what-if strategies."""


def _params(capacity: int | None, base: float, patrolled: float, deterrence: float):
    from models.simulation import SimulationParams

    try:
        return SimulationParams(capacity=capacity, base_discovery=base, patrolled_discovery=patrolled,
                                deterrence=deterrence)
    except ValueError as exc:
        raise fail("--" + str(exc).replace("_", "-")) from None  # messages start with the setting's name


def _world(incidents: Path, spec: Path, res: int, params, err):
    """The fitted :class:`models.simulation.World` of the file, and the spec's local time zone."""
    from jobs.geo.areas import assign_areas
    from jobs.grid.cells import study_area_cells
    from models.simulation import fit_world

    source, boundaries, parsed, ctx = read_incident_file(incidents, spec, err, "the simulator needs")
    cells = study_area_cells(boundaries.column("geometry"), resolution=res)
    # a covering cell's centre may lie just outside every polygon: it joins the nearest district
    area, _ = assign_areas(cells.column("lon").to_numpy(), cells.column("lat").to_numpy(), boundaries, ctx=ctx,
                           tolerance_m=float("inf"))
    with err.status("fitting the true-crime model"):
        try:
            world = fit_world(parsed.accepted, cells, area.to_pylist(), params)
        except ValueError as exc:
            raise fail(f"{incidents}: {exc}") from None
    err.print(f"{parsed.accepted.num_rows:,} incidents ({parsed.rejects.num_rows:,} rejected), {world.n_cells:,} "
              f"H3 res-{res} cells in {world.n_districts} districts; {params.cells_patrolled(world.n_cells)} "
              f"patrolled a week")
    return world, source.local_timezone


def _choices(values: list[str], known: dict, option: str) -> list[str]:
    wrong = [v for v in values if v not in known]
    if wrong:
        raise fail(f"{option} must be one of {', '.join(known)}, got {wrong[0]!r}")
    return list(dict.fromkeys(values))


def _runs(world, names: list[str], weeks: int, seeds: list[int], params, plans, err):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from models.simulation import run_seeds

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"{weeks}-week runs", total=len(names) * len(seeds))
        return run_seeds(world, names, weeks, seeds, params, plans=plans, progress=lambda k: bar.advance(task, k))


@app.command("feedback")
def feedback(
    incidents: Incidents,
    spec: Spec,
    weeks: Weeks = 52,
    policy: Annotated[list[str], typer.Option("--policy", help="naive, corrected, uniform or random; repeat the "
                                                               "option to compare policies.")] = ["naive"],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the run (the first seed with --seeds).")] = 0,
    seeds: Annotated[Optional[int], typer.Option("--seeds", min=1, help="Run this many seeds: --seed, --seed+1...")]
    = None,
    res: Res = 9,
    capacity: Capacity = None,
    base_discovery: Base = 0.5,
    patrolled_discovery: Patrolled = 0.6,
    deterrence: Deterrence = 0.1,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save the runaway index per week (mean and band "
                                                                "over seeds, per policy) as this PNG.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the per-week, per-district table of every "
                                                              "run to this Parquet file.")] = None,
    as_json: AsJson = False,
) -> None:
    """Audit the feedback loop: patrols follow a forecast refitted on the crime they discover.

    Prints the runaway index (total-variation distance between the patrols across districts
    and the true crime across districts after the last week) with true, discovered and
    prevented crime; --json prints one JSON object.
    """
    from rich.console import Console

    from models.simulation import POLICIES

    err = Console(stderr=True)
    names = _choices(policy, POLICIES, "--policy")
    params = _params(capacity, base_discovery, patrolled_discovery, deterrence)
    world, _ = _world(incidents, spec, res, params, err)
    seed_list = list(range(seed, seed + (seeds or 1)))
    results = _runs(world, names, weeks, seed_list, params, POLICIES, err)
    if plot is not None:
        from models.simulation.plots import plot_runaway

        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_runaway(results).savefig(plot, dpi=130)
    if out is not None:
        import pandas as pd

        out.parent.mkdir(parents=True, exist_ok=True)
        pd.concat([r.table for r in results], ignore_index=True).to_parquet(out, index=False)
    context = {"capacity": params.cells_patrolled(world.n_cells), "cells": world.n_cells,
               "districts": world.n_districts, "resolution": res, "params": params.to_dict()}
    if as_json:
        typer.echo(json.dumps(_feedback_json(results, names, seed_list, weeks, context)))
        return
    _print_summary(results, Console(), context, plot, out)


def _number(value) -> float | None:
    """A JSON number: rounded, and ``None`` for NaN (a standard error over one seed)."""
    value = float(value)
    return None if value != value else round(value, 6)


def _feedback_json(results, names: list[str], seeds: list[int], weeks: int, context: dict) -> dict:
    if len(results) == 1:
        return {**results[0].totals(), **context}
    from models.simulation import summarise

    summary = summarise(results).set_index("policy")
    return {"policy": names, "seed": seeds, "weeks": weeks,
            "runaway_index": {p: _number(summary.at[p, "runaway_index"]) for p in names},
            "runaway_index_se": {p: _number(summary.at[p, "runaway_index_se"]) for p in names},
            **context, "runs": [r.totals() for r in results]}


def _print_summary(results, console, context: dict, plot: Path | None, out: Path | None) -> None:
    from rich.table import Table

    from models.simulation import summarise

    summary = summarise(results)
    table = Table(title=f"Feedback loop: {results[0].weeks} weeks, {context['capacity']} of {context['cells']:,} "
                        f"cells patrolled, {context['districts']} districts")
    for col in ("policy", "seeds", "runaway index", "± s.e.", "true crime", "discovered", "prevented"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for row in summary.itertuples():
        se = "" if row.seeds < 2 else f"{row.runaway_index_se:.3f}"
        table.add_row(row.policy, str(row.seeds), f"{row.runaway_index:.3f}", se, f"{row.true_crime:,.0f}",
                      f"{row.discovered:,.0f}", f"{row.prevented:,.1f}")
    console.print(table)
    console.print("runaway index: 0 when patrols are spread across districts as true crime is, 1 when they are "
                  "all where none is (means over seeds)")
    for label, path in (("plot", plot), ("table", out)):
        if path is not None:
            console.print(f"{label}: {path}")


@app.command("patrol")
def patrol(
    incidents: Incidents,
    spec: Spec,
    capacity: Capacity = None,
    strategy: Annotated[list[str], typer.Option("--strategy", help="forecast, kde, naive or uniform; repeat to "
                                                                   "choose several (default: all four).")] = [],
    weeks: Weeks = 52,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds per strategy (0, 1, ...).")] = 10,
    res: Res = 9,
    base_discovery: Base = 0.5,
    patrolled_discovery: Patrolled = 0.6,
    deterrence: Deterrence = 0.1,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write index.html (offline, plot embedded) "
                                                                    "and prevented.png into this folder.")] = None,
    as_json: AsJson = False,
) -> None:
    """Compare patrol strategies on expected crime prevented, with intervals across seeds."""
    from rich.console import Console

    from models.simulation import STRATEGIES, summarise

    err = Console(stderr=True)
    names = _choices(strategy or list(STRATEGIES), STRATEGIES, "--strategy")
    params = _params(capacity, base_discovery, patrolled_discovery, deterrence)
    world, timezone = _world(incidents, spec, res, params, err)
    summary = summarise(_runs(world, names, weeks, list(range(seeds)), params, STRATEGIES, err))
    k = params.cells_patrolled(world.n_cells)
    written = None
    if report is not None:
        from models.simulation.report import whatif_report

        page, fig = whatif_report(summary, weeks=weeks, capacity=k, n_cells=world.n_cells, params=params,
                                  source=f"{incidents.name} ({spec.name})", timezone=timezone)
        report.mkdir(parents=True, exist_ok=True)
        (report / "index.html").write_text(page, encoding="utf-8")
        fig.savefig(report / "prevented.png", dpi=130)
        written = report / "index.html"
    if as_json:
        rows = [{key: v if isinstance(v, (str, int)) else _number(v) for key, v in row.items()}
                for row in summary.to_dict(orient="records")]
        typer.echo(json.dumps({"weeks": weeks, "seeds": seeds, "capacity": k, "cells": world.n_cells,
                               "report": None if written is None else str(written), "strategies": rows}))
        return
    _print_patrol(summary, Console(), weeks, k, world.n_cells, written)


def _print_patrol(summary, console, weeks: int, capacity: int, n_cells: int, written: Path | None) -> None:
    from rich.table import Table

    table = Table(title=f"What-if: {weeks} weeks, {capacity} of {n_cells:,} cells patrolled a week")
    for col in ("strategy", "seeds", "prevented (mean)", "± s.e.", "95% of seeds", "true crime", "discovered"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for row in summary.itertuples():
        table.add_row(row.policy, str(row.seeds), f"{row.prevented:,.1f}", f"{row.prevented_se:,.1f}",
                      f"{row.prevented_lo:,.1f} to {row.prevented_hi:,.1f}", f"{row.true_crime:,.0f}",
                      f"{row.discovered:,.0f}")
    console.print(table)
    console.print("prevented: expected crimes the patrols deter (deterrence share x expected crime of patrolled cells)")
    if written is not None:
        console.print(f"report: {written}")
