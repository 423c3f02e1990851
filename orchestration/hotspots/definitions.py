"""The hotspot domain's definitions: features, backtest, model, the weekly forecast and its job and schedule."""

from __future__ import annotations

import dagster as dg

from orchestration.hotspots import assets as hotspot_assets
from orchestration.hotspots import checks as hotspot_checks
from orchestration.hotspots.schedules import hotspot_weekly_job, hotspot_weekly_schedule
from orchestration.platform.feeds import Feeds


def defs(feeds: Feeds) -> dg.Definitions:  # always loaded
    return dg.Definitions(assets=dg.load_assets_from_modules([hotspot_assets]),
                          asset_checks=dg.load_asset_checks_from_modules([hotspot_checks]),
                          jobs=[hotspot_weekly_job], schedules=[hotspot_weekly_schedule])
