"""Spark mode's driver-side commit when writers meet: conflict-checked create, retries, whole overwrites.

No Spark session needed: the tasks' Parquet files are written here directly and
committed with :func:`jobs.spark.delta.commit_files`, from threads or with a
rival commit injected between the snapshot and the commit.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from jobs.delta import CommitRetry
from jobs.spark.delta import commit_files

SCHEMA = pa.schema([("writer", pa.string()), ("a", pa.int64())])


def task_files(uri, writer: str, n: int = 2) -> list[dict]:
    """``n`` one-row Parquet files under ``uri``, as Spark tasks would leave them."""
    out = []
    uri.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = f"part-{writer}-{i}.parquet"
        pq.write_table(pa.table({"writer": [writer], "a": [i]}, schema=SCHEMA), uri / name)
        out.append({"path": name, "size": (uri / name).stat().st_size, "rows": 1})
    return out


def writers_of(uri) -> list[str]:
    return sorted(DeltaTable(str(uri)).to_pyarrow_table()["writer"].to_pylist())


FAST = CommitRetry(attempts=20, base_delay_s=0.01, max_delay_s=0.2)


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_writers_creating_one_table_at_once(tmp_path, mode):
    """Before: the create was ``mode="overwrite"``; now a rival's create makes the loser retry."""
    for rep in range(3):
        uri = tmp_path / f"t{rep}"
        files = {w: task_files(uri, w) for w in ("a", "b", "c")}
        barrier, versions, errors = threading.Barrier(3), {}, []

        def run(w):
            barrier.wait()
            try:
                versions[w] = commit_files(str(uri), files[w], SCHEMA, mode=mode, retry=FAST)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        found = writers_of(uri)
        if mode == "append":
            assert found == ["a", "a", "b", "b", "c", "c"]
        else:  # one whole result, never a mix
            assert len(found) == 2 and len(set(found)) == 1
        creates = [h for h in DeltaTable(str(uri)).history() if h["operation"] == "CREATE TABLE"]
        assert len(creates) == 1 and sorted(versions.values()) == sorted(set(versions.values()))


def test_an_overwrite_removes_files_a_rival_committed_after_its_snapshot(tmp_path, monkeypatch):
    uri = tmp_path / "t"
    commit_files(str(uri), task_files(uri, "old"), SCHEMA)
    rival = task_files(uri, "rival")
    real = DeltaTable.create_write_transaction
    fired = []

    def rival_first(self, actions, mode, schema, *args, **kwargs):
        if not fired:  # the rival commits between our snapshot (self) and our commit
            fired.append(1)
            commit_files(str(uri), rival, SCHEMA, mode="append")
        return real(self, actions, mode, schema, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "create_write_transaction", rival_first)
    version = commit_files(str(uri), task_files(uri, "mine"), SCHEMA)
    monkeypatch.setattr(DeltaTable, "create_write_transaction", real)
    assert writers_of(uri) == ["mine", "mine"]
    assert DeltaTable(str(uri)).version() == version == 3  # 0 create, 1 rival, 2 mine, 3 the rival's files removed


def test_commit_returns_its_own_version_and_checks_mode(tmp_path):
    uri = tmp_path / "t"
    assert commit_files(str(uri), task_files(uri, "a"), SCHEMA) == 0
    assert commit_files(str(uri), task_files(uri, "b"), SCHEMA, mode="append") == 1
    assert commit_files(str(uri), [], SCHEMA) == 2
    assert DeltaTable(str(uri)).count() == 0
    with pytest.raises(ValueError, match="mode"):
        commit_files(str(uri), [], SCHEMA, mode="merge")
