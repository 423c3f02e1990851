"""Writers that meet: concurrent processes writing one Delta table all succeed and lose no row.

Measured before the fix (issue #13): of three ``crimefusion ingest`` processes
into one table, one or two failed with ``CommitFailedError``; once all three
printed success while bronze held 2,000 of 3,000 rows (the table was created by
an unconditional overwrite that removed another writer's receipt).

Writers are separate spawned processes (benchmarks/concurrency.py
:class:`WriterPool`), released at one instant; each repetition uses a fresh
lake. ``benchmarks/concurrency.py`` runs the same rounds 20 times.
"""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest

from benchmarks.concurrency import WriterPool, receipt_rows, run_round
from orchestration.resources.lakehouse import (
    CommitConflictError,
    CommitRetry,
    LocalLakehouse,
    in_list,
    is_commit_conflict,
    sql_literal,
)

REPS = 5


@pytest.fixture(scope="module")
def pool():
    with WriterPool(5) as p:
        yield p


def _assert_exact(rnd, what):
    assert not rnd.failed, f"{what}: writers failed: {[f['error'] for f in rnd.failed]}"
    assert rnd.found == rnd.expected, f"{what}: rows per receipt expected {dict(rnd.expected)}, found {dict(rnd.found)}"


@pytest.mark.slow
@pytest.mark.parametrize("writers", [3, 5])
@pytest.mark.parametrize("existing", [False, True], ids=["new_table", "existing_table"])
@pytest.mark.parametrize("op", ["append", "replace_where"])
def test_concurrent_receipts_all_land(pool, tmp_path, op, existing, writers):
    for rep in range(REPS):
        rnd = run_round(pool, str(tmp_path / f"lake{rep}"), op=op, writers=writers, rows=500, existing=existing,
                        lead_s=0.3)
        _assert_exact(rnd, f"{op}, {writers} writers, {'existing' if existing else 'new'} table, rep {rep}")


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new_table", "existing_table"])
def test_concurrent_merges_of_different_keys_all_land(pool, tmp_path, existing):
    for rep in range(3):
        rnd = run_round(pool, str(tmp_path / f"lake{rep}"), op="merge", writers=3, rows=300, existing=existing,
                        lead_s=0.3)
        _assert_exact(rnd, f"merge, existing={existing}, rep {rep}")


@pytest.mark.slow
def test_the_same_receipt_written_twice_at_once_is_stored_once(pool, tmp_path):
    for rep in range(3):
        rnd = run_round(pool, str(tmp_path / f"lake{rep}"), op="replace_where", writers=3, rows=400,
                        existing=True, same_receipt=True, lead_s=0.3)
        _assert_exact(rnd, f"same receipt twice, rep {rep}")
        assert rnd.found["r0"] == 400


@pytest.mark.slow
@pytest.mark.parametrize("op", ["append", "replace_where"])
def test_concurrent_schema_evolution_adds_each_column_once(pool, tmp_path, op):
    """Writers add columns at once: ``extra_0`` by writers 0, 2, 4 together, ``extra_1`` by 1 and 3."""
    for rep in range(3):
        root = str(tmp_path / f"lake{rep}")
        rnd = run_round(pool, root, op=op, writers=5, rows=200, existing=True, evolve=True, lead_s=0.3)
        _assert_exact(rnd, f"{op} with evolve_schema, rep {rep}")
        t = LocalLakehouse(root=root).read("bronze", "t")
        assert sorted(t.column_names) == ["extra_0", "extra_1", "ingest_id", "record_id", "value"]
        rows = t.to_pylist()
        for r in rows:  # each writer's column holds its receipt; the other is null
            i = None if r["ingest_id"] == "base" else int(r["ingest_id"][1:])
            assert r["extra_0"] == (r["ingest_id"] if i is not None and i % 2 == 0 else None)
            assert r["extra_1"] == (r["ingest_id"] if i is not None and i % 2 == 1 else None)


