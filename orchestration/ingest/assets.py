"""Feeds from raw files to silver tables and their quarantine: one asset family per canonical table.

Each family is built from the specs of that table (``specs/**/*.yaml``):

- bronze ``raw_<table>`` (``raw_incidents``...), partitioned by ingest date:
  lands the day's files from the landing folder, plus the files a spec
  bundles, as received, into one table per source, ``bronze/raw_<source>``
  (sources of one table differ in columns);
- silver ``<table>`` and quarantine ``<table>_rejects``, named as the tables
  they write: every bronze receipt parsed, identifiers pseudonymised, rows that
  break a rule quarantined with their reason;
- blocking checks: the table's Great Expectations suite and the reconciliation
  ``bronze rows = silver + quarantined`` (``checks.py``).
"""

from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg

from jobs.schemas import CANONICAL, REJECTS
from orchestration.ingest.landing import dropped_files
from orchestration.ingest.partitions import INGEST_DATES
from orchestration.ingest.pipeline import bronze_table, land_files, refine, rejects_table
from orchestration.lakehouse.metadata import head, lake_table, table_metadata
from orchestration.platform.pools import table_pool
from orchestration.platform.retries import STORAGE_RETRY
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog

OWNERS = ["team:data-engineering"]

#: Tables whose demo feeds come from the synthetic generator (orchestration/synthetic).
SYNTHETIC_UPSTREAM = "synthetic_feeds"


@dataclass(frozen=True)
class Feed:
    """Asset keys and words of one canonical table's family."""

    table: str
    what: str

    @property
    def bronze(self) -> str:
        """The bronze asset: it writes ``bronze/raw_<source>`` for each source spec of the table."""
        return f"raw_{self.table}"

    @property
    def rejects(self) -> str:
        """The quarantine asset and table (``tables.rejects_table``)."""
        return f"{self.table}_rejects"


FEEDS = {
    "incidents": Feed("incidents", "crime records"),
    "cdr_events": Feed("cdr_events", "call-detail records"),
    "cell_sites": Feed("cell_sites", "cell sites and sectors"),
    "osint_posts": Feed("osint_posts", "OSINT posts"),
    "transactions": Feed("transactions", "financial transactions"),
    "cameras": Feed("cameras", "camera sites"),
    "persons": Feed("persons", "person records"),
    "incident_enrichment": Feed("incident_enrichment", "case details"),
}


def build_feed_assets(tables: list[str], *, synthetic_tables: set[str] = frozenset()) -> list[dg.AssetsDefinition]:
    """Bronze and silver assets for each table that has at least one spec."""
    assets: list[dg.AssetsDefinition] = []
    for table in tables:
        feed = FEEDS[table]
        assets.append(_bronze_asset(feed, upstream=[SYNTHETIC_UPSTREAM] if table in synthetic_tables else []))
        assets.append(_silver_asset(feed))
    return assets


def _bronze_asset(feed: Feed, upstream: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=feed.bronze,
        group_name="bronze",
        kinds={"delta"},
        owners=OWNERS,
        partitions_def=INGEST_DATES,
        deps=upstream,
        metadata={"lake_tables": dg.MetadataValue.text(f"bronze/raw_<source>, one per {feed.table} source spec")},
        pool=table_pool("bronze", feed.bronze),  # one landing of this table at a time (orchestration/platform/pools.py)
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
        description=(
            f"Bronze: every row of every {feed.what} file, as received (all values as text), with "
            f"ingest id, source file and row number, one table per source (bronze/raw_<source>). "
            f"Partition = ingest date: lands the files dropped in <landing>/<source>/<date>/ and the "
            f"files a spec bundles (once). Re-materialising a partition writes only what changed: a file "
            f"already landed is skipped, a corrected file replaces the one it corrects, a file no longer "
            f"in the folder leaves bronze."
        ),
    )
    def bronze(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog) -> dg.MaterializeResult:
        now = datetime.now(timezone.utc)
        partition = context.partition_key if context.has_partition_key else None
        landed, versions, total = [], {}, 0
        for spec in sources.specs(feed.table):
            # bundled files belong to no ingest date: they land once; the day's drops land for the partition
            batches = [(spec.resolve_files(), None)]
            if partition is not None:
                batches.append((dropped_files(sources.landing_path(), spec, partition), partition))
            for files, part in batches:
                receipts, result = land_files(lakehouse, spec, files, partition=part, now=now)
                for path, ingest_id, rows in receipts:
                    what = f"{rows:,} rows" if rows else "already landed"
                    context.log.info(f"{spec.name}: {what} from {path.name} (ingest {ingest_id})")
                    landed.append(f"{spec.name}/{path.name}: {what}")
                    total += rows
                if result is not None:
                    versions[bronze_table(spec)] = result.version
        if not landed:
            context.log.warning(f"no {feed.what} file for ingest date {partition}: nothing landed")
        return dg.MaterializeResult(
            metadata={
                "files": dg.MetadataValue.md("\n".join(f"- {line}" for line in landed) or "(none)"),
                "delta_versions": dg.MetadataValue.json(versions),
                "rows_landed": dg.MetadataValue.int(total),
            }
        )

    return bronze


