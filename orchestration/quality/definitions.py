"""The quality domain's definitions: the notifier of failed runs (a failed blocking check fails its run)."""

from __future__ import annotations

import dagster as dg

from orchestration.platform.feeds import Feeds
from orchestration.quality.sensors import run_failure_notifier


def defs(feeds: Feeds) -> dg.Definitions:  # always loaded
    return dg.Definitions(sensors=[run_failure_notifier])
