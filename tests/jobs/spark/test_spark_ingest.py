"""The Spark parse's partition keys and file pruning (no Spark needed; the Spark runs are in
``tests/orchestration/ingest/test_spark_ingest.py``)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from jobs.ingest.records import row_ids
from jobs.ingest.spec import SourceSpec
from jobs.spark.ingest import bronze_files, id_keys

BASE = {"name": "k", "table": "incidents", "format": {"kind": "csv"},
        "fields": {"occurred_at": {"column": "date"}, "category": {"constant": "assault"}},
        "coordinates": {"x": "lon", "y": "lat", "crs": "EPSG:4326"}}


def _bronze(case_ids: list[str | None], dates: list[str | None], receipts: list[str]) -> pa.Table:
    return pa.table({"case_id": pa.array(case_ids, pa.string()), "date": pa.array(dates, pa.string()),
                     "raw_line": pa.nulls(len(dates), pa.string()), "ingest_id": receipts,
                     "source_row": list(range(1, len(dates) + 1))})


# (id spec, bronze, row pairs that must share a key, row pairs whose keys differ)
CASES = [
    ({"columns": ["case_id"]}, _bronze(["1", " 1", "1\t", "2"], ["a", "b", "c", "a"], ["r1", "r2", "r1", "r1"]),
     [(0, 1), (0, 2)], [(0, 3)]),
    # content ids: identical rows share a key within and across receipts (their ids differ only by the count);
    # a null and an empty value are the same text to row_ids
    ({}, _bronze([None, None, "", "x"], ["a", "a", "a", "a"], ["r1", "r1", "r2", "r1"]),
     [(0, 1), (0, 2)], [(0, 3)]),
]


@pytest.mark.parametrize("id_spec,bronze,same,different", CASES, ids=["id_columns", "content"])
def test_rows_of_one_id_share_a_key(id_spec, bronze, same, different):
    spec = SourceSpec.model_validate({**BASE, "id": id_spec})
    keys = id_keys(bronze, spec).to_pylist()
    ids = row_ids(bronze, spec)
    for a, b in same:
        assert keys[a] == keys[b]
    for a, b in different:
        assert keys[a] != keys[b]
    # every pair of rows with one id has one key (the property the shuffle relies on)
    for i in range(len(ids)):
        for j in range(len(ids)):
            if ids[i] == ids[j]:
                assert keys[i] == keys[j]


def test_bronze_files_are_pruned_by_receipt_statistics(tmp_path):
    uri = str(tmp_path / "raw")
    for receipt in ("aaa", "bbb", "ccc"):
        write_deltalake(uri, pa.table({"ingest_id": [receipt] * 2, "source_row": [1, 2]}), mode="append")
    assert len(bronze_files(uri, ["aaa", "bbb", "ccc"])) == 3
    [one] = bronze_files(uri, ["bbb"])
    assert pq.read_table(one)["ingest_id"].to_pylist() == ["bbb", "bbb"]
    assert bronze_files(uri, ["zzz"]) == []
