"""Link-analysis assets: call networks per week, communities, key players, burners, fraud rings, charts.

Gold tables (Delta): ``call_edges``, ``call_communities``, ``key_players``,
``burner_phones``, ``fraud_rings``. Link charts (offline HTML pages of
selections, GraphML and GEXF) go to ``<CRIMEFUSION_HOME>/reports/links/``.

Weeks, not Dagster partitions
-----------------------------
A call network is analysed per ISO week (Monday 00:00 UTC). The assets are
*not* Dagster-partitioned by week: the silver tables are partitioned by ingest
date, and a day's file can hold calls of any week, so a weekly partition would
need a mapping from ingest dates to weeks that a plain ``crimefusion run``
(one ingest date) could not materialise simply. Instead ``call_edges`` rebuilds
the weeks that rows changed since its last run touch (silver's change data
feed, :func:`orchestration.lakehouse.changes.changed_periods`; every week the
first time) and rewrites each
week's rows with ``replace_where period = <week>`` (one commit per week), and
``call_communities``/``key_players`` do the same for the weeks of
``call_edges`` that changed. Re-running gives the same rows; a week no longer
in silver is emptied. ``burner_phones`` and ``fraud_rings`` look at the whole window at
once (a burner's life or a ring's cycle spans weeks) and are full refreshes in
one commit: ring ids are positions in a ranking, not keys to merge on.
"""


import datetime as dt

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from jobs.links.lookups import chart_week, periods_of
from orchestration.lakehouse import changes
from orchestration.lakehouse.changes import changed_periods
from jobs.links.schemas import BURNER_PHONES, CALL_COMMUNITIES, CALL_EDGES, FRAUD_RINGS, KEY_PLAYERS
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.retries import SPARK_RETRY, STORAGE_RETRY

OWNERS = ["team:intelligence-analysis"]
#: The layer of the tables they write; the HTML charts go to ``reports`` (the domain shows as the tag
#: ``crimefusion/domain: links``).
GROUP = "gold"
WEEK = dt.timedelta(days=7)
CDR_COLUMNS = ["caller", "callee", "start_time", "duration_s", "kind", "direction"]
TXN_COLUMNS = ["txn_id", "account", "counterparty", "amount", "occurred_at", "channel", "direction"]


def _read_period(lakehouse: Lakehouse, name: str, period: dt.datetime) -> pa.Table:
    return lakehouse.read("gold", name, filters=[("period", "=", period)])


def _replace_period(lakehouse: Lakehouse, name: str, table: pa.Table, period: dt.datetime):
    return lakehouse.replace_where("gold", name, table, f"period = {sql_literal(period)}")


def _require(lakehouse: Lakehouse, layer: str, name: str, asset: str) -> None:
    if not lakehouse.exists(layer, name):
        raise FileNotFoundError(
            f"{asset}: {layer}/{name} does not exist under {lakehouse.root}; materialise "
            f"'{name}' first (crimefusion run, or the Dagster UI)"
        )


# -- call edges -------------------------------------------------------------------

class CallEdgesConfig(dg.Config):
    kinds: list[str] = Field(default=["voice", "sms"], description="CDR kinds that make an edge (data sessions have no callee).")


