"""The one entry point Dagster loads: ``dagster dev -m orchestration.definitions``.

Resources and the feed asset families are chosen here, when the definitions
load, from the settings (``CRIMEFUSION_DEPLOYMENT``, the source specs...);
nothing reads the environment at import time.
"""

from __future__ import annotations

import dagster as dg

from orchestration.anomalies import assets as anomaly_assets
from orchestration.anomalies import checks as anomaly_checks
from orchestration.anomalies.sensors import SENSORS as ANOMALY_SENSORS
from orchestration.fusion import assets as fusion_assets
from orchestration.fusion import checks as fusion_checks
from orchestration.hotspots import assets as hotspot_assets
from orchestration.hotspots import checks as hotspot_checks
from orchestration.hotspots.schedules import hotspot_weekly_job, hotspot_weekly_schedule
from orchestration.ingest.assets import INGEST_DATES, build_feed_assets
from orchestration.ingest.checks import build_feed_checks
from orchestration.ingest.sensors import build_landing_sensor
from orchestration.lakehouse import assets as lakehouse_assets
from orchestration.links import assets as links_assets
from orchestration.links import checks as links_checks
from orchestration.ops.automation import (TRAINS_TAG, build_jobs_and_schedules, with_automation, with_retries,
                                          with_spark_kind)
from orchestration.patterns import assets as pattern_assets
from orchestration.quality.sensors import run_failure_notifier
from orchestration.vision import checks as vision_checks
from orchestration.vision.assets import build_vision_assets
from orchestration.vision.sensors import JOBS as VISION_JOBS
from orchestration.vision.sensors import SENSORS as VISION_SENSORS
from orchestration.vision.sensors import TARGETS as PER_VIDEO
from orchestration.patterns import checks as pattern_checks
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse, ObjectStoreLakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import default_tracking
from orchestration.settings import Settings, load_settings

#: Modules whose assets and checks load as they are (domain folders add theirs here).
ASSET_MODULES = [lakehouse_assets, pattern_assets, hotspot_assets]
CHECK_MODULES = [pattern_checks, hotspot_checks]

#: Assets partitioned by forecast week run in their own job (a job holds one partition scheme).
WEEKLY = dg.AssetSelection.assets("hotspot_forecast", "patrol_plan")
#: Domains that analyse the synthetic feeds' tables (CDRs, transactions): loaded when those feeds exist.
FEED_ASSET_MODULES = [links_assets, anomaly_assets, fusion_assets]
FEED_CHECK_MODULES = [links_checks, anomaly_checks, fusion_checks]


def build_resources(settings: Settings) -> dict:
    """Resources for a deployment: the same keys, local or cluster implementations."""
    sources = SourceCatalog(spec_paths=[str(p) for p in settings.spec_files()], landing=str(settings.landing),
                            data_roots=[str(p) for p in settings.data_roots])
    pseudonymiser = Pseudonymiser(
        key=dg.EnvVar("CRIMEFUSION_PSEUDONYM_KEY") if settings.pseudonym_key else None,
        allow_demo_key=settings.deployment == "local",
        raw_identifiers=settings.raw_identifiers,
    )
    if settings.deployment == "cluster":
        lakehouse = ObjectStoreLakehouse(
            root=settings.lake,
            endpoint_url=settings.s3_endpoint,
            region=settings.s3_region,
            allow_http=settings.s3_allow_http,
            access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
            secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        )
    else:
        lakehouse = LocalLakehouse(root=settings.lake)
    compute = Compute(engine=settings.compute_engine, spark_master=settings.spark_master)
    return {"lakehouse": lakehouse, "sources": sources, "compute": compute, "pseudonymiser": pseudonymiser,
            "mlflow": default_tracking(settings.home)}


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    resources = build_resources(settings)
    sources: SourceCatalog = resources["sources"]
    tables = sources.tables()
    synthetic_tables = {s.table for s in sources.specs() if s.name.startswith("synthetic_")} if settings.synthetic else set()

    assets = [*dg.load_assets_from_modules(ASSET_MODULES), *build_feed_assets(tables, synthetic_tables=synthetic_tables)]
    checks = [*dg.load_asset_checks_from_modules(CHECK_MODULES), *build_feed_checks(tables)]
    if synthetic_tables:
        from orchestration.synthetic import assets as synthetic_assets

        assets += dg.load_assets_from_modules([synthetic_assets])
    sensors = [build_landing_sensor(tables), run_failure_notifier]
    jobs = [hotspot_weekly_job]
    daily = dg.AssetSelection.all() - WEEKLY
    if {"cdr_events", "transactions"} <= set(tables):
        assets += dg.load_assets_from_modules(FEED_ASSET_MODULES)
        checks += dg.load_asset_checks_from_modules(FEED_CHECK_MODULES)
        sensors += ANOMALY_SENSORS
    if "cameras" in tables:
        assets += build_vision_assets(demo="cameras" in synthetic_tables)
        checks += dg.load_asset_checks_from_modules([vision_checks])
        sensors += VISION_SENSORS
        # per video file (dynamic partitions): their own job, one run per clip; a job holds one partition scheme
        jobs += VISION_JOBS
        daily -= dg.AssetSelection.assets(*PER_VIDEO)
    assets = with_automation(assets)
    if any(k.to_user_string() == "events" for a in assets for k in a.keys):
        # cell_features adds CDR/transaction/OSINT/detection activity from gold events when they exist
        assets = list(dg.map_asset_specs(
            lambda spec: spec.replace_attributes(deps=[*spec.deps, dg.AssetDep("events")])
            if spec.key.to_user_string() == "cell_features" else spec, assets))
    assets = with_retries(with_spark_kind(assets))
    asset_keys = {k.to_user_string() for a in assets for k in a.keys}
    extra_jobs, extra_schedules = build_jobs_and_schedules(asset_keys, INGEST_DATES)
    everything = dg.define_asset_job(
        "crimefusion_all",
        tags=TRAINS_TAG,
        selection=daily,
        description=("Materialise every asset for one ingest date: bronze -> silver -> gold, with the blocking "
                     "checks (the weekly forecast has its own job, hotspot_forecast_weekly; the per-file video "
                     "assets theirs, video_detection: `crimefusion run` runs it between the feeds and fusion)."),
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[everything, *jobs, *extra_jobs],
        schedules=[hotspot_weekly_schedule, *extra_schedules],
        sensors=sensors,
        resources=resources,
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
