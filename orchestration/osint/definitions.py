"""The OSINT domain's definitions: what post texts name (places, times, identifiers) and the incidents
they may be about."""

from __future__ import annotations

import dagster as dg

from orchestration.osint import assets as osint_assets
from orchestration.osint import checks as osint_checks
from orchestration.platform.feeds import Feeds

#: The OSINT analytics read the posts feed: they load when it is ingested.
NEEDS = ("osint_posts",)


def defs(feeds: Feeds) -> dg.Definitions:
    if not feeds.has(*NEEDS):
        return dg.Definitions()
    return dg.Definitions(assets=dg.load_assets_from_modules([osint_assets]),
                          asset_checks=dg.load_asset_checks_from_modules([osint_checks]))