@dg.asset(
    key="call_edges",
    retry_policy=SPARK_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "call_edges", CALL_EDGES),
    kinds={"delta", "python", "spark"},  # runs in Spark tasks with CRIMEFUSION_COMPUTE_ENGINE=spark
    owners=OWNERS,
    deps=["cdr_events"],
    description=(
        "Gold: the call network per ISO week (Monday 00:00 UTC): one row per (week, caller, callee) with "
        "the number of calls and SMS, total duration and first/last contact. An operator's two rows of an "
        "on-net call (out and in) count once. Incremental: the weeks that CDR rows changed since the last "
        "run touch are rebuilt and replaced (replace_where on period); every week the first time."
    ),
)
def call_edges(context: dg.AssetExecutionContext, config: CallEdgesConfig, lakehouse: Lakehouse,
               compute: Compute) -> dg.MaterializeResult:
    from jobs.links.edges import aggregate_edges

    _require(lakehouse, "silver", "cdr_events", "call_edges")
    version = lakehouse.version("silver", "cdr_events")
    consumer = changes.consumer_key("gold/call_edges", sorted(config.kinds))  # other kinds: every week again
    weeks, mode = changed_periods(lakehouse, "silver", "cdr_events", "start_time", consumer, version,
                                  existing=lambda: periods_of(lakehouse, "call_edges")
                                  if lakehouse.exists("gold", "call_edges") else None)
    context.log.info(f"call_edges ({mode}): {len(weeks)} week(s) to rebuild")
    per_week, result, sample = [], None, None
    for week in weeks:
        # one week of CDRs in memory at a time (Delta file statistics skip other weeks' files)
        rows = lakehouse.read("silver", "cdr_events", columns=CDR_COLUMNS,
                              filters=[("start_time", ">=", week), ("start_time", "<", week + WEEK)])
        if compute.engine == "spark":
            from jobs.spark.links import spark_call_edges

            edges = spark_call_edges(compute.spark(), rows, period="week", kinds=tuple(config.kinds),
                                     partitions=compute.spark_partitions)
        else:
            edges = aggregate_edges(rows, period="week", kinds=tuple(config.kinds))
        result = _replace_period(lakehouse, "call_edges", edges, week)
        sample = edges if sample is None or edges.num_rows else sample
        phones = len(set(edges["caller"].to_pylist()) | set(edges["callee"].to_pylist()))
        per_week.append({"week": week.date().isoformat(), "cdr_rows": rows.num_rows, "edges": edges.num_rows, "phones": phones})
        context.log.info(f"call_edges week {week.date()}: {rows.num_rows:,} CDR rows -> {edges.num_rows:,} edges, {phones:,} phones")
    if result is None:
        if mode == "full":
            context.log.warning("silver/cdr_events is empty: call_edges has no week to build")
        if not lakehouse.exists("gold", "call_edges"):
            lakehouse.overwrite("gold", "call_edges", CALL_EDGES.empty_table())
        result, sample = lakehouse.describe("gold", "call_edges"), CALL_EDGES.empty_table()
    changes.enable_change_feed(lakehouse, "gold", "call_edges")  # call_network follows the weeks rebuilt here
    changes.save_watermarks(lakehouse, consumer, {"silver/cdr_events": version})
    return dg.MaterializeResult(metadata={
        **table_metadata(result, sample),
        "weeks": dg.MetadataValue.md(_md_rows(per_week)),
        "weeks_rebuilt": dg.MetadataValue.int(len(weeks)),
        "mode": dg.MetadataValue.text(mode),
        "cdr_events_version": dg.MetadataValue.int(version or 0),
    })


def _md_rows(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(f"{r[n]:,}" if isinstance(r[n], int) else str(r[n]) for n in names) + " |" for r in rows]
    return "\n".join(lines)


# -- communities and key players --------------------------------------------------------

class CallNetworkConfig(dg.Config):
    seed: int = Field(default=0, description="Seed of Leiden and of the betweenness source sample.")
    resolution: float = Field(default=1.0, gt=0, description="Modularity resolution (larger: smaller communities).")
    weight: str = Field(default="n_events", description="Edge weight: n_events, n_voice, n_sms or total_duration_s.")
    betweenness_k: int = Field(default=256, ge=1, description="Sampled sources of betweenness (exact on smaller graphs).")


