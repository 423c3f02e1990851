"""The crime pattern domain's definitions: near repeat, Gi* hot spots, crime series, repeats and their checks."""

from __future__ import annotations

import dagster as dg

from orchestration.patterns import assets as pattern_assets
from orchestration.patterns import checks as pattern_checks
from orchestration.platform.feeds import Feeds


def defs(feeds: Feeds) -> dg.Definitions:  # always loaded
    return dg.Definitions(assets=dg.load_assets_from_modules([pattern_assets]),
                          asset_checks=dg.load_asset_checks_from_modules([pattern_checks]))
