"""``crimefusion synth``: write the synthetic feeds (and their truth) as landing files."""

from __future__ import annotations

from pathlib import Path

import typer


def synth(
    out: Path = typer.Option(Path("landing"), "--out", help="Landing folder to write into (<out>/<source>/<date>/)."),
    date: str = typer.Option(None, "--date", help="Ingest date folder, YYYY-MM-DD (default today, UTC)."),
    seed: int = typer.Option(42, "--seed", help="Seed: the same seed gives the same feeds."),
    scale: float = typer.Option(1.0, "--scale", min=0.01, help="Population multiplier; 27 gives over 10 million CDRs."),
    truth: Path = typer.Option(None, "--truth", help="Also write the planted truth as Parquet files here."),
    lake: str = typer.Option(None, "--lake", help="Lay the feeds over this lakehouse's silver Chicago incidents "
                             "(so case details join on incident_id); default CRIMEFUSION_LAKE if it has them."),
) -> None:
    """Write synthetic CDR, cell, transaction, OSINT, camera and person feeds into the landing folder.

    The feeds are laid over the Chicago incidents, in the formats an agency would export. Large scales stream the CDRs in weekly parts, so memory stays bounded.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.progress import Progress

    from jobs.ingest.spec import load_spec
    from orchestration.cli.options import ingest_date
    from jobs.synth import build, generate, iter_cdr
    from jobs.synth.incidents import from_crimemapping
    from orchestration.ingest.landing import landing_dir
    from orchestration.settings import PROJECT_ROOT
    from orchestration.synthetic.files import LAYOUT, write_feed

    console = Console(stderr=True)
    day = ingest_date(date)
    import pyarrow.compute as pc

    from orchestration.resources.factory import cli_resources

    lh = cli_resources(lake)[1]["lakehouse"]
    if lh.exists("silver", "incidents"):
        incidents = lh.read("silver", "incidents", columns=["incident_id", "source", "occurred_at", "lon", "lat",
                                                            "category", "location_type"])
        incidents = incidents.filter(pc.equal(incidents["source"], "chicago_aggravated_assaults")).drop_columns(["source"])
        console.print(f"laying the feeds over {incidents.num_rows:,} silver incidents of {lh.root_uri()}")
    else:
        incidents = from_crimemapping(pcsv.read_csv(PROJECT_ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"))
        console.print("no silver incidents in the lakehouse: laying the feeds over the bundled CSV "
                      "(case details will not join silver incident ids until `crimefusion run`)")
    specs = {name: load_spec(PROJECT_ROOT / "specs" / "synthetic" / f"{file}.yaml")
             for name, file in [("cdr_events", "cdr"), ("transactions", "transactions"), ("cell_sites", "cell_sites"),
                                ("osint_posts", "osint"), ("cameras", "cameras"), ("persons", "persons"),
                                ("incident_enrichment", "incident_enrichment")]}
    stream = scale > 3
    feeds = generate(incidents, seed=seed, scale=scale, include_cdr=not stream)
    for name, table in feeds.feeds().items():
        if name in LAYOUT and (name != "cdr_events" or not stream):
            path = write_feed(name, table, landing_dir(out, specs[name], day))
            console.print(f"{specs[name].name}: {table.num_rows:,} rows -> {path}")
    if stream:
        folder = landing_dir(out, specs["cdr_events"], day)
        world = build(incidents, seed=seed, scale=scale)
        total = 0
        with Progress(console=console) as progress:
            task = progress.add_task("CDR parts", total=None)
            for k, chunk in enumerate(iter_cdr(world)):
                part = write_feed("cdr_events", chunk, folder / f"part-{k:04d}")
                final = folder / f"cdr_events-{k:04d}.csv.gz"
                part.replace(final)
                part.parent.rmdir()
                total += chunk.num_rows
                progress.update(task, advance=1, description=f"CDR parts ({total:,} rows)")
        console.print(f"{specs['cdr_events'].name}: {total:,} rows in {k + 1} parts -> {folder}")
    if truth is not None:
        truth.mkdir(parents=True, exist_ok=True)
        for name, table in feeds.truth().items():
            pq.write_table(table, truth / f"{name}.parquet")
        console.print(f"truth: {len(feeds.truth())} tables -> {truth} (raw identifiers: keep it as safe as the feeds)")