@dg.multi_asset(
    name="call_network",
    retry_policy=STORAGE_RETRY,
    specs=[
        dg.AssetSpec(
            "call_communities",
            group_name=GROUP,
            metadata=lake_table("gold", "call_communities", CALL_COMMUNITIES),
            kinds={"delta", "python"},
            owners=OWNERS,
            deps=["call_edges"],
            description=(
                "Gold: the Leiden community (Traag et al. 2019, modularity) of every phone in each week's call "
                "network, labelled 0.. by decreasing size. The weeks of call_edges that changed since the last "
                "run are recomputed and replaced (replace_where on period)."
            ),
        ),
        dg.AssetSpec(
            "key_players",
            group_name=GROUP,
            metadata=lake_table("gold", "key_players", KEY_PLAYERS),
            kinds={"delta", "python"},
            owners=OWNERS,
            deps=["call_edges"],
            description=(
                "Gold: centralities of every phone per week (degree, strength, k-core, sampled betweenness, "
                "eigenvector, PageRank) and its rank inside its community (mean of the four rank scores)."
            ),
        ),
    ],
)
def call_network(context: dg.AssetExecutionContext, config: CallNetworkConfig, lakehouse: Lakehouse):
    from jobs.links.graph import call_network as network

    _require(lakehouse, "gold", "call_edges", "call_network")
    version = lakehouse.version("gold", "call_edges")
    consumer = changes.consumer_key("gold/call_network", config.model_dump())  # other settings: every week again
    weeks, mode = changed_periods(lakehouse, "gold", "call_edges", "period", consumer, version, period=None,
                                  existing=lambda: periods_of(lakehouse, "call_communities")
                                  if lakehouse.exists("gold", "call_communities") else None)
    context.log.info(f"call_network ({mode}): {len(weeks)} week(s) to recompute")
    written: dict[str, object] = {}
    samples: dict[str, pa.Table] = {}
    per_week = []
    for week in weeks:
        edges = _read_period(lakehouse, "call_edges", week)
        comms, keys = network(edges, seed=config.seed, resolution=config.resolution, weight=config.weight,
                              betweenness_k=config.betweenness_k)
        written["call_communities"] = _replace_period(lakehouse, "call_communities", comms, week)
        written["key_players"] = _replace_period(lakehouse, "key_players", keys, week)
        samples = {"call_communities": comms, "key_players": keys.slice(0, 5)}
        n_comm = len(set(comms["community"].to_pylist()))
        largest = int(pc.max(comms["size"]).as_py() or 0) if comms.num_rows else 0
        per_week.append({"week": week.date().isoformat(), "phones": comms.num_rows, "communities": n_comm, "largest": largest})
        context.log.info(f"call_network week {week.date()}: {comms.num_rows:,} phones in {n_comm:,} communities (largest {largest:,})")
    for name, schema in (("call_communities", CALL_COMMUNITIES), ("key_players", KEY_PLAYERS)):
        if name not in written:
            if not lakehouse.exists("gold", name):
                lakehouse.overwrite("gold", name, schema.empty_table())
            written[name], samples[name] = lakehouse.describe("gold", name), schema.empty_table()
    changes.save_watermarks(lakehouse, consumer, {"gold/call_edges": version})
    common = {"weeks": dg.MetadataValue.md(_md_rows(per_week)), "call_edges_version": dg.MetadataValue.int(version or 0),
              "mode": dg.MetadataValue.text(mode),
              "seed": dg.MetadataValue.int(config.seed), "resolution": dg.MetadataValue.float(config.resolution)}
    yield dg.MaterializeResult(asset_key="call_communities",
                               metadata={**table_metadata(written["call_communities"], samples["call_communities"]), **common})
    yield dg.MaterializeResult(asset_key="key_players",
                               metadata={**table_metadata(written["key_players"], samples["key_players"]), **common})


# -- burner phones -------------------------------------------------------------------------

class BurnerPhonesConfig(dg.Config):
    max_active_days: float = Field(default=14.0, gt=0, description="Short-lived: first to last activity within this many days.")
    max_contacts: int = Field(default=12, ge=1, description="Few contacts: talks to at most this many numbers.")
    min_events: int = Field(default=10, ge=1, description="Phones with fewer events are not scored.")
    min_score: int = Field(default=2, ge=1, le=3, description="Indicators (short-lived, few contacts, shared handset) needed to flag.")


