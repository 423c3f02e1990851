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

    from orchestration.settings import load_settings
    from orchestration.state import dagster_instance, prepare_environment

    import warnings

    # Dagster flags some parameters as beta/preview on every load: noise for the person at the terminal
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    console = Console()
    settings = load_settings()
    if lake:
        settings = settings.model_copy(update={"lake": lake})
    prepare_environment(settings)
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    instance = dagster_instance(settings)
    partition = date or dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        dt.date.fromisoformat(partition)
    except ValueError:
        raise typer.BadParameter(f"--date must be YYYY-MM-DD, got {partition!r}") from None

    console.print(f"[bold]crimefusion run[/] - ingest date [cyan]{partition}[/], lakehouse [cyan]{settings.lake}[/], "
                  f"landing [cyan]{settings.landing}[/], Dagster home [cyan]{settings.home}[/]")
    start = time.time()
    job = defs.resolve_job_def("crimefusion_all")
    run_id, result = _execute(console, instance, job, partition, "ingest, fuse, analyse")
    results = [result]
    week = _forecast_week(defs) if result.success else None
    if week is not None:
        console.print(f"Forecasting the week of [cyan]{week}[/] (the week after the latest incident) with the champion model")
        _, weekly = _execute(console, instance, defs.resolve_job_def("hotspot_forecast_weekly"), week, "forecast")
        results.append(weekly)
    _report(console, settings, instance, run_id, results, time.time() - start)
    if not all(r.success for r in results):
        raise typer.Exit(code=1)


def _execute(console, instance, job, partition: str, label: str):
    """Run ``job`` for ``partition`` in-process, with a progress bar fed from the run's event log."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    run_id = str(uuid.uuid4())
    n_steps = len(job.asset_layer.executable_asset_keys) + len(job.asset_layer.asset_graph.asset_check_keys) \
        if hasattr(job.asset_layer, "executable_asset_keys") else None
    outcome: dict = {}

    def execute() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                instance=instance, run_id=run_id, partition_key=partition, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        except Exception as exc:  # surfaced below, with the run id to look it up in the UI
            outcome["error"] = exc

    worker = threading.Thread(target=execute, daemon=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} done"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(label, total=n_steps)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            records = instance.all_logs(run_id)
            done = sum(1 for r in records if r.dagster_event and r.dagster_event.event_type_value in
                       ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"))
            running = [r.step_key for r in records if r.dagster_event and r.dagster_event.event_type_value == "STEP_START"]
            progress.update(task, completed=done, description=f"{label}: {running[-1] if running else 'starting'}")
        progress.update(task, description=f"{label}: done")
    if "error" in outcome:
        raise outcome["error"]
    return run_id, outcome["result"]


def _forecast_week(defs) -> str | None:
    """The forecast partition after the latest incident: the demo data end in 2017, so 'next week' is theirs."""
    import datetime as dt

    import pyarrow.compute as pc

    if "hotspot_forecast_weekly" not in {j.name for j in defs.resolve_all_job_defs()}:
        return None
    lake = defs.resources["lakehouse"]
    if not lake.exists("silver", "incidents"):
        return None
    from orchestration.hotspots.assets import HotspotConfig

    source = HotspotConfig().source
    latest = pc.max(lake.read("silver", "incidents", columns=["occurred_at"],
                              filters=[("source", "=", source)])["occurred_at"]).as_py()
    if latest is None:
        return None
    monday = latest.date() + dt.timedelta(days=7 - latest.weekday())
    return monday.isoformat()


def _report(console, settings, instance, run_id: str, results: list, seconds: float) -> None:
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
    for event in (e for r in results for e in r.all_events):
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
    if lake.exists("gold", "spike_alerts"):
        import pyarrow.compute as pc

        alerts = lake.read("gold", "spike_alerts")
        if "alert" in alerts.column_names:
            alerts = alerts.filter(pc.equal(alerts["alert"], True))
        by_severity = {}
        for sev in alerts["severity"].to_pylist():
            by_severity[sev] = by_severity.get(sev, 0) + 1
        console.print(f"[bold]Spike alerts[/]: {alerts.num_rows} "
                      f"({', '.join(f'{n} {s}' for s, n in sorted(by_severity.items())) or 'none'})")
    reports = Path(settings.home).resolve() / "reports"
    if reports.is_dir():
        console.print("[bold]Reports[/] (open in a browser or image viewer):")
        for folder in sorted(p for p in reports.iterdir() if p.is_dir()):
            preferred = [f for f in (folder / "index.html", folder / "network.html") if f.exists()]
            files = preferred or sorted(folder.glob("*.html")) or sorted(folder.glob("*.png"))[:3]
            for f in files[:4]:
                console.print(f"  {folder.name}: {f}")
    ok = all(r.success for r in results)
    status = "[green]succeeded[/]" if ok else "[red]failed[/]"
    console.print(f"Run {run_id} {status} in {seconds:.1f} s.")
    console.print(
        "Next: [bold]make ui[/] opens the Dagster UI at http://127.0.0.1:3000 (runs, lineage, checks); "
        f"query the tables with DuckDB or deltalake, e.g. DeltaTable('{root / 'silver' / 'incidents'}')."
    )
