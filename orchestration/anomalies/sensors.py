"""Notify critical spikes: a sensor on ``spike_alerts`` materialisations and the job it starts.

``critical_spike_sensor`` reads every new materialisation of ``spike_alerts``
(cursor: the event storage id) and, for each one whose metadata counts
critical alerts, requests a run of ``notify_critical_spikes`` for that scoring
day (run key: the event, so a materialisation is notified once). The job
appends one JSON line per critical alert not notified before to
``<CRIMEFUSION_HOME>/notifications/anomalies.jsonl`` and logs it as a warning;
a mail or chat hook would tail that file (or replace the op).
"""


import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.compute as pc

from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports

#: ``Reports.notifications(NOTIFICATIONS)``: ``<CRIMEFUSION_HOME>/notifications/anomalies.jsonl``.
NOTIFICATIONS = "anomalies"


def _key(feed: str, series: str, window_start: str) -> str:
    return f"{feed}|{series}|{window_start}"


def notify(lakehouse: Lakehouse, day: dt.date, path: Path) -> list[dict]:
    """Append the critical alerts of scoring day ``day`` not yet in ``path``; returns the lines written."""
    if not lakehouse.exists("gold", "spike_alerts"):
        return []
    t = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "=", day)])
    t = t.filter(pc.and_(t["alert"], pc.equal(t["severity"], "critical")))
    seen = set()
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                seen.add(_key(r["feed"], r["series_key"], r["window_start"]))
    lines = []
    for r in t.sort_by([("q_value", "ascending")]).to_pylist():
        start = pd.Timestamp(r["window_start"]).isoformat()
        if _key(r["feed"], r["series_key"], start) in seen:
            continue
        lines.append({"notified_at": pd.Timestamp.now(tz="UTC").isoformat(), "as_of_date": day.isoformat(),
                      "severity": "critical", "feed": r["feed"], "series_key": r["series_key"],
                      "window_start": start, "window_end": pd.Timestamp(r["window_end"]).isoformat(),
                      "observed": int(r["observed"]), "expected": round(float(r["expected"]), 3),
                      "q_value": float(r["q_value"])})
    if lines:
        with path.open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line) + "\n")
    return lines


class NotifyConfig(dg.Config):
    as_of_date: str


@dg.op(description="Append the scoring day's critical spikes not notified before to the notification log.")
def notify_critical_alerts(context: dg.OpExecutionContext, config: NotifyConfig, lakehouse: Lakehouse,
                           reports: Reports) -> None:
    path = reports.notifications(NOTIFICATIONS)
    lines = notify(lakehouse, dt.date.fromisoformat(config.as_of_date), path)
    for r in lines:
        context.log.warning(f"CRITICAL spike {r['feed']} {r['series_key']} at {r['window_start']}: "
                            f"{r['observed']} observed vs {r['expected']:.1f} expected (q {r['q_value']:.1e})")
    context.log.info(f"{len(lines)} new critical alert(s) written to {path}")


@dg.job(name="notify_critical_spikes", description="Notify the critical spikes of one scoring day (started by critical_spike_sensor).")
def notify_critical_spikes():
    notify_critical_alerts()


@dg.sensor(
    name="critical_spike_sensor",
    job=notify_critical_spikes,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On each new spike_alerts materialisation with critical alerts, runs notify_critical_spikes for its day.",
)
def critical_spike_sensor(context: dg.SensorEvaluationContext):
    found = context.instance.fetch_materializations(dg.AssetKey("spike_alerts"), limit=100, cursor=context.cursor,
                                                    ascending=True)
    requests = []
    for record in found.records:
        meta = record.asset_materialization.metadata
        critical = meta["critical"].value if "critical" in meta else 0
        if critical and record.partition_key:
            requests.append(dg.RunRequest(
                run_key=f"spike_alerts:{record.storage_id}",
                run_config={"ops": {"notify_critical_alerts": {"config": {"as_of_date": record.partition_key}}}},
                tags={"crimefusion/as_of_date": record.partition_key, "crimefusion/critical": str(critical)},
            ))
    if found.cursor:
        context.update_cursor(found.cursor)
    if not requests:
        return dg.SkipReason(f"{len(found.records)} new spike_alerts materialisation(s), none with critical alerts")
    return requests


#: Sensors of this domain (orchestration/anomalies/definitions.py; the job comes with its sensor).
SENSORS = [critical_spike_sensor]
