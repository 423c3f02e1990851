"""The fusion domain's definitions: gold events, incident context, entities and links, map layers."""

from __future__ import annotations

import dagster as dg

from orchestration.fusion import assets as fusion_assets
from orchestration.fusion import checks as fusion_checks
from orchestration.platform.feeds import Feeds

#: Fusion joins the synthetic feeds' tables: it loads when they are ingested.
NEEDS = ("cdr_events", "transactions")


def defs(feeds: Feeds) -> dg.Definitions:
    if not feeds.has(*NEEDS):
        return dg.Definitions()
    return dg.Definitions(assets=dg.load_assets_from_modules([fusion_assets]),
                          asset_checks=dg.load_asset_checks_from_modules([fusion_checks]))