# -- in one process: creation, versions, retries --------------------------------------------------


def test_a_create_that_loses_the_race_writes_into_the_winners_table(lake, monkeypatch):
    """The create is conflict-checked: when the table appears between the check and the commit, the rows
    go into the existing table (the old unconditional overwrite removed the rival's rows)."""
    from orchestration.resources import lakehouse as mod

    rival = receipt_rows("rival", 3)
    real_exists = mod.Lakehouse.exists
    calls = {"n": 0}

    def exists_then_rival_creates(self, layer, name):
        calls["n"] += 1
        if calls["n"] == 1:  # we look, see nothing; a rival creates the table before our commit
            LocalLakehouse(root=self.root).append(layer, name, rival)
            return False
        return real_exists(self, layer, name)

    monkeypatch.setattr(mod.Lakehouse, "exists", exists_then_rival_creates)
    result = lake.replace_where("bronze", "t", receipt_rows("mine", 2), "ingest_id = 'mine'")
    monkeypatch.setattr(mod.Lakehouse, "exists", real_exists)
    ids = sorted(lake.read("bronze", "t")["ingest_id"].to_pylist())
    assert ids == ["mine", "mine", "rival", "rival", "rival"]
    assert result.version == 1 and result.rows_total == 5


def test_write_result_names_the_version_this_write_committed(lake):
    r0 = lake.append("silver", "t", receipt_rows("a", 2))
    r1 = lake.append("silver", "t", receipt_rows("b", 2))
    r2 = lake.replace_where("silver", "t", receipt_rows("a", 1), "ingest_id = 'a'")
    r3 = lake.merge("silver", "t", receipt_rows("c", 2), ["record_id"])
    r4 = lake.delete("silver", "t", in_list("ingest_id", ["b"]))
    assert [r.version for r in (r0, r1, r2, r3, r4)] == [0, 1, 2, 3, 4]
    assert [r.rows_total for r in (r0, r1, r2, r3, r4)] == [2, 4, 3, 5, 3]
    assert lake.append("silver", "t", receipt_rows("d", 0)).version == 4  # nothing to add: no commit
    assert lake.delete("silver", "nope", "FALSE") is None


def test_append_and_replace_where_evolve_schema(lake):
    lake.append("bronze", "t", receipt_rows("a", 2), evolve_schema=True)
    lake.append("bronze", "t", receipt_rows("b", 1, extra_column="new"), evolve_schema=True)
    lake.replace_where("bronze", "t", receipt_rows("a", 1), "ingest_id = 'a'", evolve_schema=True)
    t = lake.read("bronze", "t").sort_by("ingest_id")
    assert t.column_names == ["ingest_id", "record_id", "value", "new"]
    assert t["new"].to_pylist() == [None, "b"]
    with pytest.raises(Exception, match="(?i)schema"):
        lake.append("bronze", "t", receipt_rows("c", 1, extra_column="other"))  # without evolve_schema


def _conflict():
    from deltalake.exceptions import CommitFailedError

    return CommitFailedError("Failed to commit transaction: Metadata changed since last commit.")


def test_retry_backs_off_exponentially_with_jitter_then_names_the_table():
    waits, calls = [], []

    def always_loses():
        calls.append(1)
        raise _conflict()

    policy = CommitRetry(attempts=5, base_delay_s=0.1, max_delay_s=0.5)
    with pytest.raises(CommitConflictError, match=r"silver/incidents: merge lost 5 commit attempts") as err:
        policy.run(always_loses, table="silver/incidents", operation="merge", rng=random.Random(1),
                   sleep=waits.append)
    assert len(calls) == 5 and len(waits) == 4
    for wait, step in zip(waits, [0.1, 0.2, 0.4, 0.5]):  # doubling, capped, each in [step/2, step]
        assert step / 2 <= wait <= step
    assert err.value.table == "silver/incidents" and isinstance(err.value.__cause__, Exception)


