"""The cluster topology without containers: Dagster on PostgreSQL, MLflow server, lakehouse on S3.

Starts, on 127.0.0.1 and free ports, the services of ``infra/docker-compose.yaml``
from packages (no containers):

- PostgreSQL from Debian's packages (``initdb``/``postgres`` as a non-root user
  in a throwaway folder), with the ``dagster`` and ``mlflow`` databases;
- an S3-compatible object store: ``moto_server`` (moto[server] from PyPI) in place of MinIO;
- an MLflow tracking server on PostgreSQL with artifacts in S3
  (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server --workers 1``).

Then it runs ``dagster asset materialize`` with ``CRIMEFUSION_DEPLOYMENT=cluster``
and the committed ``infra/dagster/dagster.yaml`` (runs and events in Postgres, the
lakehouse in the S3 bucket), checks the run in Postgres and the Delta table in S3,
and logs an MLflow run with an artifact. Every process is stopped at the end
(checked).

With a Spark standalone master and two workers on 127.0.0.1 added
(``tests/spark_standalone.py``), it runs gold ``events`` under
``CRIMEFUSION_COMPUTE_ENGINE=spark`` with the lake in S3 and compares the rows
with the embedded kernel's (Spark tasks read and write the bucket through
pyarrow: ``jobs/spark/delta.py``); it also refines bronze rows in the bucket
into silver and quarantine with the parse in Spark tasks (``jobs/spark/ingest.py``)
and compares both tables with the embedded engine's, row for row.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest

from tests.helpers import data_path
from tests.processes import alive, free_port, start_service

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY, SECRET = "crimefusion-test", "crimefusion-test-secret"


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _stopped(service) -> None:
    left = service.stop(grace=20)
    assert not left, f"{service.name}: processes left running: {left}\n{service.log_tail()}"


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster (trust auth on 127.0.0.1) with databases dagster and mlflow."""
    pg = postgres_bin()
    if pg is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing in CI: infra/setup-system.sh installs it")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql, or bash infra/setup-system.sh)")
    user = None
    folder = Path(tempfile.mkdtemp(prefix="crimefusion-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = "postgres" if _user_exists("postgres") else "nobody"
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    init = subprocess.run(_as(user, [str(pg / "initdb"), "-D", str(data), "-U", "crimefusion", "--auth=trust",
                                     "--encoding=UTF8", "--no-instructions"]),
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    port = free_port()
    service = start_service("postgres", [str(pg / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
                                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                         "-c", "shared_buffers=32MB", "-c", "max_connections=40"],
                            log_path=folder / "postgres.log", user=user)
    try:
        import psycopg2

        def ready() -> bool:
            try:
                psycopg2.connect(host="127.0.0.1", port=port, user="crimefusion", dbname="postgres").close()
                return True
            except psycopg2.OperationalError:
                return False

        service.wait_until(ready, 60, "connections")
        con = psycopg2.connect(host="127.0.0.1", port=port, user="crimefusion", dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("CREATE DATABASE dagster")
            cur.execute("CREATE DATABASE mlflow")
        con.close()
        yield {"host": "127.0.0.1", "port": port, "user": "crimefusion"}
    finally:
        subprocess.run(_as(user, [str(pg / "pg_ctl"), "-D", str(data), "stop", "-m", "fast", "-w"]),
                       capture_output=True, timeout=60)
        _stopped(service)
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _as(user: str | None, cmd: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3-compatible server with the buckets of the compose file."""
    if not (BIN / "moto_server").exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    service = start_service("moto_server", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        service.wait_http(f"{endpoint}/moto-api/", timeout=60)
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                              region_name="us-east-1")
        for bucket in ("crimefusion-lake", "crimefusion-mlflow"):
            client.create_bucket(Bucket=bucket)
        yield {"endpoint": endpoint, "client": client}
    finally:
        _stopped(service)


def cluster_env(tmp_path: Path, postgres: dict, s3: dict) -> dict[str, str]:
    """The code location's environment of infra/docker-compose.yaml, pointed at the local services."""
    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "infra" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    return dict(
        os.environ,
        DAGSTER_HOME=str(home), DAGSTER_PG_HOST=postgres["host"], DAGSTER_PG_PORT=str(postgres["port"]),
        DAGSTER_PG_DB="dagster", DAGSTER_PG_USER=postgres["user"], DAGSTER_PG_PASSWORD="",
        CRIMEFUSION_DEPLOYMENT="cluster", CRIMEFUSION_LAKE="s3://crimefusion-lake/lake",
        CRIMEFUSION_S3_ENDPOINT=s3["endpoint"], CRIMEFUSION_S3_ALLOW_HTTP="true", CRIMEFUSION_S3_REGION="us-east-1",
        CRIMEFUSION_PSEUDONYM_KEY="topology-test-key-not-secret-32-bytes-long", CRIMEFUSION_SYNTHETIC="false",
        CRIMEFUSION_SPECS=str(ROOT / "specs" / "nyc_shootings.yaml"),
        CRIMEFUSION_HOME=str(tmp_path / "home"), CRIMEFUSION_LANDING=str(tmp_path / "landing"),
        AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
        DAGSTER_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", GX_ANALYTICS_ENABLED="false",
    )


def test_dagster_run_on_postgres_writes_the_lakehouse_to_s3(tmp_path, postgres, s3):
    env = cluster_env(tmp_path, postgres, s3)
    out = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
                          "--select", "police_districts"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    import psycopg2

    con = psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"], dbname="dagster")
    with con.cursor() as cur:
        cur.execute("SELECT run_id, status FROM runs")
        runs = cur.fetchall()
        cur.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                    "AND asset_key = %s", ('["police_districts"]',))
        materialisations = cur.fetchone()[0]
    con.close()
    assert [status for _, status in runs] == ["SUCCESS"]
    assert materialisations == 1

    from orchestration.platform.lake import lakehouse_from_settings, list_tables

    lake = lakehouse_from_settings(env=env)
    assert lake.root_uri() == "s3://crimefusion-lake/lake"
    assert list_tables(lake) == [("reference", "police_districts")]
    assert lake.read("reference", "police_districts", columns=["area_id"]).num_rows == 77  # NYC precincts
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket="crimefusion-lake", Prefix="lake/")["Contents"]]
    assert any(k.startswith("lake/reference/police_districts/_delta_log/") for k in keys)


def test_object_store_lakehouse_merge_time_travel_and_maintenance(tmp_path, s3):
    from orchestration.platform.maintenance import optimize_table, restore_table, vacuum_table
    from orchestration.resources.lakehouse import ObjectStoreLakehouse

    lake = ObjectStoreLakehouse(root="s3://crimefusion-lake/scratch", endpoint_url=s3["endpoint"], allow_http=True,
                                access_key_id=KEY, secret_access_key=SECRET)
    first = lake.overwrite("silver", "t", pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}))
    second = lake.merge("silver", "t", pa.table({"id": [3, 4], "v": ["C", "d"]}), keys=["id"])
    assert (first.version, second.version, second.rows_total) == (0, 1, 4)
    current = dict(zip(*lake.read("silver", "t").sort_by("id").to_pydict().values()))
    assert current == {1: "a", 2: "b", 3: "C", 4: "d"}
    assert lake.read("silver", "t", version=0).num_rows == 3
    from deltalake import write_deltalake

    write_deltalake(lake.uri("silver", "t"), pa.table({"id": [5], "v": ["e"]}), mode="append",
                    storage_options=lake.storage_options())
    files = len(lake.table("silver", "t").file_uris())
    assert files >= 2
    compacted = optimize_table(lake, "silver", "t")
    assert (compacted.files_removed, compacted.files_added, compacted.rows) == (files, 1, 5)
    vacuumed = vacuum_table(lake, "silver", "t", retention_hours=0, dry_run=False, force=True)
    assert vacuumed.files_removed >= files  # the compacted files and the one the MERGE rewrote
    # the compacted version survives vacuum; restoring the version before it re-adds the files vacuum kept
    restored = restore_table(lake, "silver", "t", version=compacted.version_after)
    assert restored.rows == 5 and restored.version_after == vacuumed.version_after + 1
    assert lake.read("silver", "t").num_rows == 5


def test_mlflow_server_on_postgres_with_s3_artifacts(tmp_path, postgres, s3):
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true",
               MLFLOW_S3_ENDPOINT_URL=s3["endpoint"], AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="us-east-1")
    backend = f"postgresql+psycopg2://{postgres['user']}@{postgres['host']}:{postgres['port']}/mlflow"
    server = start_service("mlflow", [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                                      "--workers", "1", "--backend-store-uri", backend,
                                      "--default-artifact-root", "s3://crimefusion-mlflow/"],
                           log_path=tmp_path / "mlflow.log", env=env)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/health", timeout=180)
        script = (
            "import mlflow, sys\n"
            "mlflow.set_tracking_uri(sys.argv[1])\n"
            "mlflow.set_experiment('topology')\n"
            "with mlflow.start_run(run_name='tiny') as run:\n"
            "    mlflow.log_param('cells', 42)\n"
            "    mlflow.log_metric('pai', 3.5)\n"
            "    mlflow.log_text('hello lakehouse', 'notes/readme.txt')\n"
            "print(run.info.run_id)\n"
        )
        client_env = {k: v for k, v in env.items() if k != "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"}
        out = subprocess.run([sys.executable, "-c", script, f"http://127.0.0.1:{port}"], env=client_env,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-3000:]
        run_id = out.stdout.strip().splitlines()[-1]
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run_id}",
                                    timeout=10) as r:
            run = json.load(r)["run"]
        assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"cells": "42"}
        assert [m["value"] for m in run["data"]["metrics"] if m["key"] == "pai"] == [3.5]
        assert run["info"]["artifact_uri"].startswith("s3://crimefusion-mlflow/")
        keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket="crimefusion-mlflow")["Contents"]]
        assert any(k.endswith(f"{run_id}/artifacts/notes/readme.txt") for k in keys), keys
        import psycopg2

        con = psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"], dbname="mlflow")
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run_id,))
            assert cur.fetchone()[0] == 1
        con.close()
    finally:
        _stopped(server)
    assert not alive(server.pid)


