"""The anomaly domain's definitions: spike scoring, entity models, the report, notification and hourly scoring."""

from __future__ import annotations

import dagster as dg

from orchestration.anomalies import assets as anomaly_assets
from orchestration.anomalies import checks as anomaly_checks
from orchestration.anomalies import schedules, sensors
from orchestration.platform.feeds import Feeds

#: The anomaly models score phones and accounts: the domain loads when CDRs and transactions are ingested.
NEEDS = ("cdr_events", "transactions")


def defs(feeds: Feeds) -> dg.Definitions:
    if not feeds.has(*NEEDS):
        return dg.Definitions()
    return dg.Definitions(assets=dg.load_assets_from_modules([anomaly_assets]),
                          asset_checks=dg.load_asset_checks_from_modules([anomaly_checks]),
                          sensors=sensors.SENSORS, jobs=schedules.JOBS, schedules=schedules.SCHEDULES)
