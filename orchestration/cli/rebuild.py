"""``crimefusion rebuild [TABLE...]``: forget what was refined and build it again from bronze."""

from __future__ import annotations

import typer


def rebuild(
    tables: list[str] = typer.Argument(None, help="Silver tables to rebuild (incidents, cdr_events, ...); default: every feed."),
    lake: str | None = typer.Option(None, "--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE or ./lake)."),
    date: str | None = typer.Option(None, "--date", help="Ingest date of the run that follows, YYYY-MM-DD; default today (UTC)."),
) -> None:
    """Rebuild silver and quarantine from every bronze receipt, then everything downstream.

    Nightly runs are incremental: silver refines only the receipts it has not
    refined yet (docs/architecture.md, "Incremental data path"). A rebuild
    marks every receipt of the named tables' sources unrefined in the ledger
    (control/receipts) and runs the main job, which re-parses them all and
    recomputes the gold tables from the result, every one of them (the
    fingerprints that let an asset with unchanged inputs skip its work are
    forgotten): the state a fresh lake would reach from the same bronze. Use it after changing a rule in code (a spec or
    key change is noticed by itself).
    """
    from rich.console import Console

    from orchestration.cli.options import fail
    from orchestration.cli.run import run
    from orchestration.ingest import receipts
    from orchestration.lakehouse import freshness
    from orchestration.ingest.assets import FEEDS
    from orchestration.ingest.pipeline import bronze_table
    from orchestration.resources.factory import cli_resources

    console = Console()
    settings, resources = cli_resources(lake)
    unknown = sorted(set(tables or []) - set(FEEDS))
    if unknown:
        raise fail(f"{', '.join(unknown)}: not a feed table; feed tables are {', '.join(FEEDS)}")
    lakehouse, catalog = resources["lakehouse"], resources["sources"]
    freshness.forget(lakehouse)  # every asset recomputes, even one whose inputs come out the same
    for table in tables or list(FEEDS):
        for spec in catalog.specs(table):
            if lakehouse.exists("bronze", bronze_table(spec)):
                n = receipts.forget(lakehouse, spec)
                console.print(f"{spec.name}: {n:,} receipt(s) marked for refining again")
    run(lake=settings.lake, date=date)
