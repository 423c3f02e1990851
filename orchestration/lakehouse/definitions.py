"""The lakehouse domain's definitions: reference boundaries and the district counts every analysis reads."""

from __future__ import annotations

import dagster as dg

from orchestration.lakehouse import assets as lakehouse_assets
from orchestration.platform.feeds import Feeds


def defs(feeds: Feeds) -> dg.Definitions:  # always loaded
    return dg.Definitions(assets=dg.load_assets_from_modules([lakehouse_assets]))
