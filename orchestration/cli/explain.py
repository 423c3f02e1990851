"""``crimefusion forecast-explain``: how a served hotspot score was made, rebuilt from its recorded inputs.

    crimefusion forecast-explain --cell 892664c1a2bffff --period 2018-01-01 [--json] [--no-rebuild]
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Optional

import typer

from orchestration.cli.options import FAILURE, fail


def forecast_explain(
    cell: Annotated[str, typer.Option("--cell", help="H3 cell id of the forecast row.")],
    period: Annotated[str, typer.Option("--period", help="A day YYYY-MM-DD of the forecast week (its Monday or "
                                                         "any later day of it).")],
    lake: Annotated[Optional[str], typer.Option("--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the summary.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild/--no-rebuild", help="Score the cell again from the recorded "
                                                                         "input versions with the recorded model "
                                                                         "version (default) and compare.")] = True,
) -> None:
    """Show how the forecast of CELL for the week holding PERIOD was made: the served row, the model version
    and why it serves, every input table and the Delta version read, and the same score rebuilt from them."""
    import h3

    from orchestration.hotspots.explain import ExplainError, explain_forecast
    from orchestration.resources.factory import cli_resources

    try:
        day = dt.date.fromisoformat(period)
    except ValueError:
        raise fail(f"--period must be a date YYYY-MM-DD, got {period!r}") from None
    if not h3.is_valid_cell(cell):
        raise fail(f"--cell must be an H3 cell id such as 892664c1a2bffff, got {cell!r}")
    settings, resources = cli_resources(lake)
    tracking = resources["mlflow"]
    tracking.setup()
    try:
        out = explain_forecast(resources["lakehouse"], resources["sources"], tracking.tracking_uri, cell, day,
                               rebuild=rebuild)
    except ExplainError as exc:
        raise fail(str(exc), FAILURE) from None
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    _print(out)


def _print(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s, m = out["served"], out["model"]
    console.print(f"[bold]Cell {out['cell']}, week of {out['week']}[/] (weeks start Monday 00:00 UTC)")
    console.print(f"served: {s['expected_count']:.3f} expected incidents, rank {s['risk_rank']:,} of "
                  f"{s['cells']:,}, {100 * s['expected_share']:.1f} % of the week's expected crime down to this rank"
                  f"{', a top cell' if s['in_top_cells'] else ''}")
    console.print(f"drivers: {s['drivers'] or '(none recorded: a baseline, or a model without its booster)'}")
    console.print(f"model: {m['name']} v{m['version']} ({m['method']})"
                  + (f", trained to {m['trained_to']}" if m.get("trained_to") else "")
                  + (f", run {m['run_id']}" if m.get("run_id") else ""))
    if m.get("won_by"):
        console.print(f"why it serves: {m.get('gate_decision')}; {m['won_by']}")
    inputs = Table(title="Inputs read")
    for col in ("table", "Delta version", "committed (UTC)"):
        inputs.add_column(col)
    for entry in out["inputs"].values():
        inputs.add_row(entry["table"], str(entry["version"]), str(entry.get("committed_at") or "-"))
    console.print(inputs)
    r = out.get("rebuilt")
    if out["provenance"] != "complete":
        console.print(f"[yellow]provenance {out['provenance']}[/]")
    elif r is not None:
        verdict = "[green]reproduced[/]" if r["reproduced"] else "[red]NOT reproduced[/]"
        console.print(f"rebuilt from those versions: {r['expected_count']:.3f} ({verdict}, |diff| {r['abs_diff']:.2e})")
