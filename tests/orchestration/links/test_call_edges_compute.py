"""The call_edges asset writes the same gold rows with compute engine 'embedded' and 'spark' (local[2])."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest

from jobs.links.synthetic import planted_partition_cdr
from orchestration.links.assets import call_edges
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse

pytestmark = pytest.mark.slow
KEYS = [("period", "ascending"), ("caller", "ascending"), ("callee", "ascending")]


def _cdr() -> pa.Table:
    base, _ = planted_partition_cdr(n_groups=3, group_size=10, events_per_phone=10, days=10, seed=5)
    base = base.set_column(base.column_names.index("kind"), "kind", base["kind"].cast(pa.string()))
    mirror = base.take(pa.array(np.random.default_rng(5).choice(base.num_rows, 60, replace=False)))
    mirror = mirror.set_column(mirror.column_names.index("direction"), "direction", pa.array(["in"] * 60, pa.string()))
    return pa.concat_tables([base, mirror])


@pytest.mark.parametrize("engine", ["embedded", "spark"])
def test_call_edges_same_rows_in_both_engines(tmp_path, engine):
    from jobs.links.edges import aggregate_edges

    lh = LocalLakehouse(root=str(tmp_path / "lake"))
    cdr = _cdr()
    lh.overwrite("silver", "cdr_events", cdr)
    compute = Compute(engine=engine, spark_master="local[2]", spark_partitions=3)
    result = dg.materialize([call_edges], resources={"lakehouse": lh, "compute": compute})
    assert result.success
    gold = lh.read("gold", "call_edges").sort_by(KEYS)
    expected = aggregate_edges(cdr, period="week")
    assert gold.num_rows == expected.num_rows > 0
    assert gold.select(expected.column_names).cast(expected.schema).equals(expected)
