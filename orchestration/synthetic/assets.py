"""Synthetic feeds with planted truth, generated over the Chicago incidents.

The generator stands for the other agencies' systems (phone operators, banks, social platforms): it sees the
incidents as the world has them, so it reads the incident source's own files (the spec's ``files``, parsed
exactly as ingestion parses them: the same ids), not the lakehouse. The lineage then reads synthetic >
bronze > silver > gold, with no loop through silver, and the generator reruns when those files change.
"""

import dagster as dg
import pyarrow as pa
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
from orchestration.resources.compute import Compute

OWNERS = ["team:data-engineering"]


class SyntheticConfig(dg.Config):
    seed: int = Field(default=42, description="Seed of every random draw: same seed, same feeds.")
    scale: float = Field(default=1.0, gt=0, description="Population multiplier; 27 gives over 10 million CDRs.")
    source: str = Field(default="chicago_aggravated_assaults", description="Incident source the feeds are laid over.")


def _source_files(context, kwargs) -> list:
    """The incident source's own files: a change to them generates the feeds again."""
    return kwargs["sources"].spec(kwargs["config"].source).resolve_files()


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
            description=(
                "Demo feeds an agency would hand over (CDRs, cell sites, transactions, OSINT posts, cameras, "
                "persons, case details), generated with a seed over the real Chicago incidents (read from the "
                "incident source's own files, parsed as ingestion parses them) and written to "
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
            description=(
                "The planted truth of the synthetic feeds (criminal groups, burner phones, IMEI swaps, "
                "co-locations, mule and ring accounts, ATM spike windows, linked series...), in truth/<name>, "
                "identifiers pseudonymised like silver so analyses can be scored against it. "
                "Ingestion never reads it."
            ),
        ),
    ],
)
@skip_unchanged(files=_source_files)
def generate_synthetic_feeds(context: dg.AssetExecutionContext, config: SyntheticConfig, lakehouse: Lakehouse,
                             sources: SourceCatalog, pseudonymiser: Pseudonymiser, compute: Compute):
    from jobs.synth import generate

    incidents = source_incidents(sources, config.source, pseudonymiser.key_bytes(), compute)
    context.log.info(f"{incidents.num_rows:,} incidents of {config.source} read from its files")
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


#: The incident columns the generator lays the feeds over.
INCIDENT_COLUMNS = ["incident_id", "occurred_at", "lon", "lat", "category", "location_type"]


def source_incidents(sources: SourceCatalog, name: str, key: bytes, compute: Compute) -> pa.Table:
    """The accepted rows of incident source ``name``'s own files (its spec's ``files``), parsed as ingestion
    parses them (same ids, same rejects left out); an error naming the spec when it has no file or no row."""
    from jobs.ingest.readers import read_source
    from jobs.ingest.records import ParseState, parse_records
    from orchestration.ingest.boundaries import read_boundaries

    spec = sources.spec(name)
    paths = spec.resolve_files()
    if spec.table != "incidents" or not paths:
        raise ValueError(f"the synthetic feeds are laid over an incident source with files: spec {name!r} has "
                         f"table {spec.table!r} and {len(paths)} file(s) (spec key `files`)")
    boundaries = read_boundaries(spec) if spec.study_area is not None else None
    state, parts = ParseState(), []
    for path in paths:
        parsed = parse_records(read_source(spec, path).table, spec, boundaries=boundaries,
                               ctx=compute.sedona() if boundaries is not None else None, pseudonym_key=key,
                               state=state)
        parts.append(parsed.accepted.select(INCIDENT_COLUMNS))
    incidents = pa.concat_tables(parts)
    if not incidents.num_rows:
        raise ValueError(f"no valid incident in the files of source {name!r} to lay the synthetic feeds over")
    return incidents
