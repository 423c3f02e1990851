"""``make ui``: the Dagster UI on 127.0.0.1, stopped cleanly by Ctrl-C or SIGTERM.

``dagster dev`` started from a non-interactive shell inherits SIGINT as
*ignored*, and Python then never installs its KeyboardInterrupt handler, so
Ctrl-C and ``kill`` do nothing and its webserver and daemon outlive it. This
launcher resets SIGINT/SIGTERM to their defaults before ``exec``, runs
``dagster dev`` in its own process group, forwards the first signal to that
group and, if anything is still alive after a grace period, kills the group:
no orphan processes remain.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from orchestration.settings import load_settings
from orchestration.home import prepare_environment
from orchestration.platform.launch import workspace_args


def _reset_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start the Dagster UI for crimefusion.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CRIMEFUSION_UI_PORT", "3000")))
    parser.add_argument("--grace", type=float, default=15.0, help="seconds to wait for a clean stop")
    args = parser.parse_args(argv)

    prepare_environment(load_settings())
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    # workspace.yaml: the code location `crimefusion`, whose name `crimefusion run` records in its runs
    cmd = [dagster, "dev", *workspace_args(), "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI: http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    child = subprocess.Popen(cmd, preexec_fn=_reset_signals, start_new_session=True)

    stopping = {"signal": None}

    def forward(signum, _frame):
        if stopping["signal"] is None:
            stopping["signal"] = signum
            try:
                os.killpg(child.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while child.poll() is None and stopping["signal"] is None:
        time.sleep(0.2)
    deadline = time.time() + args.grace
    while child.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    _kill_group(child.pid)
    child.wait()
    return 0 if stopping["signal"] is not None else (child.returncode or 0)


def _kill_group(pgid: int) -> None:
    """SIGKILL whatever is left in the UI's process group (webserver, daemon, code servers)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
