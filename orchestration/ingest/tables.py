"""Names of a source's tables in the lake."""

from __future__ import annotations

from jobs.ingest.spec import SourceSpec


def bronze_table(spec: SourceSpec) -> str:
    return f"raw_{spec.name}"


def rejects_table(spec: SourceSpec) -> str:
    return f"{spec.table}_rejects"
