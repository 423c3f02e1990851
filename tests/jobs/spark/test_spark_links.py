"""Spark call edges give the embedded rows (local[2]), from an Arrow table and from a Delta table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.links.edges import aggregate_edges
from jobs.links.synthetic import planted_partition_cdr
from jobs.spark.links import spark_call_edges

pytestmark = pytest.mark.slow
KEYS = [("period", "ascending"), ("caller", "ascending"), ("callee", "ascending")]


@pytest.fixture(scope="module")
def cdr() -> pa.Table:
    """Planted-group CDRs plus what the kernel must handle: mirrored ``in`` rows, data sessions, self-calls, nulls."""
    base, _ = planted_partition_cdr(n_groups=4, group_size=12, events_per_phone=15, days=16, seed=3)
    rng = np.random.default_rng(3)
    base = base.set_column(base.column_names.index("kind"), "kind", base["kind"].cast(pa.string()))
    # operators' mirror rows of on-net calls: same caller, callee, start time, direction 'in'
    mirror = base.take(pa.array(rng.choice(base.num_rows, base.num_rows // 3, replace=False)))
    mirror = mirror.set_column(mirror.column_names.index("direction"), "direction",
                               pa.array(["in"] * mirror.num_rows, pa.string()))
    # an 'in' row whose 'out' side is on another network: must stay
    lone = base.slice(0, 5)
    lone = lone.set_column(lone.column_names.index("direction"), "direction", pa.array(["in"] * 5, pa.string()))
    lone = lone.set_column(lone.column_names.index("start_time"), "start_time",
                           pc.add(lone["start_time"], pa.scalar(1_000_000, pa.duration("us"))))
    data = base.slice(10, 6)
    data = data.set_column(data.column_names.index("kind"), "kind", pa.array(["data"] * 6, pa.string()))
    data = data.set_column(data.column_names.index("callee"), "callee", pa.nulls(6, pa.string()))
    selfc = base.slice(20, 3)
    selfc = selfc.set_column(selfc.column_names.index("callee"), "callee", selfc["caller"])
    nodur = base.slice(30, 4)
    nodur = nodur.set_column(nodur.column_names.index("duration_s"), "duration_s", pa.nulls(4, pa.int32()))
    out = pa.concat_tables([base, mirror, lone, data, selfc, nodur])
    return out.take(pa.array(rng.permutation(out.num_rows)))


@pytest.fixture(scope="module")
def local_spark():
    from orchestration.resources.compute import spark_session

    spark = spark_session("local[2]", partitions=3)
    yield spark
    spark.stop()


@pytest.mark.parametrize(
    "period, kinds, dedupe",
    [
        ("week", ("voice", "sms"), True),
        ("day", ("voice",), True),
        ("all", ("voice", "sms"), False),
    ],
)
def test_rows_equal_embedded(local_spark, cdr, period, kinds, dedupe):
    embedded = aggregate_edges(cdr, period=period, kinds=kinds, dedupe_mirrored=dedupe)
    spark = spark_call_edges(local_spark, cdr, period=period, kinds=kinds, dedupe_mirrored=dedupe, partitions=4)
    assert embedded.num_rows > 0
    assert spark.schema == embedded.schema
    assert spark.sort_by(KEYS).equals(embedded.sort_by(KEYS))


def test_mirrors_are_dropped_across_partitions(local_spark, cdr):
    # had a mirrored pair been split across tasks, its 'in' row would survive and n_events would be too high
    with_dedupe = spark_call_edges(local_spark, cdr, period="all", partitions=7)
    without = spark_call_edges(local_spark, cdr, period="all", dedupe_mirrored=False, partitions=7)
    kept = cdr.filter(pc.and_(pc.is_in(cdr["kind"], pa.array(["voice", "sms"])),
                              pc.and_(pc.is_valid(cdr["callee"]), pc.not_equal(cdr["caller"], cdr["callee"]))))
    n_in = kept.filter(pc.equal(kept["direction"], "in")).num_rows
    assert n_in > 5
    assert pc.sum(without["n_events"]).as_py() == kept.num_rows
    assert pc.sum(with_dedupe["n_events"]).as_py() == kept.num_rows - (n_in - 5)  # the 5 lone 'in' rows stay


def test_reads_a_delta_table(local_spark, cdr, tmp_path):
    from deltalake import write_deltalake

    uri = str(tmp_path / "cdr_events")
    write_deltalake(uri, cdr, mode="overwrite")
    write_deltalake(uri, cdr, mode="overwrite")  # files of the first commit are removed, never read
    spark = spark_call_edges(local_spark, uri, period="week", partitions=3)
    assert spark.equals(aggregate_edges(cdr, period="week"))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"period": "fortnight"}, ValueError),
        ({"kinds": "voice"}, TypeError),
        ({"partitions": 0}, ValueError),
    ],
)
def test_rejects_bad_arguments(local_spark, cdr, kwargs, error):
    with pytest.raises(error):
        spark_call_edges(local_spark, cdr, **kwargs)


def test_rejects_missing_columns_and_wrong_input(local_spark, cdr):
    with pytest.raises(ValueError, match="kind"):
        spark_call_edges(local_spark, cdr.drop_columns(["kind"]))
    with pytest.raises(TypeError, match="pyarrow.Table or a Delta"):
        spark_call_edges(local_spark, cdr.to_pandas())


def _with_empty_chunks(table: pa.Table, layout: str) -> pa.Table:
    """``table`` re-chunked as ``layout`` (``e``: a zero-row chunk, ``a``/``b``: its first/second half)."""
    half = table.num_rows // 2
    parts = {"e": table.slice(0, 0), "a": table.slice(0, half), "b": table.slice(half)}
    return pa.concat_tables([parts[p] for p in layout])


@pytest.mark.parametrize("layout", ["eeab", "aeb", "aeeb", "abe"])
def test_zero_row_chunks_lose_no_row(local_spark, cdr, layout):
    """Regression (issue #13): a week read from silver with file skipping starts with empty chunks
    (``[0, 0, 96233]`` rows); ``createDataFrame`` then dropped every row and the week got 0 edges."""
    from jobs.spark.arrow import arrow_frame

    table = _with_empty_chunks(cdr, layout)
    assert table.num_rows == cdr.num_rows and 0 in [len(c) for c in table["caller"].chunks]
    assert arrow_frame(local_spark, table).count() == cdr.num_rows
    spark = spark_call_edges(local_spark, table, period="week", partitions=8)
    assert spark.equals(aggregate_edges(cdr, period="week"))


def test_arrow_frame_decodes_dictionaries_and_keeps_instants(local_spark):
    from jobs.spark.arrow import arrow_frame

    times = pa.array([0, 86_400_000_000 * 365 * 48], pa.timestamp("us", tz="UTC"))
    table = pa.table({"kind": pa.array(["voice", "sms"]).dictionary_encode(), "t": times})
    back = arrow_frame(local_spark, table).toArrow()
    assert back["kind"].to_pylist() == ["voice", "sms"]
    assert back["t"].cast(pa.int64()).to_pylist() == times.cast(pa.int64()).to_pylist()
    assert arrow_frame(local_spark, table.slice(0, 0)).count() == 0
    with pytest.raises(TypeError, match="pyarrow.Table"):
        arrow_frame(local_spark, table.to_pandas())
