"""Compute: where kernels run.

``embedded`` (default) runs kernels in-process on SedonaDB and Arrow. ``spark``
runs the same kernels per partition inside Spark tasks (SedonaDB in each task,
``jobs/spark/``) on the master named by ``spark_master`` (``local[2]``,
``spark://host:7077``, ``k8s://...``). The Spark session starts lazily, on the
first asset that needs it, so an embedded run never starts a JVM. With
``spark_log`` set (the factory sets ``<CRIMEFUSION_HOME>/logs/spark.log``), the
driver JVM's output, Spark's WARN lines among it, goes to that file instead of
the terminal, and Spark's console progress bars are off: the CLI and Dagster
show their own progress.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

ENGINES = ("embedded", "spark")


class Compute(dg.ConfigurableResource):
    """The engine kernels run on, the SedonaDB context and the Spark session they share within a run."""

    engine: str = "embedded"
    spark_master: str = "local[2]"
    spark_partitions: int = 8
    spark_log: str | None = Field(default=None, description=(
        "File that takes the Spark driver's output (log lines, warnings), appended; empty: the terminal."))
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
            self._spark = spark_session(self.spark_master, partitions=self.spark_partitions, log_file=self.spark_log)
        return self._spark

    def teardown_after_execution(self, context) -> None:
        if self._spark is not None:
            self._spark.stop()
            self._spark = None


def spark_session(master: str, *, app_name: str = "crimefusion", partitions: int = 8,
                  log_file: str | Path | None = None):
    """A Spark session on ``master`` whose Python workers run this interpreter.

    ``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`` cut the driver's start to about
    5 s on 2 cores (DESIGN.md); Arrow is enabled for ``mapInArrow``/``applyInArrow``.
    Spark's console progress bars are off. With ``log_file``, the driver JVM's
    stdout and stderr (log4j's lines, the JVM's own startup messages, local
    workers' output) are appended to that file instead of the terminal.
    """
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    jvm = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    conf = SparkConf().setMaster(master).setAppName(app_name).setAll([
        ("spark.driver.extraJavaOptions", jvm),
        ("spark.executor.extraJavaOptions", jvm),
        ("spark.executorEnv.PYSPARK_PYTHON", sys.executable),
        ("spark.sql.shuffle.partitions", str(partitions)),
        ("spark.default.parallelism", str(partitions)),
        ("spark.sql.execution.arrow.pyspark.enabled", "true"),
        ("spark.ui.enabled", "false"),
        ("spark.ui.showConsoleProgress", "false"),  # stage bars would garble the CLI's own progress
        ("spark.driver.memory", "1g"),
        ("spark.executor.memory", "1g"),
        ("spark.sql.session.timeZone", "UTC"),
    ])
    if master.startswith("local") or master.startswith(("spark://127.0.0.1", "spark://localhost")):
        # keep a machine-local run on the loopback interface (the driver would otherwise bind the LAN address)
        conf.set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
    if log_file is not None and SparkSession.getActiveSession() is None:
        from pyspark import SparkContext

        SparkContext(conf=conf, gateway=_driver_jvm(conf, Path(log_file)))
    return SparkSession.builder.config(conf=conf).getOrCreate()


#: The driver JVM this process started with its output going to a log file (pyspark keeps one JVM per process,
#: across sessions, so it is started once).
_JVM: dict = {}


def _driver_jvm(conf, log_file: Path):
    """Start Spark's driver JVM with its stdout and stderr appended to ``log_file`` (once per process).

    pyspark's ``launch_gateway`` takes ``popen_kwargs`` for this ("capturing
    stdout/stderr"); a JVM that does not start is reported with the log's last lines.
    """
    if "gateway" in _JVM:
        return _JVM["gateway"]
    from pyspark.java_gateway import launch_gateway

    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} crimefusion starts Spark "
                  f"({conf.get('spark.master')}), pid {os.getpid()}\n".encode())
        out.flush()
        try:
            _JVM["gateway"] = launch_gateway(conf, popen_kwargs={"stdout": out, "stderr": out})
        except Exception as exc:  # noqa: BLE001 - pyspark's error says only that the JVM exited
            tail = log_file.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"Spark's driver JVM did not start ({exc}); the end of {log_file}:\n"
                               + "\n".join(tail)) from exc
    return _JVM["gateway"]
