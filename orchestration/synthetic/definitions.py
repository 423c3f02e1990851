"""The synthetic demo feeds' definitions: the generator, when the deployment has synthetic specs."""

from __future__ import annotations

import dagster as dg

from orchestration.platform.feeds import Feeds


def defs(feeds: Feeds) -> dg.Definitions:
    if not feeds.synthetic:
        return dg.Definitions()
    from orchestration.synthetic import assets as synthetic_assets

    return dg.Definitions(assets=dg.load_assets_from_modules([synthetic_assets]))
