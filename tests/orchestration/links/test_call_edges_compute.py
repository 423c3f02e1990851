"""The call_edges asset writes the same gold rows with compute engine 'embedded' and 'spark' (local[2])."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.links.synthetic import planted_partition_cdr
from orchestration.links.assets import call_edges
from orchestration.links.checks import call_edges_cover_input
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse

pytestmark = pytest.mark.slow
KEYS = [("period", "ascending"), ("caller", "ascending"), ("callee", "ascending")]


def _cdr() -> pa.Table:
    base, _ = planted_partition_cdr(n_groups=3, group_size=10, events_per_phone=10, days=17, seed=5)
    base = base.set_column(base.column_names.index("kind"), "kind", base["kind"].cast(pa.string()))
    mirror = base.take(pa.array(np.random.default_rng(5).choice(base.num_rows, 60, replace=False)))
    mirror = mirror.set_column(mirror.column_names.index("direction"), "direction", pa.array(["in"] * 60, pa.string()))
    return pa.concat_tables([base, mirror])


def _write_interleaved(lh: LocalLakehouse, cdr: pa.Table) -> None:
    """silver/cdr_events in files whose time range spans the middle week without holding a row of it.

    Reading that week with filters, deltalake still opens those files (their statistics overlap it) and
    returns one zero-row chunk for each: ``[0, 0, n]`` rows, the shape that made Spark lose whole weeks
    (issue #13, weeks 2017-12-25 and 2018-01-01 of the demo).
    """
    weeks = pc.floor_temporal(cdr["start_time"], unit="week", week_starts_monday=True)
    first, middle, last = sorted(pc.unique(weeks).to_pylist())[:3]
    at = {w: cdr.filter(pc.equal(weeks, pa.scalar(w, weeks.type))) for w in (first, middle, last)}
    outer = [at[w].slice(i * (at[w].num_rows // 2), at[w].num_rows // 2 + i) for i in (0, 1) for w in (first, last)]
    lh.overwrite("silver", "cdr_events", at[middle])
    lh.append("silver", "cdr_events", pa.concat_tables([outer[0], outer[1]]))
    lh.append("silver", "cdr_events", pa.concat_tables([outer[2], outer[3]]))
    rest = cdr.filter(pc.invert(pc.is_in(weeks, pa.array([first, middle, last], weeks.type))))
    if rest.num_rows:
        lh.append("silver", "cdr_events", rest)


@pytest.mark.parametrize("engine", ["embedded", "spark"])
def test_call_edges_same_rows_in_both_engines(tmp_path, engine):
    from jobs.links.edges import aggregate_edges

    lh = LocalLakehouse(root=str(tmp_path / "lake"))
    cdr = _cdr()
    _write_interleaved(lh, cdr)
    middle = sorted(set(aggregate_edges(cdr, period="week")["period"].to_pylist()))[1]
    read = lh.read("silver", "cdr_events", columns=["caller"],
                   filters=[("start_time", ">=", middle), ("start_time", "<", middle + dt.timedelta(days=7))])
    assert [len(c) for c in read["caller"].chunks][0] == 0 < read.num_rows  # the case this test is about
    compute = Compute(engine=engine, spark_master="local[2]", spark_partitions=3)
    result = dg.materialize([call_edges, call_edges_cover_input], resources={"lakehouse": lh, "compute": compute})
    assert result.success
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    gold = lh.read("gold", "call_edges").sort_by(KEYS)
    expected = aggregate_edges(cdr, period="week")
    assert gold.num_rows == expected.num_rows > 0
    assert gold.select(expected.column_names).cast(expected.schema).equals(expected)


def test_cover_input_check_fails_on_a_lost_or_short_week(tmp_path):
    from jobs.links.edges import aggregate_edges

    lh = LocalLakehouse(root=str(tmp_path / "lake"))
    cdr = _cdr()
    lh.overwrite("silver", "cdr_events", cdr)
    edges = aggregate_edges(cdr, period="week")
    weeks = sorted(set(edges["period"].to_pylist()))
    assert len(weeks) >= 2
    lh.overwrite("gold", "call_edges", edges)
    assert call_edges_cover_input(lakehouse=lh).passed
    # a week of CDRs that yields no edge (what Spark did to 2017-12-25 and 2018-01-01)
    lh.overwrite("gold", "call_edges", edges.filter(pc.not_equal(edges["period"], pa.scalar(weeks[1], edges["period"].type))))
    res = call_edges_cover_input(lakehouse=lh)
    assert not res.passed and res.metadata["periods_without_edges"].value == 1
    assert f"{weeks[1].date()}:" in res.metadata["examples"].value[0] and "-> 0 edges" in res.metadata["examples"].value[0]
    # a week that lost part of its calls
    lh.overwrite("gold", "call_edges", edges.slice(5))
    res = call_edges_cover_input(lakehouse=lh)
    assert not res.passed and res.metadata["periods_without_edges"].value == 0 and "expected" in res.description
    # no CDRs: nothing to cover
    empty = LocalLakehouse(root=str(tmp_path / "empty"))
    assert call_edges_cover_input(lakehouse=empty).passed
