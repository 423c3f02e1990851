"""The link analysis domain's definitions: the call network, communities, key players, burners, fraud rings."""

from __future__ import annotations

import dagster as dg

from orchestration.links import assets as links_assets
from orchestration.links import checks as links_checks
from orchestration.platform.feeds import Feeds

#: Link analysis reads CDRs and transactions: it loads when they are ingested.
NEEDS = ("cdr_events", "transactions")


def defs(feeds: Feeds) -> dg.Definitions:
    if not feeds.has(*NEEDS):
        return dg.Definitions()
    return dg.Definitions(assets=dg.load_assets_from_modules([links_assets]),
                          asset_checks=dg.load_asset_checks_from_modules([links_checks]))
