"""Test support: start a local service (webserver, database, tracking server) and stop it leaving nothing behind.

Used by the UI and deployment-topology tests (it was ``orchestration/ops/processes.py``, shipped
with the platform code though nothing but tests called it). Services started from tests (``dagster-webserver``, ``postgres``,
``mlflow server``, ``moto_server``) spawn children of their own: code servers,
run workers, gunicorn workers. Each service here runs in its own process group
(session), with SIGINT/SIGTERM reset to their defaults before ``exec`` (a
non-interactive shell hands them down *ignored*, see ``orchestration/ui.py``);
:meth:`Service.stop` sends SIGTERM to the group, waits a grace period, then
SIGKILLs whatever is left in the group and among the descendants it saw.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...), read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def group_members(pgid: int) -> set[int]:
    """Live processes whose process group is ``pgid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                out.add(int(entry.name))
    return out


def _reset_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@dataclass
class Service:
    """A running service: its leader process, its log, and every pid seen below it."""

    name: str
    process: subprocess.Popen
    log_path: Path
    seen: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def remember(self) -> set[int]:
        """Record the current descendants (so :meth:`stop` can check them too); returns them."""
        self.seen |= descendants(self.pid)
        return set(self.seen)

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready()`` until true; raise with the log tail if the service dies or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                self.remember()
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode} before {what}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {what} within {timeout:.0f} s:\n{self.log_tail()}")
            self.remember()
            time.sleep(0.5)

    def wait_http(self, url: str, timeout: float = 120.0) -> None:
        """Wait until ``url`` answers with a 2xx status."""

        def ok() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=3) as r:
                    return 200 <= r.status < 300
            except (OSError, urllib.error.HTTPError):
                return False

        self.wait_until(ok, timeout, f"answer on {url}")

    def stop(self, grace: float = 20.0) -> list[int]:
        """SIGTERM the group, SIGKILL what is left after ``grace`` s; returns pids still alive (none)."""
        self.remember()
        pgid = self.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (group_members(pgid) or any(alive(p) for p in self.seen)):
            self.process.poll()
            time.sleep(0.3)
        for pid in group_members(pgid) | {p for p in self.seen if alive(p)}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.3)
        return sorted(p for p in {self.pid} | self.seen if alive(p))


def start_service(name: str, cmd: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
                  cwd: Path | None = None, user: str | None = None) -> Service:
    """Start ``cmd`` in its own session with default signal handling, output to ``log_path``.

    ``user`` runs it as that user through ``runuser`` (PostgreSQL refuses to run as root).
    """
    if user is not None and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(cmd), env=dict(env) if env is not None else None, cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_reset_signals, start_new_session=True)
    return Service(name=name, process=proc, log_path=log_path)
