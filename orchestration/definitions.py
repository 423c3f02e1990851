"""The one entry point Dagster loads: ``dagster dev -m orchestration.definitions``.

Resources are chosen here, when the definitions load, from
``CRIMEFUSION_DEPLOYMENT`` (``local`` or ``cluster``); nothing reads the
environment at import time.
"""

from __future__ import annotations

import dagster as dg

from orchestration.ingest import assets as ingest_assets
from orchestration.ingest import checks as ingest_checks
from orchestration.lakehouse import assets as lakehouse_assets
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse, ObjectStoreLakehouse
from orchestration.resources.sources import SourceCatalog
from orchestration.settings import Settings, load_settings

ASSET_MODULES = [lakehouse_assets, ingest_assets]
CHECK_MODULES = [ingest_checks]


def build_resources(settings: Settings) -> dict:
    """Resources for a deployment: the same keys, local or cluster implementations."""
    sources = SourceCatalog(spec_paths=[str(p) for p in settings.spec_files()])
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
    return {"lakehouse": lakehouse, "sources": sources, "compute": Compute()}


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    assets = dg.load_assets_from_modules(ASSET_MODULES)
    checks = dg.load_asset_checks_from_modules(CHECK_MODULES)
    everything = dg.define_asset_job(
        "crimefusion_all",
        selection=dg.AssetSelection.all(),
        description="Materialise every asset: bronze -> silver -> gold, with the blocking checks.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[everything],
        resources=build_resources(settings),
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
