"""A Spark standalone master and workers on 127.0.0.1, started from pyspark's own ``spark-class``.

Shared by the tests that need a real cluster (``tests/jobs/spark/test_spark_fusion.py``,
``tests/infra/test_topology.py``); import it as ``tests.spark_standalone`` (pytest
puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 90.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def standalone_cluster(folder: Path, *, workers: int = 2, env: dict[str, str] | None = None
                       ) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """Yield ``(spark://127.0.0.1:port, daemon processes)``; every daemon is stopped on exit.

    Each worker offers one core and 1 GiB. Logs go to ``folder/daemon<i>.log``.
    ``env`` adds variables to the daemons' environment (executors inherit it).
    """
    import pyspark

    home = Path(pyspark.__file__).parent
    daemon_env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable,
                  "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(folder),
                  "SPARK_WORKER_DIR": str(folder / "work"), "SPARK_DAEMON_JAVA_OPTS": JVM_OPTS, **(env or {})}
    port = free_port()
    cls = str(home / "bin" / "spark-class")
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> None:
        with open(folder / f"daemon{len(procs)}.log", "w") as log:
            procs.append(subprocess.Popen([cls, *args], env=daemon_env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    try:
        start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0")
        wait_port(port)
        for _ in range(workers):
            start("org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                  "--cores", "1", "--memory", "1g", "--webui-port", "0")
        yield f"spark://127.0.0.1:{port}", procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