# -- Spark standalone on the S3 lake ------------------------------------------------------

def small_silver() -> dict[str, pa.Table]:
    """Silver incidents, CDRs, transactions and cell sites: the synthetic world of tests/jobs, smaller."""
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    from jobs.ingest.pseudonymise import DEMO_KEY
    from jobs.links.synthetic import silver_from_synth
    from jobs.synth import generate
    from jobs.synth.incidents import from_crimemapping

    name = "chicago/aggravated_assaults_2010_2017.csv.gz"
    path = next((p for p in (ROOT / "data" / name, ROOT.parent / "shared" / "data" / name) if p.exists()), None)
    if path is None:
        pytest.skip(f"{name} not found under data/")
    raw = pv.read_csv(path, convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)
    inc = inc.slice(inc.num_rows - 3_000)
    silver = silver_from_synth(generate(inc, seed=7, scale=0.2), key=DEMO_KEY)
    span = pc.min_max(silver["cdr_events"]["start_time"]).as_py()
    inside = inc.filter(pc.and_(pc.greater_equal(inc["occurred_at"], span["min"]),
                                pc.less_equal(inc["occurred_at"], span["max"])))
    incidents = inside.append_column("source", pa.array(["chicago"] * inside.num_rows))
    return {"incidents": incidents, **{n: silver[n] for n in ("cdr_events", "transactions", "cell_sites")}}


