"""Crime records from raw files to the silver ``incidents`` table and its quarantine."""

from datetime import datetime, timezone

import dagster as dg

from jobs.schemas import INCIDENTS, REJECTS
from orchestration.ingest.pipeline import bronze_table, land, refine
from orchestration.lakehouse.metadata import column_schema, table_metadata
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog

OWNERS = ["team:data-engineering"]
REJECTS_TABLE = "incidents_rejects"

@dg.asset(
    key="raw_crime_records",
    group_name="bronze",
    kinds={"delta", "csv"},
    owners=OWNERS,
    description=(
        "Bronze: every row of every crime-record file, as received (all values as text), with "
        "ingest id, source file and row number, in one table per source (bronze/raw_<source>). "
        "Re-ingesting a file replaces its rows: the ingest id is derived from the file's content."
    ),
)
def raw_crime_records(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog) -> dg.MaterializeResult:
    now = datetime.now(timezone.utc)
    landed, versions, total = [], {}, 0
    for spec in sources.specs("incidents"):
        for path in spec.resolve_files():
            ingest_id, result = land(lakehouse, spec, path, now=now)
            context.log.info(f"{spec.name}: {result.rows_written:,} rows from {path.name} (ingest {ingest_id})")
            landed.append(f"{spec.name}/{path.name}: {result.rows_written:,} rows")
            versions[bronze_table(spec)] = result.version
            total += result.rows_written
    if not landed:
        raise ValueError("no incident source has files to ingest: add 'files' to a spec or use 'crimefusion ingest'")
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.md("\n".join(f"- {line}" for line in landed)),
            "delta_versions": dg.MetadataValue.json(versions),
            "rows_landed": dg.MetadataValue.int(total),
        }
    )

@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "incidents",
            group_name="silver",
            kinds={"delta", "sedona"},
            owners=OWNERS,
            deps=["raw_crime_records", "police_districts"],
            description=(
                "Silver: one row per crime incident in the canonical schema: id, occurred_at (UTC), "
                "canonical offense category, location type, lon/lat, WKB point, H3 cell (res 12), "
                "district (ST_Contains on SedonaDB). Built from every bronze receipt of each source."
            ),
            metadata={"dagster/column_schema": column_schema(INCIDENTS)},
        ),
        dg.AssetSpec(
            "incident_rejects",
            group_name="quarantine",
            kinds={"delta"},
            owners=OWNERS,
            deps=["raw_crime_records"],
            description=(
                "Quarantine: crime-record rows that broke a rule (unparseable date, missing or "
                "swapped coordinates, outside the study area, duplicate id...), with the raw row, "
                "the rule, the field and a reason a person can act on."
            ),
            metadata={"dagster/column_schema": column_schema(REJECTS)},
        ),
    ],
)
def incidents(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog, compute: Compute):
    now = datetime.now(timezone.utc)
    summaries = []
    for spec in sources.specs("incidents"):
        if not lakehouse.exists("bronze", bronze_table(spec)):
            context.log.warning(f"{spec.name}: no bronze rows yet; skipped")
            continue
        summary = refine(lakehouse, spec, ctx=compute.sedona(), now=now)
        if summary.rows_in != summary.accepted + summary.quarantined:
            raise RuntimeError(f"{spec.name}: rows do not reconcile: {summary}")
        context.log.info(
            f"{spec.name}: {summary.rows_in:,} rows in = {summary.accepted:,} accepted + "
            f"{summary.quarantined:,} quarantined {dict(summary.rejects_by_rule) or ''}"
        )
        summaries.append(summary)
    silver = lakehouse.read("silver", "incidents")
    reconciliation = {s.source: {"rows_in": s.rows_in, "accepted": s.accepted, "quarantined": s.quarantined}
                      for s in summaries}
    yield dg.MaterializeResult(
        asset_key="incidents",
        metadata={
            **table_metadata(lakehouse.describe("silver", "incidents", sum(s.accepted for s in summaries)),
                             silver.drop_columns(["geometry"])),
            "reconciliation": dg.MetadataValue.json(reconciliation),
        },
    )
    by_rule: dict[str, int] = {}
    for s in summaries:
        for rule, count in s.rejects_by_rule:
            by_rule[rule] = by_rule.get(rule, 0) + count
    rejects = lakehouse.read("quarantine", REJECTS_TABLE)
    yield dg.MaterializeResult(
        asset_key="incident_rejects",
        metadata={**table_metadata(lakehouse.describe("quarantine", REJECTS_TABLE, sum(by_rule.values())), rejects),
                  "by_rule": dg.MetadataValue.json(by_rule)},
    )
