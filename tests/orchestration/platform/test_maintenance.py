"""Lakehouse maintenance on a temporary Delta table: compact, vacuum (ends time travel), restore, CLI."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from orchestration.platform.lake import list_tables
from orchestration.platform.maintenance import main, optimize_table, restore_table, vacuum_table


def _batch(start: int, n: int = 10) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + n), pa.int64()),
                     "category": pa.array([f"c{i % 3}" for i in range(start, start + n)])})


@pytest.fixture
def fragmented(lake):
    """silver/t written in 6 commits: 6 small files, 60 rows."""
    lake.overwrite("silver", "t", _batch(0))
    for k in range(1, 6):
        write_deltalake(lake.uri("silver", "t"), _batch(10 * k), mode="append")
    return lake


def test_list_tables_finds_only_delta_folders(fragmented, tmp_path):
    (tmp_path / "lake" / "gold" / "not_a_table").mkdir(parents=True)
    fragmented.overwrite("gold", "g", _batch(0, 2))
    assert list_tables(fragmented) == [("gold", "g"), ("silver", "t")]


def test_optimize_compacts_files_and_keeps_rows(fragmented):
    before = DeltaTable(fragmented.uri("silver", "t"))
    assert len(before.file_uris()) == 6
    r = optimize_table(fragmented, "silver", "t")
    after = DeltaTable(fragmented.uri("silver", "t"))
    assert len(after.file_uris()) == 1
    assert (r.files_removed, r.files_added, r.rows) == (6, 1, 60)
    assert r.version_after == r.version_before + 1
    assert sorted(after.to_pyarrow_table()["id"].to_pylist()) == list(range(60))


def test_vacuum_refuses_short_retention_without_force(fragmented):
    with pytest.raises(ValueError, match="force"):
        vacuum_table(fragmented, "silver", "t", retention_hours=0)
    with pytest.raises(ValueError, match=">= 0"):
        vacuum_table(fragmented, "silver", "t", retention_hours=-1, force=True)


def test_vacuum_deletes_replaced_files_and_ends_time_travel(fragmented):
    optimize_table(fragmented, "silver", "t", checkpoint=False)
    # the default retention keeps the six compacted-away files (they are minutes old)
    assert vacuum_table(fragmented, "silver", "t", dry_run=True).detail["candidates"] == 0
    dry = vacuum_table(fragmented, "silver", "t", retention_hours=0, dry_run=True, force=True)
    assert dry.detail["candidates"] == 6 and dry.files_removed == 0
    assert DeltaTable(fragmented.uri("silver", "t"), version=0).to_pyarrow_table().num_rows == 10
    done = vacuum_table(fragmented, "silver", "t", retention_hours=0, dry_run=False, force=True)
    assert done.files_removed == 6 and done.rows == 60
    with pytest.raises(Exception):  # version 0's file is gone
        DeltaTable(fragmented.uri("silver", "t"), version=0).to_pyarrow_table()


def test_restore_brings_back_a_version_as_a_new_commit(fragmented):
    v_good = fragmented.version("silver", "t")
    fragmented.overwrite("silver", "t", _batch(1000, 3))  # a bad run replaced the table
    r = restore_table(fragmented, "silver", "t", version=v_good)
    assert r.version_after == v_good + 2 and r.rows == 60
    assert r.files_added == 6 and r.files_removed == 1  # the six original files back, the bad one out
    assert sorted(fragmented.read("silver", "t")["id"].to_pylist()) == list(range(60))
    with pytest.raises(ValueError, match="exactly one"):
        restore_table(fragmented, "silver", "t")


def test_cli(fragmented, monkeypatch, capsys):
    monkeypatch.setenv("CRIMEFUSION_LAKE", fragmented.root)
    monkeypatch.delenv("CRIMEFUSION_DEPLOYMENT", raising=False)
    assert main(["list"]) == 0
    assert json.loads(capsys.readouterr().out) == {"table": "silver/t", "version": 5, "rows": 60}
    assert main(["optimize", "silver/t"]) == 0
    assert json.loads(capsys.readouterr().out)["files_removed"] == 6
    assert main(["vacuum", "--retention-hours", "0"]) == 2  # refused without --force
    assert "force" in capsys.readouterr().err
    assert main(["vacuum", "silver/nope"]) == 2
    assert "silver/t" in capsys.readouterr().err
