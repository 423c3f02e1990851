"""A failed run (here: a failed blocking check) is notified in the log file and to a webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg

from orchestration.quality.sensors import run_failure_notifier
from orchestration.resources.reports import Reports


def test_failed_blocking_check_is_notified(tmp_path, monkeypatch):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setenv("CRIMEFUSION_NOTIFY_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")

    @dg.asset
    def guarded():
        return 1

    @dg.asset_check(asset=guarded, blocking=True)
    def always_fails():
        return dg.AssetCheckResult(passed=False)

    @dg.asset(deps=[guarded])
    def downstream():
        return 2

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([guarded, downstream, always_fails], instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(r.dagster_event for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE))
    context = dg.build_run_status_sensor_context(sensor_name="run_failure_notifier", dagster_instance=instance,
                                                 dagster_run=run, dagster_event=failure,
                                                 resources={"reports": Reports(home=str(tmp_path))}).for_run_failure()
    run_failure_notifier(context)
    server.server_close()

    line = json.loads((tmp_path / "notifications" / "failures.jsonl").read_text().splitlines()[-1])
    assert line["failed_checks"] == ["guarded:always_fails"]
    assert received and received[0]["run_id"] == result.run_id
