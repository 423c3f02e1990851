"""``make ui`` starts the Dagster UI on 127.0.0.1 and stops cleanly, leaving no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import alive, descendants, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def ignore_sigint():
    # what a non-interactive shell does to background jobs: the case that breaks `dagster dev`
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ui_serves_and_stops_without_orphans(tmp_path, stop_signal):
    port = free_port()
    env = dict(os.environ, CRIMEFUSION_HOME=str(tmp_path / "home"), CRIMEFUSION_LAKE=str(tmp_path / "lake"))
    launcher = subprocess.Popen([sys.executable, "-m", "orchestration.ui", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=ignore_sigint)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert launcher.poll() is None, launcher.stdout.read().decode()
                assert time.time() < deadline, "Dagster UI did not answer within 120 s"
                time.sleep(1)
        tree = descendants(launcher.pid)
        assert tree, "dagster dev should have started"
        launcher.send_signal(stop_signal)
        launcher.wait(timeout=60)
        time.sleep(1)
        left = [p for p in tree if alive(p)]
        assert not left, f"processes left running: {left}"
    finally:
        if launcher.poll() is None:
            launcher.kill()
