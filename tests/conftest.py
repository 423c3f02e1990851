"""Shared fixtures: the bundled Chicago spec and districts, a SedonaDB context, a temporary lakehouse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHICAGO_SPEC = ROOT / "specs" / "chicago_aggravated_assaults.yaml"
CHICAGO_CSV = ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def sd():
    import sedonadb

    return sedonadb.connect()


@pytest.fixture(scope="session")
def chicago_spec():
    from jobs.ingest.spec import load_spec

    return load_spec(CHICAGO_SPEC)


@pytest.fixture(scope="session")
def chicago_districts(chicago_spec):
    from orchestration.ingest.boundaries import read_boundaries

    return read_boundaries(chicago_spec)


@pytest.fixture
def lake(tmp_path):
    from orchestration.resources.lakehouse import LocalLakehouse

    return LocalLakehouse(root=str(tmp_path / "lake"))


def run_main_job(env: dict[str, str]):
    """``crimefusion run``'s runs (``orchestration.cli.run.run_pipeline``) for the demo ingest date, with ``env``.

    Returns ``(defs, instance, PipelineRun)``; the caller sets ``env`` in ``os.environ`` too (assets read
    the settings, e.g. the reports folder, when they run).
    """
    import dagster as dg

    from orchestration.cli.run import PipelineRun, run_pipeline
    from orchestration.definitions import build_definitions
    from orchestration.settings import load_settings

    defs = build_definitions(load_settings(env))
    instance = dg.DagsterInstance.ephemeral()

    def execute(job, key, selection, label):
        return job.execute_in_process(instance=instance, partition_key=key, asset_selection=selection,
                                      raise_on_error=False,
                                      run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})

    return defs, instance, PipelineRun(run_pipeline(defs, instance, "2026-11-28", execute))


@pytest.fixture(scope="session")
def main_job():
    """:func:`run_main_job`, for tests that run the main job with other settings (e.g. the Spark engine)."""
    return run_main_job


@pytest.fixture(scope="session")
def full_run(tmp_path_factory):
    """The whole asset graph (every feed, synthetic data, every domain) materialised once per session.

    Tests that need the complete lakehouse share it, so CI pays for one full run. It
    takes the runs of ``crimefusion run`` (``orchestration.cli.run.run_pipeline``: feeds,
    one ``video_detection`` run per landed clip, fusion and analyses), read as one
    result (``success``, ``all_events``).
    """
    base = tmp_path_factory.mktemp("full")
    env = {"CRIMEFUSION_LAKE": str(base / "lake"), "CRIMEFUSION_LANDING": str(base / "landing"),
           "CRIMEFUSION_HOME": str(base / "home")}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)  # commands the tests run against this lake, and run fingerprints, read the settings
    defs, instance, result = run_main_job(env)
    yield defs, instance, result, base
    mp.undo()
