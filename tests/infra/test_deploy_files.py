"""The deployment files in infra/ are consistent: YAML parses, pins match constraints.txt, the cluster config loads.

This machine cannot run containers; ``docker compose config`` runs where the
compose plugin is installed, and is skipped (with the reason) elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yaml"
DOCKERFILE = INFRA / "docker" / "Dockerfile"
ENV_EXAMPLE = INFRA / ".env.example"


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
        if m:
            pins[canonical(m.group(1))] = m.group(2)
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dockerfile_pins() -> dict[str, str]:
    text = DOCKERFILE.read_text()
    return {canonical(n): v for n, v in re.findall(r"\b([A-Za-z][A-Za-z0-9_.\-]+)==([0-9][^\s\\]*)", text)}


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""
    def sub(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in env and env[name] != "":
            return env[name]
        if op == ":-":
            return arg
        raise KeyError(f"{name} is not set ({arg})")
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", sub, value).replace("$$", "$")


def test_dockerfile_pins_match_constraints():
    pins, locked = dockerfile_pins(), constraints()
    assert pins, "the Dockerfile installs no pinned package"
    assert "--constraint constraints.txt" in DOCKERFILE.read_text()
    core = locked["dagster"]
    _, minor, patch = core.split(".")
    integration = f"0.{int(minor) + 16}.{patch}"  # dagster 1.13.27 <-> integrations 0.29.27
    for name, version in pins.items():
        if name.startswith("dagster-"):
            assert version == integration, f"{name}=={version} does not match dagster {core} (expect {integration})"
        if name in locked:
            assert version == locked[name], f"Dockerfile pins {name}=={version}, constraints.txt {locked[name]}"


def test_every_dockerfile_pin_is_locked():
    """Packages the image adds are in constraints.txt too (``make lock`` after installing them)."""
    locked = constraints()
    missing = [f"{n}=={v}" for n, v in dockerfile_pins().items() if n not in locked and n != "dagster-k8s"]
    # dagster-k8s is only used inside Kubernetes; its pin follows the dagster core version (checked above)
    assert not missing, "add to constraints.txt (make lock): " + " ".join(missing)


def test_dockerfile_runs_as_non_root_with_java_17():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    assert "openjdk-17-jre-headless" in text
    assert re.search(r"^FROM python:3\.11", text, flags=re.MULTILINE)
    assert "orchestration.definitions" in text


def test_compose_services_and_secrets():
    doc = compose()
    services = doc["services"]
    assert {"postgres", "minio", "mlflow", "spark-master", "spark-worker-1", "spark-worker-2", "crimefusion-code",
            "dagster-webserver", "dagster-daemon"} <= set(services)
    image = "${CRIMEFUSION_IMAGE:-crimefusion:0.1.0}"
    for name in ("mlflow", "spark-master", "spark-worker-1", "spark-worker-2", "crimefusion-code",
                 "dagster-webserver", "dagster-daemon"):
        assert services[name]["image"] == image, f"{name} must run the crimefusion image"
    for name, svc in services.items():
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond the loopback interface"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (INFRA / src).exists(), f"{name} mounts missing {src}"
            else:
                assert src in doc["volumes"], f"{name} uses undeclared volume {src}"
    code = services["crimefusion-code"]["environment"]
    assert code["CRIMEFUSION_DEPLOYMENT"] == "cluster"
    assert code["CRIMEFUSION_LAKE"].startswith("s3://")
    assert code["CRIMEFUSION_S3_ENDPOINT"] == "http://minio:9000"
    assert code["DAGSTER_PG_HOST"] == "postgres"
    mlflow = " ".join(services["mlflow"]["command"])
    for flag in ("--workers 1", "--backend-store-uri", "--default-artifact-root \"s3://"):
        assert flag in mlflow
    assert services["mlflow"]["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert all(services[w]["command"][-1] == "spark://spark-master:7077" for w in ("spark-worker-1", "spark-worker-2"))


def test_every_compose_variable_is_in_env_example_and_secrets_stay_out_of_git():
    example = env_example()
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required <= set(example), f"missing in .env.example: {sorted(required - set(example))}"
    assert used <= set(example), f"missing in .env.example: {sorted(used - set(example))}"
    for key, value in example.items():
        if any(w in key for w in ("PASSWORD", "SECRET", "KEY")) and key != "AWS_ACCESS_KEY_ID":
            assert "CHANGE_ME" in value, f"{key} in .env.example must be a placeholder"
    assert ".env" in (INFRA / ".gitignore").read_text().split()
    assert not (INFRA / ".env").exists() or ".env" in (INFRA / ".gitignore").read_text()
    interpolate(COMPOSE.read_text(), example)  # every ${VAR:?} resolves from the example


def test_docker_compose_config():
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed here (docker-compose-plugin); "
                    "the YAML and variables are checked by the other tests")
    out = subprocess.run([docker, "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "--quiet"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_dagster_yaml_is_a_valid_postgres_instance_config(tmp_path):
    import dagster as dg

    config = yaml.safe_load((INFRA / "dagster" / "dagster.yaml").read_text())
    # the storage would connect to PostgreSQL: its settings must all come from the environment
    db = config["storage"]["postgres"]["postgres_db"]
    assert {k for k, v in db.items() if isinstance(v, dict) and set(v) == {"env"}} == {
        "username", "password", "hostname", "db_name", "port"}
    # every other section is validated and built by Dagster (a mistake raises here)
    instance = dg.DagsterInstance.local_temp(str(tmp_path), overrides={k: v for k, v in config.items()
                                                                        if k != "storage"})
    assert type(instance.run_coordinator).__name__ == config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert instance.get_settings("telemetry")["enabled"] is False
    workspace = yaml.safe_load((INFRA / "dagster" / "workspace.yaml").read_text())
    grpc = workspace["load_from"][0]["grpc_server"]
    assert (grpc["host"], grpc["port"]) == ("crimefusion-code", 4000)


def test_helm_values_deploy_this_code_location():
    values = yaml.safe_load((INFRA / "helm" / "values.yaml").read_text())
    module = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["CRIMEFUSION_DEPLOYMENT"] == "cluster" and env["CRIMEFUSION_LAKE"].startswith("s3://")
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    assert deployment["podSecurityContext"]["runAsUser"] == 10001
    assert f"--uid {deployment['podSecurityContext']['runAsUser']}" in DOCKERFILE.read_text()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False
    assert "dagster-k8s" in dockerfile_pins() and "dagster-postgres" in dockerfile_pins()


@pytest.mark.slow
def test_definitions_load_with_the_compose_environment(tmp_path):
    """``dagster definitions validate`` with the code location's environment from the compose file."""
    example = env_example()
    code_env = compose()["services"]["crimefusion-code"]["environment"]
    env = {k: interpolate(str(v), example) for k, v in code_env.items()}
    env.update(DAGSTER_HOME=str(tmp_path), CRIMEFUSION_HOME=str(tmp_path / "home"),
               CRIMEFUSION_LANDING=str(tmp_path / "landing"), PATH=os.environ.get("PATH", ""))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"

    def validate(environment):
        return subprocess.run([str(dagster), "definitions", "validate", "-m", "orchestration.definitions"], cwd=ROOT,
                              env=environment, capture_output=True, text=True, timeout=300)

    # the example's key is the shipped placeholder: the code location refuses to load until a real one is set
    refused = validate(env)
    assert refused.returncode != 0 and "CHANGE_ME" in refused.stdout + refused.stderr
    import secrets

    out = validate({**env, "CRIMEFUSION_PSEUDONYM_KEY": secrets.token_hex(32)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Validation successful" in out.stdout + out.stderr
