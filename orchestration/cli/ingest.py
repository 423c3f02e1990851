"""``crimefusion ingest TABLE --spec SPEC --file FILE``: one file into the lakehouse."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def ingest(
    table: str = typer.Argument(..., help="Canonical table the file feeds (incidents, cdr_events, ...)."),
    spec: Path = typer.Option(..., "--spec", help="YAML source spec describing the file."),
    file: Path = typer.Option(..., "--file", help="The file to ingest."),
    lake: str | None = typer.Option(None, "--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE or ./lake)."),
) -> None:
    """Ingest one file: land it in bronze, parse it into silver, quarantine what breaks a rule.

    Prints a JSON summary: {"rows_in", "accepted", "quarantined", "table_version"}. The
    counts always reconcile (rows_in == accepted + quarantined); re-ingesting the same
    file replaces its rows instead of adding them again.
    """
    from jobs.ingest.spec import SpecError, load_spec
    from orchestration.ingest.pipeline import ingest_file
    from orchestration.ingest.readers import SourceFileError
    from orchestration.resources.compute import Compute
    from orchestration.resources.lakehouse import LocalLakehouse
    from orchestration.resources.pseudonymiser import Pseudonymiser
    from orchestration.settings import load_settings

    try:
        source = load_spec(spec)
    except SpecError as exc:
        raise _fail(str(exc)) from None
    if source.table != table:
        raise _fail(f"{spec} describes table {source.table!r}, not {table!r}")
    settings = load_settings()
    lakehouse = LocalLakehouse(root=lake or settings.lake)
    key = Pseudonymiser(key=settings.pseudonym_key, raw_identifiers=settings.raw_identifiers,
                        allow_demo_key=settings.deployment == "local").key_bytes()
    try:
        summary = ingest_file(lakehouse, source, file, ctx=Compute().sedona(), pseudonym_key=key)
    except (SourceFileError, SpecError) as exc:
        raise _fail(str(exc)) from None
    out = {
        "rows_in": summary.rows_in,
        "accepted": summary.accepted,
        "quarantined": summary.quarantined,
        "table_version": summary.table_version,
        "rejects_by_rule": dict(summary.rejects_by_rule),
        "ingest_id": summary.ingest_ids[0] if summary.ingest_ids else None,
        "lake": lakehouse.root_uri(),
    }
    typer.echo(json.dumps(out))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
