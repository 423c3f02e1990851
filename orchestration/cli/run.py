"""``crimefusion run``: materialise every asset in-process, with progress, then say what was built.

Each run is recorded as a run of the ``crimefusion`` code location, the one the Dagster UI
loads (:mod:`orchestration.platform.launch`): Jobs > ``crimefusion_all`` lists it.

One ingest date takes several runs, because a Dagster job holds one partition
scheme (:func:`run_pipeline`): the feeds and the demo clip (``crimefusion_all``,
the assets upstream of the detections), one ``video_detection`` run per clip
landed for the date (``videos`` partitions), then the rest of ``crimefusion_all``
(fusion, analyses), so that ``gold/events`` sees the day's detections.
"""

from __future__ import annotations

import threading
import time
import uuid

import typer


def run(
    lake: str | None = typer.Option(None, "--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE or ./lake)."),
    date: str | None = typer.Option(None, "--date", help="Ingest date (partition) to run, YYYY-MM-DD; default today (UTC)."),
) -> None:
    """Materialise every asset for one ingest date (bundled data, landing drops, synthetic demo feeds).

    Prints the tables built, how each source reconciled, the asset checks and the reports.
    """
    from rich.console import Console

    from orchestration.cli.options import ingest_date
    from orchestration.settings import load_settings
    from orchestration.home import dagster_instance, prepare_environment

    import warnings

    # Dagster flags some parameters as beta/preview on every load: noise for the person at the terminal
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    console = Console()
    settings = load_settings()
    if lake:
        settings = settings.model_copy(update={"lake": lake})
    prepare_environment(settings)
    from orchestration.definitions import build_definitions
    from orchestration.resources.factory import build_resources

    defs = build_definitions(settings)
    # what this command reads itself, outside the Dagster runs: the same resources, secrets read from the environment
    resources = build_resources(settings, resolve_secrets=True)
    instance = dagster_instance(settings)
    partition = ingest_date(date)

    console.print(f"[bold]crimefusion run[/] - ingest date [cyan]{partition}[/], lakehouse [cyan]{settings.lake}[/], "
                  f"landing [cyan]{settings.landing}[/], Dagster home [cyan]{settings.home}[/]")
    start = time.time()

    def execute(job, key, selection, label):
        run_ids.append(None)
        run_ids[-1], result = _execute(console, instance, job, key, label, selection)
        return result

    run_ids: list = []
    results = run_pipeline(defs, instance, partition, execute,
                           warn=lambda msg: console.print(f"[yellow]skipped[/] {msg}"))
    run_id = run_ids[0]
    week = _forecast_week(defs, resources["lakehouse"]) if all(r.success for r in results) else None
    if week is not None:
        console.print(f"Forecasting the week of [cyan]{week}[/] (the week after the latest incident) with the champion model")
        _, weekly = _execute(console, instance, defs.resolve_job_def("hotspot_forecast_weekly"), week, "forecast")
        results.append(weekly)
    _report(console, resources, run_id, results, time.time() - start)
    if not all(r.success for r in results):
        raise typer.Exit(code=1)


class PipelineRun:
    """The runs of one ingest date (:func:`run_pipeline`), read as one: ``success``, ``all_events``."""

    def __init__(self, results: list) -> None:
        self.results = list(results)

    @property
    def success(self) -> bool:
        return bool(self.results) and all(r.success for r in self.results)

    @property
    def all_events(self) -> list:
        return [e for r in self.results for e in r.all_events]


