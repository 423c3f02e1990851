"""The hotspot domain's definitions: features, backtest, model, the weekly forecast, the plan's audits, their job and
schedule."""

from __future__ import annotations

import dagster as dg

from orchestration.fusion.definitions import NEEDS as FUSION_FEEDS
from orchestration.hotspots import assets as hotspot_assets
from orchestration.hotspots import audits as hotspot_audits
from orchestration.hotspots import checks as hotspot_checks
from orchestration.hotspots import exposure as hotspot_exposure
from orchestration.hotspots.schedules import hotspot_weekly_job, hotspot_weekly_schedule
from orchestration.platform.feeds import Feeds


def defs(feeds: Feeds) -> dg.Definitions:  # always loaded
    # cell_features reads gold events (the other feeds' activity) where fusion loads: a real input then
    features = hotspot_assets.build_cell_features(reads_events=feeds.has(*FUSION_FEEDS))
    modules = [hotspot_assets, hotspot_exposure, hotspot_audits]
    assets = [a for a in dg.load_assets_from_modules(modules) if features.key not in a.keys]
    return dg.Definitions(assets=[*assets, features],
                          asset_checks=dg.load_asset_checks_from_modules([hotspot_checks, hotspot_audits]),
                          jobs=[hotspot_weekly_job], schedules=[hotspot_weekly_schedule])
