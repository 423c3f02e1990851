"""Synthetic feeds with planted truth, generated over the silver Chicago incidents."""

import dagster as dg
import pyarrow.compute as pc
from pydantic import Field

from orchestration.ingest.assets import SYNTHETIC_UPSTREAM
from orchestration.ingest.partitions import INGEST_DATES
from orchestration.ingest.landing import landing_dir
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog
from orchestration.synthetic.files import LAYOUT, pseudonymise_truth, write_feed
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.retries import STORAGE_RETRY

OWNERS = ["team:data-engineering"]


class SyntheticConfig(dg.Config):
    seed: int = Field(default=42, description="Seed of every random draw: same seed, same feeds.")
    scale: float = Field(default=1.0, gt=0, description="Population multiplier; 27 gives over 10 million CDRs.")
    source: str = Field(default="chicago_aggravated_assaults", description="Incident source the feeds are laid over.")


@dg.multi_asset(
    name="generate_synthetic_feeds",
    retry_policy=STORAGE_RETRY,
    partitions_def=INGEST_DATES,
    specs=[
        dg.AssetSpec(
            SYNTHETIC_UPSTREAM,
            group_name="synthetic",  # demo generators: they write landing files, not lakehouse tables
            kinds={"python", "csv", "parquet"},
            owners=OWNERS,
            deps=["incidents"],
            description=(
                "Demo feeds an agency would hand over (CDRs, cell sites, transactions, OSINT posts, cameras, "
                "persons, case details), generated with a seed over the real Chicago incidents and written to "
                "the landing folder of the partition's ingest date, in each feed's export format. There is no "
                "public CDR or transaction data of real people, and there should not be. "
                "Turn off with CRIMEFUSION_SYNTHETIC=false."
            ),
        ),
        dg.AssetSpec(
            "synthetic_truth",
            group_name="truth",  # writes lake/truth/<name>
            metadata={"lake_tables": dg.MetadataValue.text("truth/<name>, one per kind of planted truth")},
            kinds={"delta"},
            owners=OWNERS,
            deps=["incidents"],
            description=(
                "The planted truth of the synthetic feeds (criminal groups, burner phones, IMEI swaps, "
                "co-locations, mule and ring accounts, ATM spike windows, linked series...), in truth/<name>, "
                "identifiers pseudonymised like silver so analyses can be scored against it. "
                "Ingestion never reads it."
            ),
        ),
    ],
)
@skip_unchanged()
def generate_synthetic_feeds(context: dg.AssetExecutionContext, config: SyntheticConfig, lakehouse: Lakehouse,
                             sources: SourceCatalog, pseudonymiser: Pseudonymiser):
    from jobs.synth import generate

    incidents = lakehouse.read("silver", "incidents",
                               columns=["incident_id", "source", "occurred_at", "lon", "lat", "category", "location_type"])
    incidents = incidents.filter(pc.equal(incidents["source"], config.source)).drop_columns(["source"])
    if not incidents.num_rows:
        raise ValueError(f"no silver incidents from source {config.source!r} to lay the synthetic feeds over")
    feeds = generate(incidents, seed=config.seed, scale=config.scale)
    partition = context.partition_key
    written, paths = [], []
    for name, table in feeds.feeds().items():
        if name not in LAYOUT:
            continue  # e.g. atm_terminals: the terminals' places travel with each transaction
        spec_name, _ = LAYOUT[name]
        path = write_feed(name, table, landing_dir(sources.landing_path(), sources.spec(spec_name), partition))
        written.append(f"- {spec_name}: {table.num_rows:,} rows -> {path}")
        paths.append(str(path))
        context.log.info(f"{spec_name}: {table.num_rows:,} rows written to {path}")
    yield dg.MaterializeResult(
        asset_key=SYNTHETIC_UPSTREAM,
        metadata={"files": dg.MetadataValue.md("\n".join(written)), "output_files": dg.MetadataValue.json(paths),
                  "seed": config.seed, "scale": config.scale},
    )
    key = pseudonymiser.key_bytes()
    counts = {}
    for name, table in feeds.truth().items():
        lakehouse.overwrite("truth", name, pseudonymise_truth(table, key))
        counts[name] = table.num_rows
    yield dg.MaterializeResult(asset_key="synthetic_truth", metadata={"tables": dg.MetadataValue.json(counts)})
