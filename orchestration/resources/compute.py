"""Compute: where kernels run.

``embedded`` (default) runs kernels in-process on SedonaDB and Arrow. ``spark``
runs the same kernels per partition inside Spark tasks (SedonaDB in each task,
``jobs/spark/``) on the master named by ``spark_master`` (``local[2]``,
``spark://host:7077``, ``k8s://...``). The Spark session starts lazily, on the
first asset that needs it, so an embedded run never starts a JVM.
"""

from __future__ import annotations

import os
import sys

import dagster as dg
from pydantic import PrivateAttr

ENGINES = ("embedded", "spark")


class Compute(dg.ConfigurableResource):
    """The engine kernels run on, the SedonaDB context and the Spark session they share within a run."""

    engine: str = "embedded"
    spark_master: str = "local[2]"
    spark_partitions: int = 8
    _sedona = PrivateAttr(default=None)
    _spark = PrivateAttr(default=None)

    def _check(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"compute engine {self.engine!r} is unknown; use one of {', '.join(ENGINES)}")

    def sedona(self):
        """A SedonaDB context, created once per process and reused by every kernel call (both engines)."""
        self._check()
        if self._sedona is None:
            import sedonadb

            self._sedona = sedonadb.connect()
        return self._sedona

    def spark(self):
        """The Spark session (started on first use), for ``engine: spark``."""
        self._check()
        if self.engine != "spark":
            raise ValueError("compute.spark() needs engine 'spark'; this run's engine is 'embedded'")
        if self._spark is None:
            self._spark = spark_session(self.spark_master, partitions=self.spark_partitions)
        return self._spark

    def teardown_after_execution(self, context) -> None:
        if self._spark is not None:
            self._spark.stop()
            self._spark = None


def spark_session(master: str, *, app_name: str = "crimefusion", partitions: int = 8):
    """A Spark session on ``master`` whose Python workers run this interpreter.

    ``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`` cut the driver's start to about
    5 s on 2 cores (DESIGN.md); Arrow is enabled for ``mapInArrow``/``applyInArrow``.
    """
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    builder = SparkSession.builder.master(master)
    if master.startswith("local") or master.startswith(("spark://127.0.0.1", "spark://localhost")):
        # keep a machine-local run on the loopback interface (the driver would otherwise bind the LAN address)
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    return (
        builder
        .appName(app_name)
        .config("spark.driver.extraJavaOptions", jvm)
        .config("spark.executor.extraJavaOptions", jvm)
        .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.executor.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
