"""Services started by tests/processes.py stop with every descendant, even stubborn ones."""

from __future__ import annotations

import signal
import socket
import sys

import pytest

from tests.processes import alive, descendants, free_port, start_service

# a parent that ignores SIGTERM, with a grandchild that ignores it too (like a stuck worker)
STUBBORN = "trap '' TERM; (trap '' TERM; sleep 300) & sleep 300"
POLITE = "sleep 300 & wait"


@pytest.mark.parametrize("script, grace", [(POLITE, 5.0), (STUBBORN, 1.0)])
def test_stop_leaves_no_process(tmp_path, script, grace):
    service = start_service("sh", ["sh", "-c", script], log_path=tmp_path / "sh.log")
    service.wait_until(lambda: len(descendants(service.pid)) >= 1, 10, "its children")
    tree = service.remember()
    assert tree
    left = service.stop(grace=grace)
    assert left == []
    assert not any(alive(p) for p in tree | {service.pid})


def test_signals_reset_to_default(tmp_path):
    # a shell that ignores SIGINT hands that down; the service must still die of SIGINT
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        service = start_service("py", [sys.executable, "-c", "import time; time.sleep(300)"],
                                log_path=tmp_path / "py.log")
    finally:
        signal.signal(signal.SIGINT, previous)
    service.process.send_signal(signal.SIGINT)
    assert service.process.wait(timeout=10) != 0
    assert service.stop(grace=1) == []


def test_wait_reports_a_dead_service_with_its_log(tmp_path):
    service = start_service("bad", ["sh", "-c", "echo cannot bind port >&2; exit 3"], log_path=tmp_path / "bad.log")
    with pytest.raises(RuntimeError, match="cannot bind port"):
        service.wait_http(f"http://127.0.0.1:{free_port()}/", timeout=10)


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
