"""``crimefusion run``: materialise every asset in-process, with progress, then say what was built."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import typer


def run(
    lake: str | None = typer.Option(None, "--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE or ./lake)."),
    date: str | None = typer.Option(None, "--date", help="Ingest date (partition) to run, YYYY-MM-DD; default today (UTC)."),
) -> None:
    """Materialise every asset for one ingest date (bundled data, landing drops, synthetic demo feeds).

    Prints the tables built, how each source reconciled, the asset checks and the reports.
    """
    import datetime as dt

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from orchestration.settings import load_settings
    from orchestration.state import dagster_instance, prepare_environment

    console = Console()
    settings = load_settings()
    if lake:
        settings = settings.model_copy(update={"lake": lake})
    prepare_environment(settings)
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def("crimefusion_all")
    instance = dagster_instance(settings)
    graph = defs.resolve_asset_graph()
    n_steps = len(list(graph.get_all_asset_keys())) + len(list(graph.asset_check_keys))
    run_id = str(uuid.uuid4())
    partition = date or dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        dt.date.fromisoformat(partition)
    except ValueError:
        raise typer.BadParameter(f"--date must be YYYY-MM-DD, got {partition!r}") from None
    outcome: dict = {}

    def execute() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                partition_key=partition,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        except Exception as exc:  # surfaced below, with the run id to look it up in the UI
            outcome["error"] = exc

    console.print(f"[bold]crimefusion run[/] - ingest date [cyan]{partition}[/], lakehouse [cyan]{settings.lake}[/], "
                  f"landing [cyan]{settings.landing}[/], Dagster home [cyan]{settings.home}[/]")
    worker = threading.Thread(target=execute, daemon=True)
    start = time.time()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("starting", total=n_steps)
        worker.start()
        done = 0
        while worker.is_alive():
            worker.join(0.5)
            records = instance.all_logs(run_id)
            finished = [r for r in records if r.dagster_event and r.dagster_event.event_type_value in
                        ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")]
            running = [r.step_key for r in records if r.dagster_event and r.dagster_event.event_type_value == "STEP_START"]
            done = len(finished)
            progress.update(task, completed=min(done, n_steps), description=f"running {running[-1] if running else ''}")
        progress.update(task, completed=n_steps if outcome.get("result") and outcome["result"].success else done,
                        description="done")
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["result"]
    _report(console, settings, instance, run_id, result, time.time() - start)
    if not result.success:
        raise typer.Exit(code=1)


def _report(console, settings, instance, run_id: str, result, seconds: float) -> None:
    from rich.table import Table

    from orchestration.resources.lakehouse import LAYERS, LocalLakehouse

    lake = LocalLakehouse(root=settings.lake)
    table = Table(title=f"Lakehouse tables ({lake.root_uri()})")
    for col in ("layer", "table", "rows", "delta version"):
        table.add_column(col, justify="right" if col in ("rows", "delta version") else "left")
    root = Path(lake.root_uri())
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*")) if (root / layer).is_dir() else []:
            if lake.exists(layer, path.name):
                t = lake.table(layer, path.name)
                table.add_row(layer, path.name, f"{t.count():,}", str(t.version()))
    console.print(table)

    checks = Table(title="Asset checks")
    for col in ("asset", "check", "result"):
        checks.add_column(col)
    failures = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            warn = getattr(ev, "severity", None) is not None and ev.severity.value == "WARN"
            outcome = "[green]passed[/]" if ev.passed else ("[yellow]warning[/]" if warn else "[red]FAILED[/]")
            checks.add_row(ev.asset_key.to_user_string(), ev.check_name, outcome)
        elif event.event_type_value == "STEP_FAILURE":
            failures.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()}")
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            md = event.event_specific_data.materialization.metadata
            if "reconciliation" in md:
                for source, r in md["reconciliation"].value.items():
                    console.print(f"[bold]{source}[/]: {r['rows_in']:,} rows in = {r['accepted']:,} accepted + "
                                  f"{r['quarantined']:,} quarantined")
    console.print(checks)
    for failure in failures:
        console.print(f"[red]failed[/] {failure}")
    reports = Path(settings.home).resolve() / "reports"
    if reports.is_dir():
        console.print("[bold]Reports[/] (open in a browser or image viewer):")
        for folder in sorted(p for p in reports.iterdir() if p.is_dir()):
            files = sorted(folder.glob("*.html")) or sorted(folder.glob("*.png"))[:3]
            for f in files[:4]:
                console.print(f"  {folder.name}: {f}")
    status = "[green]succeeded[/]" if result.success else "[red]failed[/]"
    console.print(f"Run {run_id} {status} in {seconds:.1f} s.")
    console.print(
        "Next: [bold]make ui[/] opens the Dagster UI at http://127.0.0.1:3000 (runs, lineage, checks); "
        f"query the tables with DuckDB or deltalake, e.g. DeltaTable('{root / 'silver' / 'incidents'}')."
    )