@pytest.fixture
def spark_cluster(tmp_path):
    from tests.spark_standalone import standalone_cluster

    folder = tmp_path / "spark"
    folder.mkdir()
    with standalone_cluster(folder, workers=2) as (master, procs):
        yield master, procs
    assert all(p.poll() is not None for p in procs), "Spark daemons left running"


def test_dagster_run_on_spark_standalone_writes_events_to_the_s3_lake(tmp_path, postgres, s3, spark_cluster):
    """Dagster on PostgreSQL runs gold ``events`` with ``engine: spark`` on a master and two workers,
    the lake on the S3 server; the rows in the bucket equal the embedded kernel's on the same inputs."""
    import psycopg2

    from jobs.fusion.events import build_events
    from jobs.fusion.schemas import EVENTS
    from orchestration.platform.lake import lakehouse_from_settings

    master, procs = spark_cluster
    con = psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"], dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("CREATE DATABASE dagster_spark")  # its own run storage: the other tests count their runs
    con.close()
    env = cluster_env(tmp_path, postgres, s3) | {
        "DAGSTER_PG_DB": "dagster_spark", "CRIMEFUSION_LAKE": "s3://crimefusion-lake/spark-lake",
        "CRIMEFUSION_COMPUTE_ENGINE": "spark", "CRIMEFUSION_SPARK_MASTER": master,
        # the fusion assets exist only where CDR and transaction feeds are configured
        "CRIMEFUSION_SPECS": os.pathsep.join(str(ROOT / "specs" / f) for f in (
            "chicago_aggravated_assaults.yaml", "synthetic/cdr.yaml", "synthetic/transactions.yaml",
            "synthetic/cell_sites.yaml"))}
    lake = lakehouse_from_settings(env=env)
    silver = small_silver()
    for name, table in silver.items():
        lake.overwrite("silver", name, table)

    out = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
                          "--select", "events"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=420)
    log = out.stdout + out.stderr
    con = psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"], dbname="dagster_spark")
    with con.cursor() as cur:
        cur.execute("SELECT status FROM runs")
        statuses = [s for (s,) in cur.fetchall()]
        cur.execute("SELECT event FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                    "AND asset_key = %s", ('["events"]',))
        materialisations = [e for (e,) in cur.fetchall()]
    con.close()
    assert all(p.poll() is None for p in procs), "a Spark daemon died during the run"
    assert out.returncode == 0, log[-4000:]
    assert statuses == ["SUCCESS"] and len(materialisations) == 1
    assert f"spark ({master})" in materialisations[0]  # the engine metadata: the cluster ran it, not embedded

    import sedonadb

    embedded = build_events({o: silver[o] for o in ("incidents", "cdr_events", "transactions")},
                            ctx=sedonadb.connect(), cell_sites=silver["cell_sites"]).cast(EVENTS)
    landed = lake.read("gold", "events")
    assert landed.num_rows == embedded.num_rows > 0
    assert landed.sort_by("event_id").equals(embedded.sort_by("event_id"))
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket="crimefusion-lake",
                                                           Prefix="spark-lake/gold/events/")["Contents"]]
    assert any(k.endswith(".parquet") and "/part-" in k for k in keys), keys  # files the executors wrote


