"""Read an incident file with its spec for the commands that take one (``forecast``, ``simulate``)."""

from __future__ import annotations

from pathlib import Path

from orchestration.cli.options import fail


def read_incident_file(incidents: Path, spec: Path, err, needs: str):
    """``(spec, boundaries, parsed, ctx)`` of an incident file read and validated with its spec exactly as
    ingestion does (rows a rule rejects are left out), with the spec's study-area boundaries and the SedonaDB
    context that joined them.

    ``needs`` completes the errors ("the forecast needs..."): a spec that is not an incidents spec, one without
    a study area, an unreadable file and a file without a valid row each end the command with one line and
    exit 2. Rejected rows beside valid ones are named on ``err`` (the first three: row and reason).
    """
    from jobs.ingest.readers import SourceFileError, read_source
    from jobs.ingest.records import parse_records
    from jobs.ingest.spec import SpecError, load_spec
    from orchestration.ingest.boundaries import read_boundaries
    from orchestration.resources.compute import Compute

    try:
        source = load_spec(spec)
        if source.table != "incidents":
            raise fail(f"{spec} describes table {source.table!r}; {needs} an incidents spec")
        if source.study_area is None:
            raise fail(f"{spec} has no study_area: {needs} its boundary layer")
        with err.status(f"reading {incidents.name}"):
            ctx, boundaries = Compute().sedona(), read_boundaries(source)
            parsed = parse_records(read_source(source, incidents).table, source, boundaries=boundaries, ctx=ctx)
    except (SourceFileError, SpecError) as exc:
        raise fail(str(exc)) from None
    if parsed.accepted.num_rows == 0:
        first = parsed.rejects.slice(0, 1).to_pylist()
        why = f"; the first, row {first[0]['source_row']}: {first[0]['reason']}" if first else ""
        raise fail(f"{incidents}: no valid incident rows ({parsed.rejects.num_rows} rejected{why})")
    if parsed.rejects.num_rows:  # left out, as ingestion would quarantine them: say which and why
        n = parsed.rejects.num_rows
        err.print(f"{incidents}: {n:,} row{'s' if n != 1 else ''} left out (rows a spec rule rejects, as ingestion "
                  f"quarantines them){'; the first 3' if n > 3 else ''}:", markup=False, highlight=False)
        for r in parsed.rejects.slice(0, 3).to_pylist():
            err.print(f"  row {r['source_row']}: {r['reason']}", markup=False, highlight=False)
    return source, boundaries, parsed, ctx
