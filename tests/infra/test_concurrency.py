"""Every instance config limits what the code really carries: the training tag, and the ingest writers' pools.

The cluster configs once limited ``crimefusion/heavy`` while the jobs carried
``crimefusion/trains``: the limit held nothing and two retrainings could run at
once. This test reads the deployment YAML files and the Definitions together.

Pools (orchestration/platform/pools.py): each bronze table and each silver family is
written by one step at a time across runs; every config gives pools a default
limit of 1, and two real runs of one pooled step are shown not to overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.definitions import build_definitions
from orchestration.platform.pools import table_pool
from orchestration.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _infra_yaml() -> dict:
    return yaml.safe_load((ROOT / "infra" / "dagster" / "dagster.yaml").read_text())


def _helm() -> dict:
    return yaml.safe_load((ROOT / "infra" / "helm" / "values.yaml").read_text())


def _local_home(tmp: Path) -> Path:
    from orchestration.home import prepare_environment

    return prepare_environment(load_settings({"CRIMEFUSION_HOME": str(tmp)}))


def _local_yaml(tmp: Path) -> dict:
    return yaml.safe_load((_local_home(tmp) / "dagster.yaml").read_text())


def dagster_yaml_limits(_tmp: Path) -> list[dict]:
    return _infra_yaml()["concurrency"]["runs"]["tag_concurrency_limits"]


def helm_limits(_tmp: Path) -> list[dict]:
    return _helm()["concurrency"]["runs"]["tagConcurrencyLimits"]


def local_limits(tmp: Path) -> list[dict]:
    return _local_yaml(tmp)["concurrency"]["runs"]["tag_concurrency_limits"]


CONFIGS = {"infra/dagster/dagster.yaml": dagster_yaml_limits, "infra/helm/values.yaml": helm_limits,
           "local dagster.yaml (orchestration/home.py)": local_limits}

POOL_LIMITS = {
    "infra/dagster/dagster.yaml": lambda _tmp: _infra_yaml()["concurrency"]["pools"]["default_limit"],
    "infra/helm/values.yaml": lambda _tmp: _helm()["concurrency"]["pools"]["defaultLimit"],
    "local dagster.yaml (orchestration/home.py)":
        lambda tmp: _local_yaml(tmp)["concurrency"]["pools"]["default_limit"],
}


def applies(limit: dict, tags: dict[str, str]) -> bool:
    """Dagster's matching: the key is present and, when ``value`` is a string, equal to it."""
    value = limit.get("value")
    return limit["key"] in tags and (not isinstance(value, str) or tags[limit["key"]] == value)


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    lake = tmp_path_factory.mktemp("lake")
    return build_definitions(load_settings({"CRIMEFUSION_LAKE": str(lake)}))


@pytest.fixture(scope="module")
def jobs(defs) -> list[tuple[dg.JobDefinition, set[str]]]:
    """Every named job with the keys of the assets it materialises."""
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


# -- pools ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", POOL_LIMITS)
def test_every_config_holds_pools_to_one_step(source, tmp_path):
    assert POOL_LIMITS[source](tmp_path) == 1, f"{source}: pools must default to one step at a time"


def test_every_ingest_writer_is_in_its_tables_pool(defs):
    """Bronze ``raw_<source>`` in ``lake.bronze.raw_<source>``; ``refine_<table>`` in ``lake.silver.<table>``."""
    pools: dict[str, str] = {}
    for a in defs.resolve_asset_graph().assets_defs:
        if not a.is_executable or not isinstance(a.node_def, dg.OpDefinition):
            continue
        groups = {s.group_name for s in a.specs}
        if "bronze" in groups:
            [key] = [k.to_user_string() for k in a.keys]
            assert a.node_def.pool == table_pool("bronze", key), a.node_def.name
        elif a.node_def.name.startswith("refine_"):
            table = a.node_def.name.removeprefix("refine_")
            assert a.node_def.pool == table_pool("silver", table), a.node_def.name
        else:
            continue
        pools[a.node_def.name] = a.node_def.pool
    assert {"raw_incidents", "refine_incidents", "raw_cdr_events", "refine_cdr_events"} <= set(pools)
    # one pool per table: different tables' writers still run side by side
    assert len(set(pools.values())) == len(pools)


def test_configs_load_in_dagster(tmp_path):
    """Dagster refuses run limits under both run_coordinator and concurrency; these files must load."""
    local = dg.DagsterInstance.from_config(str(_local_home(tmp_path / "local")))
    cluster_home = tmp_path / "cluster"
    cluster_home.mkdir()
    doc = _infra_yaml()
    doc["storage"] = {"sqlite": {"base_dir": str(cluster_home / "storage")}}  # postgres is not here
    (cluster_home / "dagster.yaml").write_text(yaml.safe_dump(doc))
    cluster = dg.DagsterInstance.from_config(str(cluster_home))
    for instance in (local, cluster):
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert {"key": "crimefusion/trains", "limit": 1} in config.run_queue_config.tag_concurrency_limits
    assert cluster.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
    # helm: the chart renders run_coordinator config from queuedRunCoordinator; it must not repeat the limits
    helm = _helm()
    assert helm["concurrency"]["enabled"] is True
    assert not helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]


def test_an_old_local_config_is_brought_up_to_date(tmp_path):
    from orchestration.home import DAGSTER_YAML

    home = _local_home(tmp_path)
    (home / "dagster.yaml").write_text(DAGSTER_YAML.split("concurrency:")[0])  # written before pools
    _local_home(tmp_path)
    assert (home / "dagster.yaml").read_text() == DAGSTER_YAML
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # someone's own file: kept
    _local_home(tmp_path)
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


RUN_ONE = """
import json, sys, time
from pathlib import Path
import dagster as dg
from orchestration.platform.pools import table_pool
home, log, key, group, start_at = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])

@dg.asset(key=key, group_name=group, kinds={"delta"}, pool=table_pool(group, key) if group == "bronze" else None)
def step(context):
    t0 = time.time()
    time.sleep(1.5)
    with open(log, "a") as f:
        f.write(json.dumps({"key": key, "start": t0, "end": time.time()}) + "\\n")

instance = dg.DagsterInstance.from_config(home)
while time.time() < start_at:
    time.sleep(0.01)
assert dg.materialize([step], instance=instance).success
"""


@pytest.mark.slow
def test_two_runs_of_one_pooled_step_never_overlap(tmp_path):
    """Two runs (processes) of a bronze step on the local instance run one after the other; two runs of an
    unpooled gold step, started with them, overlap (so the harness can see an overlap)."""
    home = _local_home(tmp_path)

    @dg.asset
    def warm_up():
        return 1

    # the instance's SQLite stores are created here, once: four processes creating them at once collide
    assert dg.materialize([warm_up], instance=dg.DagsterInstance.from_config(str(home))).success
    script, log = tmp_path / "run_one.py", tmp_path / "steps.jsonl"
    script.write_text(RUN_ONE)
    start = time.time() + 8  # every process has imported Dagster by then (2 shared cores)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, str(script), str(home), str(log), key, group, str(start)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for key, group in (("raw_x", "bronze"), ("raw_x", "bronze"), ("gold_x", "gold"), ("gold_x", "gold"))]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
    steps = [json.loads(line) for line in log.read_text().splitlines()]

    def overlap(key):
        a, b = sorted((s for s in steps if s["key"] == key), key=lambda s: s["start"])
        return b["start"] < a["end"]

    assert not overlap("raw_x"), steps
    assert overlap("gold_x"), steps