def test_dagster_run_on_spark_standalone_refines_bronze_in_spark_tasks(tmp_path, postgres, s3, spark_cluster):
    """Silver ``incidents`` and its quarantine with ``engine: spark``: the bronze rows in the S3 lake are parsed
    and validated in Spark tasks on the master and two workers (duplicate ids across and within receipts, a
    study area checked by SedonaDB in the tasks); the tables equal the embedded engine's, row for row."""
    from datetime import datetime, timedelta, timezone

    import psycopg2

    from jobs.ingest.spec import load_spec
    from orchestration.ingest.pipeline import land_files, refine, rejects_table
    from orchestration.platform.lake import lakehouse_from_settings
    from orchestration.resources.compute import Compute
    from orchestration.resources.lakehouse import LocalLakehouse

    boundary = data_path("chicago/police_districts.kml")
    spec_path = tmp_path / "inc_area.yaml"
    spec_path.write_text(
        "name: inc_area\ntable: incidents\nformat: {kind: csv}\nid: {columns: [case_id]}\nfields:\n"
        "  occurred_at: {column: date, format: \"%Y-%m-%d %H:%M\", timezone: America/Chicago}\n"
        "  category: {constant: aggravated_assault}\n  location_type: {column: loc_cat}\n"
        "coordinates: {x: longitude, y: latitude, crs: \"EPSG:4326\"}\n"
        f"study_area: {{boundary: {boundary}, id_field: Name, tolerance_m: 250}}\n")
    spec = load_spec(spec_path)
    header = "case_id,date,loc_cat,longitude,latitude"
    days = [  # id 3 twice in one receipt; ids 1 and 2 delivered again by a later receipt; one outside, one swapped
        ("2016-05-02", ["1,2016-05-01 12:30,street,-87.6277,41.7922", "2,2016-05-01 09:30,park,-87.65,41.88",
                        "3,2016-05-01 10:30,street,-87.7,41.9", "3,2016-05-01 11:30,street,-87.7,41.9",
                        "4,2016-05-01 12:30,street,-87.9,41.5", "5,2016-05-01 12:30,street,41.7922,-87.6277"]),
        ("2016-05-03", ["1,2016-05-02 15:30,street,-87.6277,41.7922", "6,2016-05-02 08:30,alley,-87.62,41.8",
                        "2,2016-05-02 09:30,park,-87.65,41.88", "7,2016-05-02 09:30,street,,41.88"]),
    ]
    master, _ = spark_cluster
    con = psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"], dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("CREATE DATABASE dagster_spark_ingest")
    con.close()
    env = cluster_env(tmp_path, postgres, s3) | {
        "DAGSTER_PG_DB": "dagster_spark_ingest", "CRIMEFUSION_LAKE": "s3://crimefusion-lake/spark-ingest",
        "CRIMEFUSION_COMPUTE_ENGINE": "spark", "CRIMEFUSION_SPARK_MASTER": master, "CRIMEFUSION_SPECS": str(spec_path)}
    lake = lakehouse_from_settings(env=env)
    embedded = LocalLakehouse(root=str(tmp_path / "embedded"))
    for k, (date, rows) in enumerate(days):
        path = tmp_path / "landing" / date / "export.csv"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join([header, *rows]) + "\n")
        for target in (lake, embedded):
            land_files(target, spec, [path], partition=date,
                       now=datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=k))

    out = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
                          "--select", "incidents,incidents_rejects"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=420)
    con = psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"],
                           dbname="dagster_spark_ingest")
    with con.cursor() as cur:
        cur.execute("SELECT status FROM runs")
        statuses = [s for (s,) in cur.fetchall()]
        cur.execute("SELECT event FROM event_logs WHERE event LIKE %s", ("%parsed in Spark tasks%",))
        said = [e for (e,) in cur.fetchall()]
    con.close()
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert statuses == ["SUCCESS"]
    assert len(said) == 1 and f"({master})" in said[0] and "2 file task(s)" in said[0], said  # the cluster parsed

    refine(embedded, spec, ctx=Compute().sedona(), now=datetime.now(timezone.utc),
           pseudonym_key=env["CRIMEFUSION_PSEUDONYM_KEY"].encode("utf-8"))
    for layer, name in (("silver", "incidents"), ("quarantine", rejects_table(spec))):
        keys = [("ingest_id", "ascending"), ("source_row", "ascending")]
        ours, theirs = lake.read(layer, name).sort_by(keys), embedded.read(layer, name).sort_by(keys)
        assert ours.num_rows == theirs.num_rows > 0, f"{layer}/{name}"
        assert ours.select(theirs.column_names).equals(theirs), f"{layer}/{name}"
    rejects = embedded.read("quarantine", rejects_table(spec)).to_pylist()
    assert {r["rule"] for r in rejects} == {"duplicate_id", "outside_study_area", "swapped_coordinates",
                                           "missing_coordinates"}
    assert sorted(r["record_id"] for r in rejects if r["rule"] == "duplicate_id") == \
        ["inc_area:1", "inc_area:2", "inc_area:3"]