def _silver_asset(feed: Feed) -> dg.AssetsDefinition:
    deps = [feed.bronze] + (["police_districts"] if feed.table == "incidents" else [])

    @dg.multi_asset(
        name=f"refine_{feed.table}",
        pool=table_pool("silver", feed.table),  # one refine of this family at a time
        retry_policy=STORAGE_RETRY,
        specs=[
            dg.AssetSpec(
                feed.table,
                group_name="silver",
                kinds={"delta", "sedona"},
                owners=OWNERS,
                deps=deps,
                description=(
                    f"Silver: {feed.what} in the canonical `{feed.table}` schema (jobs/schemas.py, "
                    f"docs/data-model.md): timestamps in UTC, coordinates in EPSG:4326 with WKB geometry "
                    f"and H3 cells, identifiers pseudonymised. Incremental: each run refines only the bronze receipts "
                    f"not refined yet (control/receipts) and removes the rows of receipts that left bronze."
                ),
                metadata=lake_table("silver", feed.table, CANONICAL[feed.table]),
            ),
            dg.AssetSpec(
                feed.rejects,
                group_name="quarantine",
                kinds={"delta"},
                owners=OWNERS,
                deps=[feed.bronze],
                description=(
                    f"Quarantine: {feed.what} rows that broke a rule (unparseable timestamp, bad or "
                    f"out-of-area coordinates, duplicate id, malformed line...), with the raw row, the rule, "
                    f"the field and a reason a person can act on."
                ),
                metadata=lake_table("quarantine", feed.rejects, REJECTS),
            ),
        ],
    )
    def silver(context: dg.AssetExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog,
               compute: Compute, pseudonymiser: Pseudonymiser):
        now = datetime.now(timezone.utc)
        key = pseudonymiser.key_bytes()
        summaries = []
        for spec in sources.specs(feed.table):
            if not lakehouse.exists("bronze", bronze_table(spec)):
                context.log.warning(f"{spec.name}: no bronze rows yet; skipped")
                continue
            summary = refine(lakehouse, spec, ctx=compute.sedona(), now=now, pseudonym_key=key,
                             log=context.log.info, compute=compute)
            if summary.rows_in != summary.accepted + summary.quarantined:
                raise RuntimeError(f"{spec.name}: rows do not reconcile: {summary}")
            if summary.rows_in or summary.withdrawn:
                context.log.info(
                    f"{spec.name}: {len(summary.ingest_ids):,} receipt(s) refined: {summary.rows_in:,} rows in = "
                    f"{summary.accepted:,} accepted + {summary.quarantined:,} quarantined "
                    f"{dict(summary.rejects_by_rule) or ''}; {len(summary.withdrawn):,} withdrawn"
                )
            else:
                context.log.info(f"{spec.name}: every receipt is refined already; nothing to do")
            summaries.append(summary)
        if not summaries:
            raise ValueError(f"no bronze {feed.what} to refine: materialise {feed.bronze} first")
        reconciliation = {s.source: {"rows_in": s.rows_in, "accepted": s.accepted, "quarantined": s.quarantined,
                                     "receipts_refined": len(s.ingest_ids), "receipts_withdrawn": len(s.withdrawn)}
                          for s in summaries}
        yield dg.MaterializeResult(
            asset_key=feed.table,
            metadata={
                **table_metadata(lakehouse.describe("silver", feed.table, sum(s.accepted for s in summaries)),
                                 head(lakehouse, "silver", feed.table)),
                "reconciliation": dg.MetadataValue.json(reconciliation),
            },
        )
        by_rule: dict[str, int] = {}
        for s in summaries:
            for rule, count in s.rejects_by_rule:
                by_rule[rule] = by_rule.get(rule, 0) + count
        name = rejects_table(sources.specs(feed.table)[0])
        yield dg.MaterializeResult(
            asset_key=feed.rejects,
            metadata={**table_metadata(lakehouse.describe("quarantine", name, sum(by_rule.values())),
                                       head(lakehouse, "quarantine", name)),
                      "by_rule": dg.MetadataValue.json(by_rule)},
        )

    return silver
