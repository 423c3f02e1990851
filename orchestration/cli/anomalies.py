"""``crimefusion anomalies ...``: the anomaly report from the lakehouse.

Mounted by the integrator as a Typer sub-app (``app``). Heavy imports happen
inside the commands so that ``crimefusion --help`` stays fast.
"""

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="anomalies",
    help="Anomaly detection: spikes in count series, unusual phones and accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def anomalies() -> None:
    """Anomaly detection: spikes in count series, unusual phones and accounts."""


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for index.html and the PNG plots.")],
    lake: Annotated[Optional[str], typer.Option("--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE).")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Scoring day YYYY-MM-DD (default: the latest).")] = None,
) -> None:
    """Write the anomaly report (gold spike_alerts and entity_anomalies) as HTML and PNGs into OUT."""
    from rich.console import Console

    from jobs.anomalies.reports import write_anomaly_report
    from orchestration.resources.factory import cli_resources

    console = Console()
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"--as-of {as_of!r} is not a date YYYY-MM-DD", param_hint="--as-of") from None
    lakehouse = cli_resources(lake)[1]["lakehouse"]
    if not lakehouse.exists("gold", "spike_alerts") and not lakehouse.exists("gold", "entity_anomalies"):
        console.print(f"[red]no gold/spike_alerts nor gold/entity_anomalies under {lakehouse.root}[/red]: "
                      "materialise the anomaly assets first (crimefusion run, or the Dagster UI)")
        raise typer.Exit(1)
    written = write_anomaly_report(lakehouse, out, as_of=day)
    console.print(f"anomaly report as of {written['as_of']}: {written['alerts']} alert(s), "
                  f"{len(written['pngs'])} plot(s), entities {written['entities']}")
    console.print(str(written["html"]))