def test_retry_returns_once_a_later_attempt_wins_and_never_retries_real_errors():
    outcomes = [_conflict(), _conflict(), "done"]

    def fn():
        o = outcomes.pop(0)
        if isinstance(o, Exception):
            raise o
        return o

    waits = []
    assert CommitRetry().run(fn, table="bronze/t", operation="append", sleep=waits.append) == "done"
    assert len(waits) == 2

    def broken():
        raise ValueError("not a race")

    with pytest.raises(ValueError, match="not a race"):
        CommitRetry().run(broken, table="bronze/t", operation="append", sleep=waits.append)
    assert len(waits) == 2


@pytest.mark.parametrize("exc, retried", [
    ("commit_failed", True),
    ("already_exists", True),
    ("schema_mismatch", False),
    ("protocol", False),
    ("other_delta", False),
    ("value", False),
])
def test_which_errors_are_commit_races(exc, retried):
    from deltalake.exceptions import CommitFailedError, DeltaError, DeltaProtocolError, SchemaMismatchError

    made = {
        "commit_failed": CommitFailedError("Commit failed: a concurrent transactions added new data."),
        "already_exists": DeltaError("Generic error: A table already exists at: file:///lake/bronze/t/"),
        "schema_mismatch": SchemaMismatchError("Schema error: Cannot cast schema"),
        "protocol": DeltaProtocolError("Unsupported reader features"),
        "other_delta": DeltaError("Generic error: Invalid data found: 1 rows failed validation check."),
        "value": ValueError("x"),
    }[exc]
    assert is_commit_conflict(made) is retried


def test_the_resource_takes_retry_settings():
    lh = LocalLakehouse(root="/tmp/x", commit_attempts=3, commit_backoff_s=0.01, commit_backoff_max_s=0.1)
    assert lh.commit_retry() == CommitRetry(3, 0.01, 0.1)


# -- predicate literals ---------------------------------------------------------------------------

HOSTILE = ["x' OR '1'='1", "'; DELETE FROM t; --", "a\\' OR 1=1 --", "back\\slash\\", "o''clock", '"dq"',
           "ünïcødé ☂", "%_like*", "", " spaced ", "FALSE) OR (TRUE"]


@pytest.mark.parametrize("value, literal", [
    ("plain", "'plain'"),
    ("it's", "'it''s'"),
    ("x' OR '1'='1", "'x'' OR ''1''=''1'"),
    ("a\\b", "'a\\b'"),
    ("", "''"),
    (42, "42"),
    (-7, "-7"),
    (dt.date(2017, 12, 4), "'2017-12-04'"),
    (dt.datetime(2017, 12, 4, 1, 2, 3, tzinfo=dt.timezone.utc),
     "'2017-12-04T01:02:03.000000Z'"),
    (dt.datetime(2017, 12, 4, 2, 0, tzinfo=dt.timezone(
        dt.timedelta(hours=1))), "'2017-12-04T01:00:00.000000Z'"),
])
def test_sql_literal(value, literal):
    assert sql_literal(value) == literal


@pytest.mark.parametrize("value, error", [
    ("nul\x00byte", ValueError),
    ("new\nline", ValueError),
    ("tab\there", ValueError),
    ("del\x7f", ValueError),
    ("c1\x85", ValueError),
    (dt.datetime(2017, 12, 4), ValueError),
    (True, TypeError),
    (None, TypeError),
    (1.5, TypeError),
    (b"bytes", TypeError),
])
def test_sql_literal_refuses(value, error):
    with pytest.raises(error):
        sql_literal(value)


@pytest.mark.parametrize("column, values, predicate", [
    ("ingest_id", ["a", "b"], "\"ingest_id\" IN ('a', 'b')"),
    ("ingest_id", ["a", "a", "b"], "\"ingest_id\" IN ('a', 'b')"),
    ("group", ["x' OR '1'='1"], "\"group\" IN ('x'' OR ''1''=''1')"),
    ("loc.cat", ["s"], "\"loc.cat\" IN ('s')"),
    ("we\"ird", [1, 2], "\"we\"\"ird\" IN (1, 2)"),
    ("ingest_id", [], "FALSE"),
])
def test_in_list(column, values, predicate):
    assert in_list(column, values) == predicate


