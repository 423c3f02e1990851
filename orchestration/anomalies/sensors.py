"""Notify critical spikes: a sensor on ``spike_alerts`` materialisations and the job it starts.

``critical_spike_sensor`` reads every new materialisation of ``spike_alerts``
and, for the scoring days whose metadata counts critical alerts, reads that
day's critical alerts from gold ``spike_alerts``. An alert is announced once:
its id (feed, series, window start) is left out when a run already reported
it (a line of ``<CRIMEFUSION_HOME>/notifications/anomalies.jsonl``) or when an
earlier tick requested a run for it that has not written it yet (the sensor's
cursor). So the hourly rescoring of a day, a rescoring that skipped (it repeats
its metadata), the same day materialised twice between ticks, and the next
day's scoring of a spike still critical request nothing; a new critical alert
gets one run of ``notify_critical_spikes`` that names it (run key: the day and
its alert ids). The job appends one JSON line per alert it is given, unless a
line of that alert is already there (a run executed again), and logs it as a
warning; a mail or chat hook would tail that file (or replace the op).

Cursor: JSON ``{"after": <event cursor>, "pending": [alert ids requested, not
yet in the file]}``; an id leaves ``pending`` when its line is written. A
requested run that fails keeps its ids pending: re-executing it announces them.
"""


import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.compute as pc
from pydantic import Field

from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports

#: ``Reports.notifications(NOTIFICATIONS)``: ``<CRIMEFUSION_HOME>/notifications/anomalies.jsonl``.
NOTIFICATIONS = "anomalies"
#: Requested alert ids the cursor keeps at most (an alert rescored away before its run writes it stays pending).
PENDING_LIMIT = 1000


def alert_id(feed: str, series: str, window_start: str) -> str:
    """The id of an alert: its feed, series and window start (ISO 8601), the same on every scoring day."""
    return f"{feed}|{series}|{window_start}"


def critical_alerts(lakehouse: Lakehouse, day: dt.date) -> list[dict]:
    """The critical alerts of scoring day ``day`` in gold ``spike_alerts``, most significant first, each with
    its ``id``."""
    if not lakehouse.exists("gold", "spike_alerts"):
        return []
    t = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "=", day)])
    t = t.filter(pc.and_(t["alert"], pc.equal(t["severity"], "critical")))
    rows = t.sort_by([("q_value", "ascending")]).to_pylist()
    for r in rows:
        r["window_start"] = pd.Timestamp(r["window_start"]).isoformat()
        r["id"] = alert_id(r["feed"], r["series_key"], r["window_start"])
    return rows


def notified(path: Path) -> set[str]:
    """The ids of the alerts the notification log ``path`` holds a line of."""
    if not path.exists():
        return set()
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {alert_id(r["feed"], r["series_key"], r["window_start"]) for r in rows}


def notify(lakehouse: Lakehouse, day: dt.date, path: Path, ids: list[str] | None = None) -> list[dict]:
    """Append the critical alerts of scoring day ``day`` (those of ``ids`` when given) not yet in ``path``;
    returns the lines written."""
    seen = notified(path)
    wanted = None if ids is None else set(ids)
    lines = []
    for r in critical_alerts(lakehouse, day):
        if r["id"] in seen or (wanted is not None and r["id"] not in wanted):
            continue
        start = r["window_start"]
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
    as_of_date: str = Field(description="Scoring day (YYYY-MM-DD) whose critical alerts to announce.")
    alert_ids: list[str] | None = Field(default=None, description=(
        "The alerts to announce (feed|series|window start), as critical_spike_sensor requests them; "
        "empty: every critical alert of the day not announced before."))


@dg.op(description="Append the scoring day's critical spikes not notified before to the notification log.")
def notify_critical_alerts(context: dg.OpExecutionContext, config: NotifyConfig, lakehouse: Lakehouse,
                           reports: Reports) -> None:
    path = reports.notifications(NOTIFICATIONS)
    lines = notify(lakehouse, dt.date.fromisoformat(config.as_of_date), path, config.alert_ids)
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
    description=("On new spike_alerts materialisations with critical alerts, runs notify_critical_spikes for the "
                 "alerts no run has announced or been asked to announce (each alert once)."),
)
def critical_spike_sensor(context: dg.SensorEvaluationContext, lakehouse: Lakehouse, reports: Reports):
    state = _state(context.cursor)
    found = context.instance.fetch_materializations(dg.AssetKey("spike_alerts"), limit=100, cursor=state["after"],
                                                    ascending=True)
    days = sorted({r.partition_key for r in found.records if r.partition_key and _critical(r)})
    done = notified(reports.notifications(NOTIFICATIONS))
    pending = [i for i in state["pending"] if i not in done]  # requested; their run has not written them yet
    requests = []
    for day in days:
        new = [r["id"] for r in critical_alerts(lakehouse, dt.date.fromisoformat(day))
               if r["id"] not in done and r["id"] not in pending]
        if not new:
            continue
        pending += new
        digest = hashlib.sha256("\n".join(new).encode()).hexdigest()[:16]
        requests.append(dg.RunRequest(
            run_key=f"spike_alerts:{day}:{digest}",
            run_config={"ops": {"notify_critical_alerts": {"config": {"as_of_date": day, "alert_ids": new}}}},
            tags={"crimefusion/as_of_date": day, "crimefusion/critical": str(len(new))},
        ))
    context.update_cursor(json.dumps({"after": found.cursor or state["after"], "pending": pending[-PENDING_LIMIT:]}))
    if not requests:
        return dg.SkipReason(f"{len(found.records)} new spike_alerts materialisation(s), no critical alert "
                             f"that is not announced already")
    return requests


def _critical(record) -> int:
    """The critical alerts a spike_alerts materialisation counts (its ``critical`` metadata)."""
    meta = record.asset_materialization.metadata
    return meta["critical"].value if "critical" in meta else 0


def _state(cursor: str | None) -> dict:
    """The sensor's cursor; one written before alert ids were kept is the event cursor alone."""
    if not cursor:
        return {"after": None, "pending": []}
    if not cursor.startswith("{"):
        return {"after": cursor, "pending": []}
    return json.loads(cursor)


#: Sensors of this domain (orchestration/anomalies/definitions.py; the job comes with its sensor).
SENSORS = [critical_spike_sensor]
