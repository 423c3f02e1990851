"""``crimefusion anomalies ...``: the anomaly report from the lakehouse.

Mounted by the integrator as a Typer sub-app (``app``). Heavy imports happen
inside the commands so that ``crimefusion --help`` stays fast.
"""

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestration.cli.options import FAILURE, ErrorStyleGroup, fail

app = typer.Typer(
    name="anomalies",
    cls=ErrorStyleGroup,
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
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone of the times shown, "
                                                             "e.g. America/Chicago (default: the CDR, "
                                                             "transaction and OSINT specs' zone, else UTC).")] = "",
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
            raise fail(f"--as-of must be a date YYYY-MM-DD, got {as_of!r}") from None
    from jobs.anomalies.reports import check_timezone

    try:
        if timezone:
            check_timezone(timezone)
    except ValueError as exc:
        raise fail(f"--timezone: {exc}") from None
    resources = cli_resources(lake)[1]
    lakehouse = resources["lakehouse"]
    if not timezone:
        from orchestration.anomalies.inputs import feeds_timezone

        timezone = feeds_timezone(resources["sources"])
    if not lakehouse.exists("gold", "spike_alerts") and not lakehouse.exists("gold", "entity_anomalies"):
        raise fail(f"no gold/spike_alerts nor gold/entity_anomalies under {lakehouse.root_uri()}: "
                   "materialise the anomaly assets first (crimefusion run, or the Dagster UI)", FAILURE)
    written = write_anomaly_report(lakehouse, out, as_of=day, timezone=timezone)
    entities = ", ".join(f"{n:,} {kind}" for kind, n in written["entities"].items()) or "no entities"
    console.print(f"anomaly report, data as of {written['data_end_local'] or '(no scored windows)'} "
                  f"(scoring day {written['as_of']}): {written['alerts']} alert(s), "
                  f"{len(written['pngs'])} plot(s), {entities}")
    console.print(str(written["html"]))
