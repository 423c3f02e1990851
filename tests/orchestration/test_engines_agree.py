"""The main job with ``CRIMEFUSION_COMPUTE_ENGINE=spark`` writes the silver and gold rows of the embedded run.

Kernel-level tests (``tests/jobs/spark/``) compare each Spark path with its
kernel on tables built for the test; this one compares whole lakes, because a
bug can live between the lakehouse and the kernel (issue #13: weeks read from
silver reached Spark as tables starting with zero-row chunks, and Spark's
``createDataFrame`` dropped them, so ``call_edges`` had 59,454 rows against
81,570). The embedded lake is the session's ``full_run``; the Spark run lands
its files in the same landing folder, so the video paths (and the ids made
from them) agree.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

#: Columns that legitimately differ between two runs, whatever the engine.
NOT_COMPARED = {
    ("gold", "entity_anomalies"): {"scored_at"},  # wall-clock time of scoring
}
#: Float columns are compared as the Spark tests do (``rtol=1e-5``, ``atol=1e-5 * max|embedded|``):
#: Spark sums the kernel density of ``cell_features`` per partition, in another order.
RTOL = 1e-5


def _tables(root: Path) -> dict[tuple[str, str], Path]:
    return {(layer, p.name): p for layer in ("silver", "gold") if (root / layer).is_dir()
            for p in sorted((root / layer).iterdir()) if (p / "_delta_log").is_dir()}


def _sorted(table: pa.Table) -> pa.Table:
    """Rows in a canonical order: exact columns first, floats last (their noise must not reorder rows)."""
    def sortable(t):
        return not (pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t))

    exact = [c for c in table.column_names if sortable(table[c].type) and not pa.types.is_floating(table[c].type)]
    floats = [c for c in table.column_names if pa.types.is_floating(table[c].type)]
    return table.sort_by([(c, "ascending") for c in exact + floats]) if exact + floats else table


def _differences(name: str, embedded: pa.Table, spark: pa.Table, skip: set[str]) -> list[str]:
    if embedded.num_rows != spark.num_rows:
        return [f"{name}: {spark.num_rows:,} rows in spark mode, {embedded.num_rows:,} embedded"]
    if embedded.schema.remove_metadata() != spark.schema.remove_metadata():
        return [f"{name}: schemas differ:\n{spark.schema}\nvs\n{embedded.schema}"]
    keep = [c for c in embedded.column_names if c not in skip]
    e, s = _sorted(embedded.select(keep)), _sorted(spark.select(keep))
    out = []
    for col in keep:
        x, y = s[col], e[col]
        if x.equals(y):
            continue
        if pa.types.is_floating(y.type):
            xv, yv = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
            scale = float(np.nanmax(np.abs(yv))) if len(yv) and not np.all(np.isnan(yv)) else 0.0
            if np.allclose(xv, yv, rtol=RTOL, atol=RTOL * scale, equal_nan=True):
                continue
        n = sum(1 for a, b in zip(x.to_pylist(), y.to_pylist()) if a != b)
        out.append(f"{name}.{col}: {n:,} of {embedded.num_rows:,} rows differ")
    return out


@pytest.fixture(scope="module")
def spark_run(full_run, main_job, tmp_path_factory):
    _, _, result, base = full_run
    assert result.success
    root = tmp_path_factory.mktemp("full_spark")
    env = {"CRIMEFUSION_LAKE": str(root / "lake"), "CRIMEFUSION_LANDING": str(base / "landing"),
           "CRIMEFUSION_HOME": str(root / "home"), "CRIMEFUSION_COMPUTE_ENGINE": "spark",
           "CRIMEFUSION_SPARK_MASTER": "local[2]"}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which default_tracking honours: without this the
    # second run would register its model in the first run's store and face its champion
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    start = time.perf_counter()
    _, _, spark_result = main_job(env)
    print(f"\nmain job in spark mode: {time.perf_counter() - start:.1f} s")
    yield spark_result, base / "lake", root / "lake"
    mp.undo()


def test_spark_run_succeeds_with_every_check(spark_run):
    result, _, _ = spark_run
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failed
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["call_edges_cover_input"]


def test_every_silver_and_gold_table_equals_the_embedded_one(spark_run):
    _, embedded_root, spark_root = spark_run
    embedded, spark = _tables(embedded_root), _tables(spark_root)
    assert set(spark) == set(embedded)
    assert {("silver", "cdr_events"), ("gold", "call_edges"), ("gold", "cell_features"), ("gold", "events"),
            ("gold", "incident_context"), ("gold", "entities"), ("gold", "entity_links")} <= set(embedded)
    from deltalake import DeltaTable

    problems = []
    for key, path in sorted(embedded.items()):
        e = DeltaTable(str(path)).to_pyarrow_table()
        s = DeltaTable(str(spark[key])).to_pyarrow_table()
        problems += _differences("/".join(key), e, s, NOT_COMPARED.get(key, set()))
    assert not problems, "\n".join(problems)
    edges = DeltaTable(str(spark[("gold", "call_edges")])).to_pyarrow_table(columns=["period"])
    assert edges.num_rows > 0
    print(f"gold/call_edges: {edges.num_rows:,} rows in both modes")