@dg.asset(
    key="burner_phones",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "burner_phones", BURNER_PHONES),
    kinds={"delta", "python"},
    owners=OWNERS,
    deps=["cdr_events"],
    description=(
        "Gold: every phone with enough CDR events scored on three burner indicators (short-lived inside the "
        "data window, few contacts, handset shared with another number) and flagged is_burner when at least "
        "two hold. A full refresh over all of silver/cdr_events (a burner's life spans weeks)."
    ),
)
@skip_unchanged()
def burner_phones(context: dg.AssetExecutionContext, config: BurnerPhonesConfig, lakehouse: Lakehouse) -> dg.MaterializeResult:
    from jobs.links.queries import burner_candidates

    _require(lakehouse, "silver", "cdr_events", "burner_phones")
    version = lakehouse.version("silver", "cdr_events")
    cdr = lakehouse.read("silver", "cdr_events", columns=[*CDR_COLUMNS, "imei"])
    table = burner_candidates(cdr, max_active_days=config.max_active_days, max_contacts=config.max_contacts,
                              min_events=config.min_events, min_score=config.min_score)
    if "is_burner" not in table.column_names:  # no activity at all: the kernel returns only a phone column
        table = BURNER_PHONES.empty_table()
    result = lakehouse.overwrite("gold", "burner_phones", table)
    flagged = int(pc.sum(table["is_burner"]).as_py() or 0) if table.num_rows else 0
    context.log.info(f"burner_phones: {flagged:,} of {table.num_rows:,} scored phones flagged")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table),
        "flagged": dg.MetadataValue.int(flagged),
        "cdr_events_version": dg.MetadataValue.int(version or 0),
    })


# -- fraud rings ------------------------------------------------------------------------------

class FraudRingsConfig(dg.Config):
    channels: list[str] = Field(default=["transfer"], description="Transaction channels that are account-to-account transfers.")
    max_cycle_length: int = Field(default=8, ge=2, description="Longest transfer cycle searched, in transfers.")
    min_cycle_length: int = Field(default=3, ge=2, description="Shortest cycle; 2-cycles are mostly loans paid back.")
    cycle_window: str = Field(default="7D", description="A cycle closes within this long of its first transfer.")
    amount_tolerance: float = Field(default=0.2, ge=0, lt=1, description="Each hop's amount within (1 +- this) of the previous.")
    min_fan_degree: int = Field(default=5, ge=2, description="Distinct payers (payees) of a fan-in (fan-out) hub in the window.")
    fan_window: str = Field(default="3D", description="Sliding window of fan patterns.")
    hold: str = Field(default="2D", description="How long a mule holds the money before passing it on.")
    pass_through: float = Field(default=0.8, gt=0, le=1, description="Share of the collected money passed on that makes a mule.")
    include_plain_fans: bool = Field(default=False, description="Also report fan hubs that keep the money (many false positives).")
    seed: int = Field(default=0, description="Seed of the account communities.")


@dg.asset(
    key="fraud_rings",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "fraud_rings", FRAUD_RINGS),
    kinds={"delta", "python"},
    owners=OWNERS,
    deps=["transactions"],
    description=(
        "Gold: suspected fraud rings in silver/transactions: time-respecting transfer cycles of 3 to 8 "
        "accounts with roughly conserved amounts, and mule accounts (money from 5+ payers within 3 days "
        "passed on within 2 days), joined through shared core accounts; each with its flows (JSON) and "
        "evidence. Both ledger rows of an internal transfer (debit and credit) count once. A full refresh: "
        "one new transfer can join two rings, so ring ids are ranks (by total amount), not merge keys."
    ),
)
@skip_unchanged()
def fraud_rings(context: dg.AssetExecutionContext, config: FraudRingsConfig, lakehouse: Lakehouse) -> dg.MaterializeResult:
    from jobs.links.fraud import fraud_rings as find_rings

    _require(lakehouse, "silver", "transactions", "fraud_rings")
    version = lakehouse.version("silver", "transactions")
    txns = lakehouse.read("silver", "transactions", columns=TXN_COLUMNS,
                          filters=[("channel", "in", list(config.channels))])
    rings = find_rings(
        txns, max_cycle_length=config.max_cycle_length, min_cycle_length=config.min_cycle_length,
        cycle_window=config.cycle_window, amount_tolerance=config.amount_tolerance,
        min_fan_degree=config.min_fan_degree, fan_window=config.fan_window, hold=config.hold,
        pass_through=config.pass_through, include_plain_fans=config.include_plain_fans,
        channels=list(config.channels), seed=config.seed,
    )
    result = lakehouse.overwrite("gold", "fraud_rings", rings)
    kinds: dict[str, int] = {}
    for pats in rings["patterns"].to_pylist():
        for p in set(pats):
            kinds[p] = kinds.get(p, 0) + 1
    context.log.info(f"fraud_rings: {rings.num_rows:,} rings from {txns.num_rows:,} transfer rows; rings with each pattern: {kinds}")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, rings.drop_columns(["flows", "evidence"])),
        "rings_by_pattern": dg.MetadataValue.json(kinds),
        "transfer_rows": dg.MetadataValue.int(txns.num_rows),
        "transactions_version": dg.MetadataValue.int(version or 0),
    })


