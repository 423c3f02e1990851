"""The lineage the UI draws: groups are lake layers, names are table names, domains are tags; every asset
has its columns described where its table has a schema, and a reference to its code; every schedule and
sensor says what it does. Jobs select exactly what they selected when groups were domains (pinned below).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import DOMAINS, build_definitions, domain_name
from orchestration.platform.lineage import DOMAIN_TAG, OTHER_GROUPS, TABLE_LAYERS
from orchestration.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]

FEEDS = ["incidents", "cdr_events", "cell_sites", "osint_posts", "transactions", "cameras", "persons",
         "incident_enrichment"]
INGEST = {name for t in FEEDS for name in (f"raw_{t}", t, f"{t}_rejects")}
FUSION = {"events", "incident_context", "entity_links", "entities", "fusion_map_layers"}
# What each job selected before groups became layers (groups were domains then), renamed assets renamed.
NIGHTLY = INGEST | FUSION | {"police_districts", "source_catalog", "synthetic_feeds", "synthetic_truth"}
RETRAIN = {"cell_features", "hotspot_backtest", "hotspot_model", "phone_features", "account_features",
           "entity_anomaly_model"}
PER_WEEK = {"hotspot_forecast", "patrol_plan", "patrol_exposure", "feedback_audit", "patrol_whatif"}
PER_CLIP = {"detections", "video_rejects", "video_events"}
EAGER = {"district_daily_counts", "near_repeat", "hotspots_gi", "repeats", "call_edges", "call_communities",
         "key_players", "burner_phones", "fraud_rings", "link_charts", "events", "incident_context", "entity_links",
         "entities", "fusion_map_layers", "phone_features", "account_features", "entity_anomalies", "anomaly_report"}
FRESH = EAGER | {"crime_series", "entity_anomaly_model"}  # on schedule: fresh, not eager
CRIMES_ONLY = {"raw_incidents", "incidents", "incidents_rejects", "police_districts", "source_catalog"}
#: Tables with a canonical Arrow schema, so their assets list their columns before the first run.
DESCRIBED = INGEST - {f"raw_{t}" for t in FEEDS} | {
    "police_districts", "source_catalog", "near_repeat", "crime_series", "repeats", "call_edges", "call_communities",
    "key_players", "burner_phones", "fraud_rings", "spike_alerts", "entity_anomalies", "events", "incident_context",
    "entity_links", "entities", "detections", "video_rejects", "video_events", "patrol_exposure", "osint_mentions",
    "chatter_alerts", "osint_incident_links"}


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    return build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path_factory.mktemp("lake"))}))


def nodes(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}


def selected(defs: dg.Definitions, job: str) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys}


def test_jobs_select_what_they_selected_before(defs):
    everything = set(nodes(defs))
    assert selected(defs, "nightly_ingest_and_fusion") == NIGHTLY
    assert selected(defs, "weekly_retrain") == RETRAIN
    assert selected(defs, "hourly_anomaly_scoring") == {"spike_alerts", "entity_anomalies", "anomaly_report"}
    assert selected(defs, "hotspot_forecast_weekly") == PER_WEEK
    assert selected(defs, "video_detection") == PER_CLIP
    assert selected(defs, "crimefusion_all") == everything - PER_WEEK - PER_CLIP
    assert len(everything - PER_WEEK - PER_CLIP) == 57


def test_jobs_of_a_crimes_only_deployment_select_what_they_did(tmp_path):
    defs = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path), "CRIMEFUSION_SYNTHETIC": "false"}))
    assert selected(defs, "nightly_ingest_and_fusion") == CRIMES_ONLY
    assert selected(defs, "weekly_retrain") == {"cell_features", "hotspot_backtest", "hotspot_model"}
    assert selected(defs, "crimefusion_all") == CRIMES_ONLY | {
        "district_daily_counts", "near_repeat", "hotspots_gi", "crime_series", "repeats", "cell_features",
        "hotspot_backtest", "hotspot_model"}


def test_eager_updates_and_freshness_policies_are_where_they_were(defs):
    found = nodes(defs)
    assert {k for k, n in found.items() if n.automation_condition is not None} == EAGER
    assert {k for k, n in found.items() if n.freshness_policy is not None} == FRESH


def test_groups_are_the_layers_of_the_tables_written_and_names_the_tables(defs):
    groups = {}
    for key, node in nodes(defs).items():
        groups.setdefault(node.group_name, set()).add(key)
        table = node.metadata.get("dagster/table_name")
        if table is not None:  # one asset, one table: named as it, grouped by its layer
            assert table == f"{node.group_name}.{key}", key
        elif node.group_name in TABLE_LAYERS:  # one table per source (bronze), per kind of truth
            assert node.metadata["lake_tables"].value.startswith(f"{node.group_name}/"), key
        else:
            assert node.group_name in OTHER_GROUPS, key
    assert groups["bronze"] == {f"raw_{t}" for t in FEEDS}
    assert groups["silver"] == set(FEEDS) | {"detections"}
    assert groups["quarantine"] == {f"{t}_rejects" for t in FEEDS} | {"video_rejects"}
    assert groups["reference"] == {"police_districts", "source_catalog"}
    assert groups["truth"] == {"synthetic_truth"}
    assert groups["models"] == {"hotspot_model", "entity_anomaly_model"}
    assert groups["reports"] == {"link_charts", "anomaly_report", "fusion_map_layers"}
    assert groups["synthetic"] == {"synthetic_feeds"} and groups["demo"] == {"demo_video"}
    # one asset per gold table; fusion's working tables beside them are written by the asset they serve
    # (entity_stats by entities, the link partials by entity_links, place_gazetteer by incident_context)
    assert len(groups["gold"]) == 29


def test_every_asset_is_tagged_with_the_domain_that_defines_it(defs, tmp_path):
    from orchestration.platform.feeds import Feeds
    from orchestration.resources.factory import build_resources

    resources = build_resources(load_settings({"CRIMEFUSION_LAKE": str(tmp_path)}))
    feeds = Feeds.of(resources["sources"], synthetic=True)
    found = nodes(defs)
    for domain in DOMAINS:
        for assets_def in domain.defs(feeds).assets or []:
            for key in assets_def.keys:
                assert found[key.to_user_string()].tags[DOMAIN_TAG] == domain_name(domain), key
    assert {n.tags[DOMAIN_TAG] for n in found.values()} == {
        "lakehouse", "patterns", "hotspots", "ingest", "synthetic", "links", "anomalies", "fusion", "vision",
        "osint"}


def test_every_asset_references_the_code_that_defines_it(defs):
    for key, node in nodes(defs).items():
        [ref] = node.metadata["dagster/code_references"].code_references
        path = Path(ref.file_path)
        # the asset's own module (not the module of a decorator that wraps its function), at its decorator, or
        # at its compute function when a factory decorates it (cell_features: its deps depend on the feeds)
        assert path.parent.parent == ROOT / "orchestration", (key, path)
        assert path.parent.name == node.tags[DOMAIN_TAG], (key, path)
        line = path.read_text().splitlines()[ref.line_number - 1].lstrip()
        assert line.startswith("@dg.") or line.startswith(f"def _{key}("), (key, ref)


def test_tables_with_a_schema_list_their_columns_and_silver_describes_every_column(defs):
    from jobs.schemas import CANONICAL, REJECTS

    found = nodes(defs)
    with_columns = {k for k, n in found.items() if "dagster/column_schema" in n.metadata}
    assert with_columns == DESCRIBED
    for table, schema in CANONICAL.items():
        columns = found[table].metadata["dagster/column_schema"].columns
        assert [c.name for c in columns] == schema.names
        assert all(c.description for c in columns), [c.name for c in columns if not c.description]
    rejects = found["incidents_rejects"].metadata["dagster/column_schema"].columns
    assert [c.name for c in rejects] == REJECTS.names and all(c.description for c in rejects)


def test_every_schedule_and_sensor_says_what_it_does(defs):
    repository = defs.get_repository_def()
    for schedule in repository.schedule_defs:
        assert schedule.description and len(schedule.description) > 40, schedule.name
    assert len(repository.schedule_defs) == 4
    ours = [s for s in repository.sensor_defs if s.name != "default_automation_condition_sensor"]  # Dagster's
    assert len(ours) == 4
    for sensor in ours:
        assert sensor.description and len(sensor.description) > 40, sensor.name


def test_the_layers_form_no_loop_with_the_synthetic_demo(defs):
    """Collapsed to its groups, the graph reads synthetic > bronze > silver > gold: the demo generator reads the
    incident source's own files, not silver, so nothing runs back from silver to bronze."""
    import networkx as nx

    graph = defs.resolve_asset_graph()
    g = nx.DiGraph()
    for key in graph.get_all_asset_keys():
        for parent in graph.get(key).parent_keys:
            a, b = graph.get(parent).group_name, graph.get(key).group_name
            if a != b:
                g.add_edge(a, b)
    assert nx.has_path(g, "synthetic", "bronze") and nx.has_path(g, "bronze", "silver")
    assert nx.has_path(g, "silver", "gold") and not nx.has_path(g, "silver", "bronze")
    assert not nx.has_path(g, "bronze", "synthetic") and not nx.has_path(g, "silver", "synthetic")
    # the only loops: the demo clip between silver tables, and models between gold tables (features > model >
    # forecast)
    assert {frozenset(c) for c in nx.simple_cycles(g)} == {frozenset({"silver", "demo"}),
                                                        frozenset({"gold", "models"})}
