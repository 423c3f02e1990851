"""Ingestion steps shared by the Dagster assets and the CLI.

``land`` writes files' rows as received to bronze; ``refine`` parses bronze
rows into the silver table and the quarantine. Both are idempotent. Bronze rows
carry the ingest partition they were landed for (``ingest_partition``, null for
the CLI's one-file ingest): landing a partition replaces every row of that
partition and of the receipts (content-addressed ingest ids) it lands, so a
corrected file re-delivered for the same day replaces the earlier one and an
identical file landed before under another partition is not stored twice.
Silver rows are upserted on their id (or replaced per source on a full
refresh) and rejects are replaced per ingest, so running either twice leaves
the same tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from jobs.ingest.records import ParseResult, parse_records
from jobs.schemas import ID_FIELD
from jobs.ingest.spec import SourceSpec
from orchestration.ingest.boundaries import layer_name, read_boundaries
from orchestration.ingest.readers import read_source
from orchestration.resources.lakehouse import Lakehouse, WriteResult


def bronze_table(spec: SourceSpec) -> str:
    return f"raw_{spec.name}"


def rejects_table(spec: SourceSpec) -> str:
    return f"{spec.table}_rejects"


@dataclass(frozen=True)
class IngestSummary:
    """The reconciliation of one ingest: ``rows_in == accepted + quarantined``."""

    rows_in: int
    accepted: int
    quarantined: int
    table_version: int | None
    source: str = ""
    ingest_ids: tuple[str, ...] = ()
    rejects_by_rule: tuple[tuple[str, int], ...] = ()

    def to_json_dict(self) -> dict:
        d = asdict(self)
        d["ingest_ids"] = list(self.ingest_ids)
        d["rejects_by_rule"] = dict(self.rejects_by_rule)
        return d


def land(lake: Lakehouse, spec: SourceSpec, path: str | Path, *, now: datetime | None = None) -> tuple[str, WriteResult]:
    """Write one file's rows, as received, to ``bronze/raw_<source>``; returns its ingest id.

    Replaces the rows of an earlier receipt of the same content, and nothing else
    (no ingest partition: the CLI's one-file ingest).
    """
    landed, result = land_files(lake, spec, [path], now=now)
    return landed[0][1], result


def land_files(
    lake: Lakehouse,
    spec: SourceSpec,
    paths: list[str | Path],
    *,
    partition: str | None = None,
    now: datetime | None = None,
) -> tuple[list[tuple[Path, str, int]], WriteResult | None]:
    """Land files of one source; with ``partition``, the partition's earlier rows are replaced.

    The first write removes every row of the partition and of an earlier receipt
    of the same content; each later file replaces only earlier receipts of its
    own content. Files are written one at a time, so memory holds one file
    (a day of CDR parts can be tens of millions of rows). A file-level error
    (missing column, empty file) stops the landing at that file, naming it;
    landing the partition again once it is fixed gives the full partition. The
    same content twice in one partition (a file dropped twice) is stored once.

    Returns
    -------
    list of (path, ingest id, rows written) per file, and the last bronze write
    (``None`` when there was nothing to write or delete).
    """
    name = bronze_table(spec)
    partition_clause = None
    if partition is not None and lake.exists("bronze", name) \
            and "ingest_partition" in pa.schema(lake.table("bronze", name).schema().to_arrow()).names:
        partition_clause = f"ingest_partition = '{_quote(partition)}'"
    landed: list[tuple[Path, str, int]] = []
    seen: set[str] = set()
    result: WriteResult | None = None
    for path in paths:
        batch = read_source(spec, path, now=now)
        if batch.ingest_id in seen:
            landed.append((Path(path), batch.ingest_id, 0))
            continue
        seen.add(batch.ingest_id)
        table = batch.table.append_column("ingest_partition", pa.array([partition] * batch.table.num_rows, pa.string()))
        clauses = [f"ingest_id = '{batch.ingest_id}'"]
        if partition_clause is not None:
            clauses.append(partition_clause)
            partition_clause = None  # the partition's earlier rows are gone after the first write
        result = lake.replace_where("bronze", name, table, " OR ".join(clauses), evolve_schema=True)
        landed.append((Path(path), batch.ingest_id, table.num_rows))
    if partition_clause is not None:  # no file for the partition any more: it is emptied
        lake.delete("bronze", name, partition_clause)
        result = lake.describe("bronze", name)
    return landed, result


def _quote(value: str) -> str:
    return value.replace("'", "''")


def ensure_boundaries(lake: Lakehouse, spec: SourceSpec) -> pa.Table | None:
    """The spec's study-area polygons, written to ``reference/police_districts`` if not there yet."""
    if spec.study_area is None:
        return None
    layer = layer_name(spec)
    if lake.exists("reference", "police_districts"):
        stored = lake.read("reference", "police_districts", filters=[("layer", "=", layer)])
        if stored.num_rows:
            return stored
    rows = read_boundaries(spec)
    lake.replace_where("reference", "police_districts", rows, f"layer = '{layer}'")
    return rows


def refine(
    lake: Lakehouse,
    spec: SourceSpec,
    *,
    ctx,
    ingest_ids: list[str] | None = None,
    now: datetime | None = None,
    pseudonym_key: bytes | None = None,
) -> IngestSummary:
    """Parse bronze rows of ``spec`` into silver and quarantine.

    With ``ingest_ids``, only those receipts are parsed and upserted (the CLI's
    one-file ingest). Without, every receipt of the source is re-parsed and the
    source's silver rows and rejects are replaced in one commit each (a full,
    idempotent refresh: the latest receipt of a record wins).
    """
    now = now or datetime.now(timezone.utc)
    bronze = lake.read("bronze", bronze_table(spec))
    if ingest_ids is not None:
        bronze = bronze.filter(pc.is_in(bronze["ingest_id"], pa.array(ingest_ids, pa.string())))
    # latest receipt first, file order within a receipt: duplicates keep the newest delivery
    bronze = bronze.sort_by([("ingested_at", "descending"), ("ingest_id", "ascending"), ("source_row", "ascending")])
    boundaries = ensure_boundaries(lake, spec)
    result: ParseResult = parse_records(bronze, spec, boundaries=boundaries, ctx=ctx, now=now,
                                        pseudonym_key=pseudonym_key)

    id_field = ID_FIELD[spec.table]
    quoted = ", ".join(f"'{i}'" for i in sorted(set(bronze["ingest_id"].to_pylist())))
    if ingest_ids is None:
        silver = lake.replace_where("silver", spec.table, result.accepted, f"source = '{spec.name}'")
        lake.replace_where("quarantine", rejects_table(spec), result.rejects, f"source = '{spec.name}'")
    else:
        silver = lake.merge("silver", spec.table, result.accepted, [id_field])
        if quoted:
            lake.replace_where("quarantine", rejects_table(spec), result.rejects,
                               f"source = '{spec.name}' AND ingest_id IN ({quoted})")
    by_rule = {}
    if result.rejects.num_rows:
        counts = result.rejects.group_by("rule").aggregate([("rule", "count")]).to_pylist()
        by_rule = {c["rule"]: c["rule_count"] for c in counts}
    return IngestSummary(
        rows_in=bronze.num_rows,
        accepted=result.accepted.num_rows,
        quarantined=result.rejects.num_rows,
        table_version=silver.version,
        source=spec.name,
        ingest_ids=tuple(sorted(set(bronze["ingest_id"].to_pylist()))),
        rejects_by_rule=tuple(sorted(by_rule.items())),
    )


def ingest_file(lake: Lakehouse, spec: SourceSpec, path: str | Path, *, ctx, now: datetime | None = None,
                pseudonym_key: bytes | None = None) -> IngestSummary:
    """Land one file in bronze and refine it into silver and quarantine (the CLI's ``ingest``)."""
    ingest_id, _ = land(lake, spec, path, now=now)
    return refine(lake, spec, ctx=ctx, ingest_ids=[ingest_id], now=now, pseudonym_key=pseudonym_key)
