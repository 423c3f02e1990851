"""``crimefusion ingest TABLE --spec SPEC --file FILE``: one file into the lakehouse."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from orchestration.cli.options import fail


def ingest(
    table: str = typer.Argument(..., help="Canonical table the file feeds (incidents, cdr_events, ...)."),
    spec: Path = typer.Option(..., "--spec", help="YAML source spec describing the file."),
    file: Path = typer.Option(..., "--file", help="The file to ingest."),
    lake: str | None = typer.Option(None, "--lake", help=(
        "Lakehouse root (default: CRIMEFUSION_LAKE or ./lake); the object store in a cluster deployment.")),
) -> None:
    """Ingest one file: land it in bronze, parse it into silver, quarantine what breaks a rule.

    Prints a JSON summary: {"rows_in", "accepted", "quarantined", "table_version"}. The
    counts always reconcile (rows_in == accepted + quarantined); re-ingesting the same
    file replaces its rows instead of adding them again. A bad spec, settings or file
    gives one line ``error: ...`` naming the file (and row, field, expected value) and
    exit status 2; the file is read and checked before anything is written.
    """
    from jobs.ingest.spec import SpecError, load_spec
    from orchestration.ingest.pipeline import ingest_file
    from jobs.ingest.readers import SourceFileError
    from orchestration.resources.factory import cli_resources
    from orchestration.settings import SettingsError

    try:
        settings, resources = cli_resources(lake)
        source = load_spec(spec, data_roots=settings.data_roots)
        if source.table != table:
            raise SpecError(f"{spec} describes table {source.table!r}, not {table!r}")
        if file.is_dir():
            raise SourceFileError(f"{file}: is a folder, not a file: give one file of the feed")
        # the deployment's resources, as Dagster's: the object store in a cluster deployment, the same key
        lakehouse = resources["lakehouse"]
        key = resources["pseudonymiser"].key_bytes()
        summary = ingest_file(lakehouse, source, file, ctx=resources["compute"].sedona(), pseudonym_key=key)
    except (SourceFileError, SpecError, SettingsError) as exc:
        raise fail(str(exc)) from None
    except (ValueError, TypeError, OSError, KeyError, RuntimeError) as exc:  # anything else a user's input can provoke
        raise fail(f"cannot ingest {file} with spec {spec}: {type(exc).__name__}: {exc}") from None
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
