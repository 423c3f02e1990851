"""Every instance config limits the tag that training jobs really carry, and no limit names a tag no job carries.

The cluster configs once limited ``crimefusion/heavy`` while the jobs carried
``crimefusion/trains``: the limit held nothing and two retrainings could run at
once. This test reads the deployment YAML files and the Definitions together.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.definitions import build_definitions
from orchestration.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def dagster_yaml_limits(_tmp: Path) -> list[dict]:
    doc = yaml.safe_load((ROOT / "infra" / "dagster" / "dagster.yaml").read_text())
    return doc["run_coordinator"]["config"]["tag_concurrency_limits"]


def helm_limits(_tmp: Path) -> list[dict]:
    doc = yaml.safe_load((ROOT / "infra" / "helm" / "values.yaml").read_text())
    return doc["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]


def local_limits(tmp: Path) -> list[dict]:
    from orchestration.state import prepare_environment

    home = prepare_environment(load_settings({"CRIMEFUSION_HOME": str(tmp)}))
    return yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["runs"]["tag_concurrency_limits"]


CONFIGS = {"infra/dagster/dagster.yaml": dagster_yaml_limits, "infra/helm/values.yaml": helm_limits,
           "local dagster.yaml (orchestration/state.py)": local_limits}


def applies(limit: dict, tags: dict[str, str]) -> bool:
    """Dagster's matching: the key is present and, when ``value`` is a string, equal to it."""
    value = limit.get("value")
    return limit["key"] in tags and (not isinstance(value, str) or tags[limit["key"]] == value)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[tuple[dg.JobDefinition, set[str]]]:
    """Every named job with the keys of the assets it materialises."""
    lake = tmp_path_factory.mktemp("lake")
    defs = build_definitions(load_settings({"CRIMEFUSION_LAKE": str(lake)}))
    out = []
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        out.append((job, {k.to_user_string() for k in job.asset_layer.executable_asset_keys}))
    graph = defs.resolve_asset_graph()
    trains = {k.to_user_string() for k in graph.get_all_asset_keys() if "mlflow" in graph.get(k).kinds}
    return out, trains


@pytest.mark.parametrize("source", CONFIGS)
def test_every_limited_tag_is_carried_by_a_job(source, jobs, tmp_path):
    limits = CONFIGS[source](tmp_path)
    assert limits, f"{source} has no tag concurrency limit"
    named, _ = jobs
    for limit in limits:
        carriers = [job.name for job, _ in named if applies(limit, job.tags)]
        assert carriers, f"{source} limits tag {limit} but no job carries it (jobs: " \
                         f"{ {job.name: dict(job.tags) for job, _ in named} })"


@pytest.mark.parametrize("source", CONFIGS)
def test_every_training_job_is_limited_to_one_run(source, jobs, tmp_path):
    limits = CONFIGS[source](tmp_path)
    named, trains = jobs
    assert {"hotspot_model", "entity_anomaly_model"} <= trains  # assets registering a model in MLflow
    training_jobs = [(job, keys & trains) for job, keys in named if keys & trains]
    assert training_jobs
    for job, models in training_jobs:
        held = [lim for lim in limits if applies(lim, job.tags) and lim["limit"] == 1]
        assert held, f"job {job.name} trains {sorted(models)} with tags {dict(job.tags)}, but {source} " \
                     f"limits none of them to one run"
