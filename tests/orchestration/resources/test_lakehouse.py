"""Idempotent writes and versions of the Delta lakehouse."""

from __future__ import annotations

import pyarrow as pa
import pytest


def rows(ids, value="a", group="g1"):
    return pa.table({"id": pa.array(ids, pa.string()), "value": [value] * len(ids), "group": [group] * len(ids)})


def test_merge_upserts_never_duplicates(lake):
    r1 = lake.merge("silver", "t", rows(["1", "2"]), ["id"])
    r2 = lake.merge("silver", "t", rows(["2", "3"], value="b"), ["id"])
    r3 = lake.merge("silver", "t", rows(["2", "3"], value="b"), ["id"])
    table = lake.read("silver", "t").sort_by("id").to_pylist()
    assert [(r["id"], r["value"]) for r in table] == [("1", "a"), ("2", "b"), ("3", "b")]
    assert (r1.version, r2.version, r3.version) == (0, 1, 2)
    assert r3.rows_total == 3


def test_replace_where_replaces_only_matching_rows(lake):
    lake.replace_where("bronze", "t", rows(["1", "2"], group="g1"), "\"group\" = 'g1'")
    lake.replace_where("bronze", "t", rows(["3"], group="g2"), "\"group\" = 'g2'")
    lake.replace_where("bronze", "t", rows(["1", "2"], value="new", group="g1"), "\"group\" = 'g1'")
    t = lake.read("bronze", "t").sort_by("id").to_pylist()
    assert [(r["id"], r["value"]) for r in t] == [("1", "new"), ("2", "new"), ("3", "a")]
    lake.replace_where("bronze", "t", rows([], group="g1"), "\"group\" = 'g1'")
    assert lake.read("bronze", "t")["id"].to_pylist() == ["3"]


def test_time_travel_and_missing_table(lake):
    lake.overwrite("gold", "t", rows(["1"]))
    lake.overwrite("gold", "t", rows(["1", "2"]))
    assert lake.read("gold", "t", version=0).num_rows == 1
    assert lake.version("gold", "t") == 1
    with pytest.raises(FileNotFoundError, match="gold/nope does not exist"):
        lake.read("gold", "nope")
    with pytest.raises(ValueError, match="unknown lakehouse layer"):
        lake.uri("platinum", "t")


def test_object_store_options_come_from_settings():
    from orchestration.resources.lakehouse import ObjectStoreLakehouse

    lh = ObjectStoreLakehouse(root="s3://lake/crime", endpoint_url="http://127.0.0.1:9000", allow_http=True,
                              access_key_id="k", secret_access_key="s")
    opts = lh.storage_options()
    assert opts["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000" and opts["AWS_ALLOW_HTTP"] == "true"
    assert lh.uri("silver", "incidents") == "s3://lake/crime/silver/incidents"


def test_view_types_are_written_as_plain_strings(lake):
    """SedonaDB/DataFusion hand back string_view columns; the lake stores strings, so filters keep working."""
    plain = pa.table({"k": pa.array(["a", "b"]), "n": pa.array([1, 2], pa.int64())})
    viewed = pa.table({"k": pa.array(["c", "d"], pa.string_view()), "n": pa.array([3, 4], pa.int64())})
    lake.append("gold", "t", plain)
    lake.append("gold", "t", viewed)
    lake.append("gold", "t", lambda: pa.RecordBatchReader.from_batches(viewed.schema, viewed.to_batches()))
    got = lake.read("gold", "t", filters=[("k", "in", ["b", "c"])])
    assert got.schema.field("k").type == pa.string()
    assert sorted(got["n"].to_pylist()) == [2, 3, 3]
    lake.overwrite("gold", "u", viewed)
    assert lake.read("gold", "u").schema.field("k").type == pa.string()


def test_a_lake_with_string_view_files_still_reads_with_filters(lake):
    """Files an earlier version wrote as string_view beside string files: the filtered read falls back."""
    from deltalake import write_deltalake

    lake.append("gold", "t", pa.table({"k": pa.array(["a", "b"]), "n": pa.array([1, 2], pa.int64())}))
    write_deltalake(lake.uri("gold", "t"), pa.table({"k": pa.array(["c"], pa.string_view()),
                                                     "n": pa.array([3], pa.int64())}), mode="append")
    got = lake.read("gold", "t", columns=["n"], filters=[("k", "in", ["a", "c"])])
    assert got.column_names == ["n"] and sorted(got["n"].to_pylist()) == [1, 3]