# -- charts ---------------------------------------------------------------------------------

class LinkChartsConfig(dg.Config):
    week: str | None = Field(default=None, description="Week to chart (any date in it, ISO); default the latest complete week.")
    top_communities: int = Field(default=5, ge=0, description="Charts (HTML, GraphML, GEXF) of this many largest communities.")
    top_phones: int = Field(default=3, ge=0, description="Ego-network charts of this many phones of highest PageRank.")
    hops: int = Field(default=2, ge=1, le=3, description="Hops of the ego networks.")
    max_nodes: int = Field(default=150, ge=2, description="Most phones one chart shows (a note on the chart says what was left out).")
    seed: int = Field(default=0, description="Seed of the layout.")


@dg.asset(
    key="link_charts",
    retry_policy=STORAGE_RETRY,
    group_name="reports",  # HTML pages, no lakehouse table
    kinds={"html", "python"},
    owners=OWNERS,
    deps=["call_edges", "call_communities", "key_players", "cdr_events"],
    description=(
        "Link charts of one week's call network (default: the latest complete week) in "
        "<CRIMEFUSION_HOME>/reports/links/: index.html, then one chart per selection, not the whole "
        "network: the largest communities (community_NN.html, with GraphML + GEXF for Gephi, Cytoscape and "
        "i2-style tools) and the two-hop networks of the phones of highest PageRank (ego_<alias>.html). "
        "Each chart works offline (Cytoscape.js inline), labels phones with short stable aliases (P-XXXXX), "
        "has a legend of communities and link kinds, and lists the calls and SMS of a clicked link in the "
        "CDR feed's local time. crimefusion links chart draws any other community, phone or incident."
    ),
)
@skip_unchanged()
def link_charts(context: dg.AssetExecutionContext, config: LinkChartsConfig, lakehouse: Lakehouse,
                reports: Reports, sources: SourceCatalog) -> dg.MaterializeResult:
    from jobs.links.lookups import cdr_timezone, week_network
    from jobs.links.reports import write_link_charts

    week = chart_week(lakehouse, config.week)
    network = week_network(lakehouse, week, timezone=cdr_timezone(sources.specs("cdr_events")))
    out = reports.folder("links")
    label = week.date().isoformat()
    index, files, rows = write_link_charts(out, network, top_communities=config.top_communities,
                                           top_phones=config.top_phones, hops=config.hops,
                                           max_nodes=config.max_nodes, seed=config.seed)
    context.log.info(f"link_charts: week {label} ({network.timezone}), {len(rows)} charts, index at {index}")
    return dg.MaterializeResult(metadata={
        "network_view": dg.MetadataValue.path(str(index)),
        "week": dg.MetadataValue.text(label),
        "timezone": dg.MetadataValue.text(network.timezone),
        "folder": dg.MetadataValue.path(str(out)),
        "files": dg.MetadataValue.json(files),
        "charts": dg.MetadataValue.md(_md_rows(rows)),
        "phones": dg.MetadataValue.int(network.communities.num_rows),
        "edges": dg.MetadataValue.int(network.edges.num_rows),
    })
