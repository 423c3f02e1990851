"""In Spark mode the terminal keeps only crimefusion's own output: Spark's WARN lines, the JVM's startup messages and
stage progress bars go to <CRIMEFUSION_HOME>/logs/spark.log (orchestration/resources/compute.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: A process as `crimefusion run` is in Spark mode: resources from the factory, a job with stages over 0.5 s
#: (Spark draws a progress bar for those), then its own line of output.
SCRIPT = """
from orchestration.resources.factory import cli_resources
settings, resources = cli_resources()
spark = resources["compute"].spark()
n = spark.range(0, 4_000_000, numPartitions=4).selectExpr("sum(id * id % 7) AS s").collect()[0]["s"]
print(f"crimefusion says: {n}", flush=True)
spark.stop()
"""


def test_spark_output_goes_to_the_log_file_not_the_terminal(tmp_path):
    pytest.importorskip("pyspark")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRIMEFUSION_HOME": str(tmp_path / "home"),
           "CRIMEFUSION_LAKE": str(tmp_path / "lake"), "CRIMEFUSION_COMPUTE_ENGINE": "spark",
           "CRIMEFUSION_SPARK_MASTER": "local[2]"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "crimefusion says: 7999999"
    assert out.stderr.strip() == "", out.stderr[-3000:]  # no WARN line, no "[Stage 0:====>  (1 + 2) / 4]"
    log = (tmp_path / "home" / "logs" / "spark.log").read_text()
    assert "crimefusion starts Spark (local[2])" in log and "log4j" in log and "[Stage" not in log