def run_pipeline(defs, instance, partition: str, execute, *, warn=print) -> list:
    """Materialise every daily asset and the day's video files, in the order their partitions allow.

    ``execute(job, partition_key, asset_keys_or_None, label)`` runs one job and returns
    its result. Without the vision assets this is one run of ``crimefusion_all``.
    With them: (1) the part of ``crimefusion_all`` upstream of the per-file
    vision assets (feeds, ``cameras``, ``demo_video`` landing the demo clip);
    (2) each clip in ``<landing>/video/*/<partition>/`` is added as a ``videos``
    partition and run through ``video_detection``, one run per file, as
    ``video_sensor`` would; (3) the rest of ``crimefusion_all`` (fusion reads
    ``silver/detections``), only when every earlier run succeeded (a failed
    blocking check must stop what is downstream, as inside one run).
    Returns the results, in order.
    """
    import dagster as dg

    from orchestration.vision.landing import video_files, video_key
    from orchestration.vision.partitions import VIDEOS
    from orchestration.vision.sensors import TARGETS, VIDEO_JOB

    job = defs.resolve_job_def("crimefusion_all")
    if VIDEO_JOB not in {j.name for j in defs.resolve_all_job_defs()}:
        return [execute(job, partition, None, "ingest, fuse, analyse")]
    in_job = set(job.asset_layer.executable_asset_keys)
    per_video = dg.AssetSelection.assets(*TARGETS)
    # with the other outputs of their multi-assets (refine_incidents writes incidents and incidents_rejects)
    feeds = ((per_video.upstream() - per_video).required_multi_asset_neighbors()
             .resolve(defs.resolve_asset_graph()) & in_job)
    results = [execute(job, partition, sorted(feeds), "ingest")]
    if not results[-1].success:
        return results
    landing = defs.resources["sources"].landing_path()
    keys = []
    for f in video_files(landing, partition):
        try:
            keys.append(video_key(landing, f))
        except ValueError as exc:
            warn(str(exc))
    known = set(instance.get_dynamic_partitions(VIDEOS.name))
    if set(keys) - known:
        instance.add_dynamic_partitions(VIDEOS.name, sorted(set(keys) - known))
    video = defs.resolve_job_def(VIDEO_JOB)
    results += [execute(video, key, None, f"detect {key}") for key in keys]
    if all(r.success for r in results):
        results.append(execute(job, partition, sorted(in_job - feeds), "fuse, analyse"))
    return results


