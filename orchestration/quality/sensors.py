"""Tell someone when a run fails, e.g. because a blocking quality check stopped it."""

import os

import dagster as dg

from orchestration.platform.notify import notify
from orchestration.resources.reports import Reports


@dg.run_failure_sensor(
    name="run_failure_notifier",
    monitor_all_code_locations=False,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=("Notifies on every failed run (a failed blocking asset check fails its run): a JSON line in "
                 "<CRIMEFUSION_HOME>/notifications/failures.jsonl and the log, plus a POST to "
                 "CRIMEFUSION_NOTIFY_WEBHOOK when set."),
)
def run_failure_notifier(context: dg.RunFailureSensorContext, reports: Reports):
    run = context.dagster_run
    failed_checks = []
    for record in context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    text = (f"crimefusion run {run.run_id} of job {run.job_name} failed"
            + (f"; failed checks: {', '.join(failed_checks)}" if failed_checks else "")
            + f": {context.failure_event.message or ''}")
    notify({"text": text, "run_id": run.run_id, "job": run.job_name, "failed_checks": failed_checks,
            "partition": run.tags.get("dagster/partition")},
           log_path=reports.notifications("failures"),
           webhook_url=os.environ.get("CRIMEFUSION_NOTIFY_WEBHOOK"))
