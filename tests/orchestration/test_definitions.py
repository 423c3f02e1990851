"""Load the Definitions and snapshot what they contain (catches broken imports before a deploy)."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.definitions import DOMAINS, build_definitions
from orchestration.settings import SettingsError, load_settings

FEED_TABLES = ["incidents", "cdr_events", "cell_sites", "osint_posts", "transactions", "cameras", "persons",
               "incident_enrichment"]
PATTERNS = {"near_repeat", "hotspots_gi", "crime_series", "repeats"}
PATTERN_CHECKS = {("hotspot_model", "beats_champion"), ("feedback_audit", "feedback_index_not_rising"),
                  ("near_repeat", "near_repeat_pairs_reconcile"), ("hotspots_gi", "hotspots_gi_covers_study_area"),
                  ("crime_series", "crime_series_linkage_auc"), ("repeats", "repeats_consistent")}
HOTSPOTS = {"cell_features", "hotspot_backtest", "hotspot_model", "hotspot_forecast", "patrol_plan", "patrol_exposure",
            "feedback_audit", "patrol_whatif"}
CORE = {"police_districts", "source_catalog", "raw_incidents", "incidents", "incidents_rejects", "district_daily_counts"} | PATTERNS | HOTSPOTS
LINKS = {"call_edges", "call_communities", "key_players", "burner_phones", "fraud_rings", "link_charts"}
LINK_CHECKS = {("call_edges", "call_edges_cover_input"), ("call_communities", "call_communities_cover_edges"),
               ("call_communities", "call_communities_match_truth"),
               ("burner_phones", "burner_phones_match_truth"), ("fraud_rings", "fraud_rings_match_truth")}
ANOMALIES = {"spike_alerts", "phone_features", "account_features", "entity_anomaly_model", "entity_anomalies",
             "anomaly_report"}
ANOMALY_CHECKS = {("spike_alerts", "spike_alerts_no_new_critical"),
                  ("entity_anomaly_model", "entity_anomaly_model_onnx_parity"),
                  ("entity_anomalies", "entity_anomalies_complete")}
FUSION = {"events", "incident_context", "entity_links", "entities", "fusion_map_layers"}
FUSION_CHECKS = {("entity_links", "entity_links_endpoints_known"), ("events", "events_reconcile"),
                 ("incident_context", "incident_context_keys")}
VISION = {"demo_video", "detections", "video_events", "video_rejects"}
VISION_CHECKS = {("detections", "detections_valid"), ("detections", "detections_match_demo_truth")}
OSINT = {"osint_mentions", "chatter_alerts", "osint_incident_links"}
OSINT_CHECKS = {("osint_mentions", "osint_mentions_match_truth"),
                ("chatter_alerts", "chatter_alerts_find_planted_bursts"),
                ("osint_incident_links", "osint_incident_links_match_truth")}
ASSETS = CORE | LINKS | ANOMALIES | FUSION | VISION | OSINT | {"synthetic_feeds", "synthetic_truth"} | {
    name for t in FEED_TABLES[1:] for name in (f"raw_{t}", t, f"{t}_rejects")}
CHECKS = {(t, f"{t}_{kind}") for t in FEED_TABLES for kind in ("quality", "reconcile")} | PATTERN_CHECKS | LINK_CHECKS | ANOMALY_CHECKS | FUSION_CHECKS | VISION_CHECKS | OSINT_CHECKS
JOBS = {"crimefusion_all", "notify_critical_spikes", "hotspot_forecast_weekly", "nightly_ingest_and_fusion",
        "weekly_retrain", "hourly_anomaly_scoring", "video_detection"}
SCHEDULES = {"hotspot_forecast_weekly_schedule", "nightly_ingest_schedule", "weekly_retrain_schedule",
             "hourly_anomaly_schedule"}


def snapshot(defs: dg.Definitions):
    graph = defs.resolve_asset_graph()
    assets = {k.to_user_string() for k in graph.get_all_asset_keys()}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    jobs = {j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
    schedules = {s.name for s in defs.schedules or []}
    return assets, checks, jobs, schedules


def test_local_definitions_snapshot(tmp_path):
    defs = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path)}))
    assets, checks, jobs, schedules = snapshot(defs)
    assert assets == ASSETS
    assert checks == CHECKS
    assert jobs == JOBS
    assert schedules == SCHEDULES
    assert {s.name for s in defs.sensors} == {"landing_sensor", "critical_spike_sensor", "run_failure_notifier",
                                              "video_sensor"}
    assert type(defs.resources["lakehouse"]).__name__ == "LocalLakehouse"


def test_without_synthetic_feeds_only_incidents_remain(tmp_path):
    defs = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path), "CRIMEFUSION_SYNTHETIC": "false"}))
    assets, checks, _, _ = snapshot(defs)
    # case details feed the series and repeat analyses; without a spec for them they show as an external source
    assert assets == CORE | {"incident_enrichment"}
    assert checks == {("incidents", "incidents_quality"), ("incidents", "incidents_reconcile")} | PATTERN_CHECKS


def test_cluster_definitions_use_object_store():
    defs = build_definitions(load_settings({"CRIMEFUSION_DEPLOYMENT": "cluster", "CRIMEFUSION_LAKE": "s3://lake",
                                            "CRIMEFUSION_S3_ENDPOINT": "http://127.0.0.1:9000",
                                            "CRIMEFUSION_PSEUDONYM_KEY": "not-a-real-key-but-32-bytes-long-0123"}))
    assert snapshot(defs)[0] == ASSETS
    assert type(defs.resources["lakehouse"]).__name__ == "ObjectStoreLakehouse"


def test_every_asset_is_documented():
    graph = build_definitions(load_settings({})).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.owners, key
        assert node.group_name != "default", key


def test_blocking_checks():
    graph = build_definitions(load_settings({})).resolve_asset_graph()
    # warnings, not gates: scores against planted truth, consistency notes
    advisory = {"repeats_consistent", "call_communities_match_truth", "burner_phones_match_truth", "fraud_rings_match_truth",
                "spike_alerts_no_new_critical", "entity_anomalies_complete", "detections_match_demo_truth",
                "osint_mentions_match_truth", "osint_incident_links_match_truth", "feedback_index_not_rising",
                "chatter_alerts_find_planted_bursts"}
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking == (key.name not in advisory), key


def test_bad_setting_is_readable():
    with pytest.raises(SettingsError, match="CRIMEFUSION_DEPLOYMENT"):
        load_settings({"CRIMEFUSION_DEPLOYMENT": "cloud"})


def test_gold_tables_update_eagerly_and_have_freshness_policies():
    graph = build_definitions(load_settings({})).resolve_asset_graph()
    node = graph.get(dg.AssetKey("district_daily_counts"))
    assert node.automation_condition is not None
    assert graph.get(dg.AssetKey("hotspot_model")).automation_condition is None  # trained on schedule only
    assert graph.get(dg.AssetKey("events")).freshness_policy is not None


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda module: module.__name__.split(".")[1])
def test_each_domain_exports_definitions_that_load_on_their_own(domain, tmp_path):
    from orchestration.platform.feeds import Feeds
    from orchestration.resources.factory import build_resources

    resources = build_resources(load_settings({"CRIMEFUSION_LAKE": str(tmp_path)}))
    own = domain.defs(Feeds.of(resources["sources"], synthetic=True))
    assert isinstance(own, dg.Definitions)
    alone = dg.Definitions.merge(own, dg.Definitions(resources=resources))
    alone.resolve_all_job_defs()  # its jobs select its own assets, its sensors find their resources
    whole = snapshot(build_definitions(load_settings({"CRIMEFUSION_LAKE": str(tmp_path)})))
    mine = {k.to_user_string() for a in own.assets or [] for k in a.keys}
    assert mine <= whole[0]
    assert {j.name for j in own.jobs or []} <= whole[2] and {s.name for s in own.schedules or []} <= whole[3]


def test_retraining_runs_are_limited_to_one(tmp_path):
    from orchestration.home import prepare_environment

    import yaml

    home = prepare_environment(load_settings({"CRIMEFUSION_HOME": str(tmp_path)}))
    limits = yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "crimefusion/trains", "limit": 1} in limits
    defs = build_definitions(load_settings({}))
    assert defs.resolve_job_def("weekly_retrain").tags["crimefusion/trains"] == "models"
    assert defs.resolve_job_def("crimefusion_all").tags["crimefusion/trains"] == "models"
