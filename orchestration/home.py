"""The crimefusion home (state) folder: Dagster home (runs, event log) and tool settings, all offline and
telemetry-free."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.settings import Settings

DAGSTER_YAML = """\
# written by crimefusion; see docs/operations.md
telemetry:
  enabled: false
concurrency:
  runs:
    # a retraining never runs twice at once (jobs tagged crimefusion/trains)
    tag_concurrency_limits:
      - key: crimefusion/trains
        limit: 1
  pools:
    # one step at a time per pool: the writers of one ingest table (orchestration/platform/pools.py)
    default_limit: 1
"""


def prepare_environment(settings: Settings) -> Path:
    """Create the state folder, write dagster.yaml, and turn telemetry off for every tool.

    Called by the CLI and ``make`` targets before Dagster starts, never at import.
    """
    home = settings.home.resolve()
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    cfg = dagster_home / "dagster.yaml"
    # ours (its first line says so) is brought up to date; a file someone wrote by hand is left alone
    current = cfg.read_text() if cfg.exists() else None
    if current is None or (current.startswith(DAGSTER_YAML.splitlines()[0]) and current != DAGSTER_YAML):
        cfg.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    return dagster_home


def dagster_instance(settings: Settings):
    """The persistent Dagster instance in the state folder (the UI shows its runs)."""
    import dagster as dg

    prepare_environment(settings)
    return dg.DagsterInstance.get()