@pytest.mark.parametrize("column, values, error", [
    ("", ["a"], ValueError),
    ("col\n", ["a"], ValueError),
    ("ingest_id", "abc", TypeError),
    ("ingest_id", ["ok", "bad\x00"], ValueError),
])
def test_in_list_refuses(column, values, error):
    with pytest.raises(error):
        in_list(column, values)


def test_hostile_values_match_only_themselves_in_delta(lake):
    """Each hostile value, quoted, deletes exactly its own row (by ``=`` and by ``IN``), in real delta-rs."""
    values = HOSTILE + ["plain", "other"]
    lake.append("bronze", "h", pa.table({"v": values, "group": ["g"] * len(values)}))
    for v in HOSTILE[: len(HOSTILE) // 2]:
        before = lake.count("bronze", "h")
        lake.delete("bronze", "h", f"v = {sql_literal(v)}")
        left = lake.read("bronze", "h")["v"].to_pylist()
        assert before - len(left) == 1 and v not in left, v
    rest = HOSTILE[len(HOSTILE) // 2:]
    lake.delete("bronze", "h", in_list("v", rest))
    assert sorted(lake.read("bronze", "h")["v"].to_pylist()) == ["other", "plain"]
    lake.replace_where("bronze", "h", pa.table({"v": ["x' OR '1'='1"], "group": ["g"]}),
                       in_list("v", ["x' OR '1'='1"]))
    assert sorted(lake.read("bronze", "h")["v"].to_pylist()) == ["other", "plain", "x' OR '1'='1"]
    lake.delete("bronze", "h", in_list("group", []))  # empty list: nothing matches
    assert lake.count("bronze", "h") == 3


# -- object storage --------------------------------------------------------------------------------


def test_object_store_commits_use_conditional_puts():
    from orchestration.resources.lakehouse import ObjectStoreLakehouse

    opts = ObjectStoreLakehouse(root="s3://lake/crime").storage_options()
    assert opts["conditional_put"] == "etag"  # two writers can never both write one log version
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in opts


@pytest.fixture
def s3_lake(tmp_path):
    """An ObjectStoreLakehouse on a local ``moto_server`` (which honours ``If-None-Match``, as S3 and MinIO do)."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    server = Path(sys.executable).parent / "moto_server"
    if not server.exists() and shutil.which("moto_server") is None:
        pytest.skip("moto_server (moto[server]) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(server if server.exists() else "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="k",
                              aws_secret_access_key="s", region_name="us-east-1")
        for _ in range(100):
            try:
                client.create_bucket(Bucket="lake")
                break
            except Exception:  # noqa: BLE001 - the server is still starting
                time.sleep(0.1)
        from orchestration.resources.lakehouse import ObjectStoreLakehouse

        yield ObjectStoreLakehouse(root="s3://lake/crime", endpoint_url=f"http://127.0.0.1:{port}", allow_http=True,
                                   access_key_id="k", secret_access_key="s", commit_backoff_s=0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("op", ["append", "replace_where"])
def test_concurrent_writers_on_object_storage(s3_lake, op):
    import threading

    for rep in range(2):
        name = f"t{rep}"
        barrier, errors = threading.Barrier(3), []

        def write(receipt):
            data = receipt_rows(receipt, 50)
            barrier.wait()
            try:
                if op == "append":
                    s3_lake.append("bronze", name, data)
                else:
                    s3_lake.replace_where("bronze", name, data, f"ingest_id = {sql_literal(receipt)}")
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(f"r{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        ids = s3_lake.read("bronze", name, columns=["ingest_id"])["ingest_id"].to_pylist()
        assert sorted(set(ids)) == ["r0", "r1", "r2"] and len(ids) == 150