def _execute(console, instance, job, partition: str, label: str, asset_selection=None):
    """Run ``job`` (or its ``asset_selection``) for ``partition`` in-process, with a progress bar fed from the run's event log.

    The run is one of the ``crimefusion`` code location (:func:`orchestration.platform.launch.execute_in_location`),
    so the Dagster UI shows it under its job, on the timeline, and can re-execute it.
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from orchestration.platform.launch import execute_in_location

    run_id = str(uuid.uuid4())
    keys = set(asset_selection) if asset_selection is not None else set(job.asset_layer.executable_asset_keys)
    n_steps = len(keys) + sum(1 for c in job.asset_layer.asset_graph.asset_check_keys if c.asset_key in keys)
    outcome: dict = {}

    def execute() -> None:
        try:
            # a run of the `crimefusion` code location: the UI lists it under its job (platform/launch.py)
            outcome["result"] = execute_in_location(
                job, instance, run_id=run_id, partition_key=partition, asset_selection=asset_selection,
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


def _forecast_week(defs, lake) -> str | None:
    """The forecast partition after the latest incident of the forecast source, in its local time: the demo
    data end in 2017, so 'next week' is theirs."""
    import datetime as dt

    import dagster as dg
    import pandas as pd
    import pyarrow.compute as pc

    if "hotspot_forecast_weekly" not in {j.name for j in defs.resolve_all_job_defs()}:
        return None
    if not lake.exists("silver", "incidents"):
        return None
    from orchestration.hotspots.inputs import HotspotConfig, forecast_source

    try:
        spec = forecast_source(defs.resources["sources"], HotspotConfig().source)
    except dg.Failure:  # no incident spec with a study area: nothing to forecast
        return None
    latest = pc.max(lake.read("silver", "incidents", columns=["occurred_at"],
                              filters=[("source", "=", spec.name)])["occurred_at"]).as_py()
    if latest is None:
        return None
    day = pd.Timestamp(latest).tz_convert(spec.local_timezone).date()
    return (day + dt.timedelta(days=7 - day.weekday())).isoformat()


def _report(console, resources: dict, run_id: str, results: list, seconds: float) -> None:
    from rich.table import Table

    from orchestration.platform.lake import list_tables
    from orchestration.resources.lakehouse import LAYERS

    lake = resources["lakehouse"]
    root = lake.root_uri()
    table = Table(title=f"Lakehouse tables ({root})")
    for col in ("layer", "table", "rows", "delta version"):
        table.add_column(col, justify="right" if col in ("rows", "delta version") else "left")
    for layer, name in sorted(list_tables(lake), key=lambda t: (LAYERS.index(t[0]), t[1])):
        t = lake.table(layer, name)
        table.add_row(layer, name, f"{t.count():,}", str(t.version()))
    console.print(table)

    checks = Table(title="Asset checks")
    for col in ("asset", "check", "result"):
        checks.add_column(col)
    failures, skipped = [], []
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
            if "skipped" in md:
                skipped.append(event.asset_key.to_user_string())
            if "reconciliation" in md:
                for source, r in md["reconciliation"].value.items():
                    console.print(f"[bold]{source}[/]: {r['rows_in']:,} rows in = {r['accepted']:,} accepted + "
                                  f"{r['quarantined']:,} quarantined")
    console.print(checks)
    if skipped:
        console.print(f"{len(set(skipped))} asset(s) skipped, their inputs unchanged since their last run "
                      f"(crimefusion rebuild recomputes everything): {', '.join(sorted(set(skipped)))}")
    for failure in failures:
        console.print(f"[red]failed[/] {failure}")
    line = spike_alert_summary(lake, results)
    if line:
        console.print(line)
    reports = resources["reports"].root() / "reports"
    if reports.is_dir():
        console.print("[bold]Reports[/] (open in a browser or image viewer):")
        for folder in sorted(p for p in reports.iterdir() if p.is_dir()):
            preferred = [f for f in (folder / "index.html", folder / "network.html") if f.exists()]
            files = preferred or newest_of_each_kind(folder.glob("*.html")) or sorted(folder.glob("*.png"))[:3]
            for f in files[:6]:
                console.print(f"  {folder.name}: {f}")
    ok = all(r.success for r in results)
    status = "[green]succeeded[/]" if ok else "[red]failed[/]"
    more = f" (and {len(results) - 1} more run(s): video files, fusion, forecast)" if len(results) > 1 else ""
    console.print(f"Run {run_id}{more} {status} in {seconds:.1f} s.")
    console.print(
        "Next: [bold]make ui[/] opens the Dagster UI at http://127.0.0.1:3000 (runs, lineage, checks); "
        f"query the tables with DuckDB or deltalake, e.g. DeltaTable('{root}/silver/incidents')."
    )


def newest_of_each_kind(paths) -> list:
    """The newest file of each kind (the name's first word: ``forecast_2018-01-01.html`` is a ``forecast``),
    in order of kind: one forecast, one patrol plan, one model card... rather than every week's."""
    newest: dict = {}
    for p in paths:
        kind = p.name.split("_")[0]
        if kind not in newest or p.stat().st_mtime > newest[kind].stat().st_mtime:
            newest[kind] = p
    return [newest[k] for k in sorted(newest)]


def spike_alert_summary(lake, results: list) -> str | None:
    """The alert count line for the scoring day(s) these runs materialised, by severity.

    ``gold/spike_alerts`` keeps one partition per scoring day (``as_of_date``),
    so counting the whole table would add up every day ever run; this counts
    only the partitions that the runs' ``spike_alerts`` materialisations wrote.
    ``None`` when the table does not exist.
    """
    import datetime as dt

    import pyarrow.compute as pc

    if not lake.exists("gold", "spike_alerts"):
        return None
    days = sorted({e.event_specific_data.materialization.partition
                   for r in results for e in r.all_events
                   if e.event_type_value == "ASSET_MATERIALIZATION"
                   and e.event_specific_data.materialization.asset_key.to_user_string() == "spike_alerts"
                   and e.event_specific_data.materialization.partition})
    if not days:
        return "[bold]Spike alerts this run[/]: none scored (spike_alerts was not materialised)"
    alerts = lake.read("gold", "spike_alerts", filters=[("as_of_date", "in", [dt.date.fromisoformat(d) for d in days])])
    alerts = alerts.filter(pc.equal(alerts["alert"], True))
    by_severity: dict[str, int] = {}
    for sev in alerts["severity"].to_pylist():
        by_severity[sev] = by_severity.get(sev, 0) + 1
    return (f"[bold]Spike alerts this run[/] (scored as of {', '.join(days)}): {alerts.num_rows} "
            f"({', '.join(f'{n} {s}' for s, n in sorted(by_severity.items())) or 'none'})")
