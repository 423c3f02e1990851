"""The ingest domain's definitions: one bronze/silver/quarantine family per fed table, its checks, the landing sensor."""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.assets import build_feed_assets
from orchestration.ingest.checks import build_feed_checks
from orchestration.ingest.sensors import build_landing_sensor
from orchestration.platform.feeds import Feeds


def defs(feeds: Feeds) -> dg.Definitions:
    tables = list(feeds.tables)
    return dg.Definitions(
        assets=build_feed_assets(tables, synthetic_tables=set(feeds.synthetic)),
        asset_checks=build_feed_checks(tables),
        sensors=[build_landing_sensor(tables)],
    )
