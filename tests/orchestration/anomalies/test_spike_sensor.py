"""``critical_spike_sensor`` announces each critical alert once, whatever re-materialises it.

Gold ``spike_alerts`` rows are written directly and its materialisations
reported to an ephemeral instance, as the hourly scoring (the same scoring day
re-materialised every hour) and the next day's scoring (the same windows still
critical) would leave them; the sensor is evaluated tick by tick and the runs
it requests are executed.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pyarrow as pa
import pytest

from jobs.anomalies.schemas import SPIKE_ALERTS
from orchestration.anomalies.sensors import critical_spike_sensor, notify_critical_spikes
from orchestration.resources.lakehouse import LocalLakehouse, sql_literal
from orchestration.resources.reports import Reports

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DAY = dt.date(2017, 10, 2)
NEXT = DAY + dt.timedelta(days=1)


def hour(h: int) -> dt.datetime:
    return dt.datetime(2017, 10, 2, tzinfo=dt.timezone.utc) + dt.timedelta(hours=h)


def score(lake: LocalLakehouse, day: dt.date, alerts: list[tuple[str, int, str]]) -> None:
    """Write scoring day ``day`` of gold spike_alerts: ``(series_key, hour, severity)`` per alerting window."""
    rows = [{"as_of_date": day, "feed": "atm_withdrawals", "freq": "hour", "series_key": key,
             "window_start": hour(h), "window_end": hour(h + 1), "observed": 30, "expected": 2.0, "lower": 0.0,
             "upper": 6.0, "p_value": 1e-9, "q_value": 1e-7, "dispersion": 1.0, "alert": True, "severity": sev}
            for key, h, sev in alerts]
    lake.replace_where("gold", "spike_alerts", pa.Table.from_pylist(rows, schema=SPIKE_ALERTS),
                       f"as_of_date = {sql_literal(day.isoformat())}", partition_by=["as_of_date"])


def materialised(instance: dg.DagsterInstance, day: dt.date, critical: int) -> None:
    """Record a materialisation of spike_alerts for ``day``, as the asset reports it."""
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "spike_alerts", partition=day.isoformat(), metadata={"critical": dg.MetadataValue.int(critical)}))


@pytest.fixture
def setup(tmp_path):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    resources = {"lakehouse": lake, "reports": Reports(home=str(tmp_path / "home"))}
    with dg.instance_for_test() as instance:
        yield lake, resources, instance, tmp_path / "home" / "notifications" / "anomalies.jsonl"


class Ticks:
    """Sensor evaluations that carry the cursor from one tick to the next, as the daemon does."""

    def __init__(self, instance, resources):
        self.instance, self.resources, self.cursor = instance, resources, None

    def __call__(self) -> list[dg.RunRequest]:
        ctx = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = critical_spike_sensor(ctx)
        self.cursor = ctx.cursor
        return [] if isinstance(result, dg.SkipReason) else list(result)


def execute(request: dg.RunRequest, resources: dict, instance) -> None:
    assert notify_critical_spikes.execute_in_process(run_config={**QUIET, **request.run_config},
                                                     resources=resources, instance=instance).success


def announced(log) -> list[tuple[str, str]]:
    return [(r["series_key"], r["window_start"]) for r in map(json.loads, log.read_text().splitlines())]


def test_a_day_rescored_after_its_run_reported_is_not_announced_again(setup):
    lake, resources, instance, log = setup
    tick = Ticks(instance, resources)
    score(lake, DAY, [("t1", 5, "critical"), ("t2", 7, "critical"), ("t3", 9, "warning")])
    materialised(instance, DAY, critical=2)
    [request] = tick()
    execute(request, resources, instance)
    assert announced(log) == [("t1", hour(5).isoformat()), ("t2", hour(7).isoformat())]

    materialised(instance, DAY, critical=2)  # the next hour's scoring of the same day: nothing new
    assert tick() == []
    materialised(instance, DAY, critical=2)  # a rescoring that skipped (inputs unchanged) repeats its metadata
    assert tick() == []


def test_the_same_day_materialised_twice_between_ticks_is_one_request(setup):
    lake, resources, instance, log = setup
    tick = Ticks(instance, resources)
    score(lake, DAY, [("t1", 5, "critical")])
    materialised(instance, DAY, critical=1)
    materialised(instance, DAY, critical=1)
    requests = tick()
    assert len(requests) == 1
    # the first run has not run yet when the day is scored again: its alerts are already announced
    materialised(instance, DAY, critical=1)
    assert tick() == []
    for request in requests:
        execute(request, resources, instance)
    assert announced(log) == [("t1", hour(5).isoformat())]


def test_the_next_day_announces_only_its_new_alerts(setup):
    lake, resources, instance, log = setup
    tick = Ticks(instance, resources)
    score(lake, DAY, [("t1", 5, "critical")])
    materialised(instance, DAY, critical=1)
    for request in tick():
        execute(request, resources, instance)
    score(lake, NEXT, [("t1", 5, "critical"), ("t4", 30, "critical")])  # t1 still critical the next day
    materialised(instance, NEXT, critical=2)
    [request] = tick()
    assert request.tags["crimefusion/critical"] == "1"
    execute(request, resources, instance)
    assert announced(log) == [("t1", hour(5).isoformat()), ("t4", hour(30).isoformat())]


def test_a_run_executed_again_writes_nothing_twice(setup):
    lake, resources, instance, log = setup
    score(lake, DAY, [("t1", 5, "critical")])
    materialised(instance, DAY, critical=1)
    [request] = Ticks(instance, resources)()
    execute(request, resources, instance)
    execute(request, resources, instance)  # re-executed from the UI
    assert announced(log) == [("t1", hour(5).isoformat())]


def test_no_critical_alert_is_a_skip(setup):
    lake, resources, instance, log = setup
    score(lake, DAY, [("t3", 9, "warning")])
    materialised(instance, DAY, critical=0)
    ctx = dg.build_sensor_context(instance=instance, resources=resources)
    assert isinstance(critical_spike_sensor(ctx), dg.SkipReason)
    assert not log.exists()


def test_a_cursor_from_before_alert_ids_still_reads_on_from_its_event(setup):
    lake, resources, instance, log = setup
    score(lake, DAY, [("t1", 5, "critical")])
    materialised(instance, DAY, critical=1)
    old = instance.fetch_materializations(dg.AssetKey("spike_alerts"), limit=100).cursor  # the former cursor
    ctx = dg.build_sensor_context(instance=instance, cursor=old, resources=resources)
    assert isinstance(critical_spike_sensor(ctx), dg.SkipReason)  # that materialisation was handled before
    materialised(instance, DAY, critical=1)
    ctx = dg.build_sensor_context(instance=instance, cursor=ctx.cursor, resources=resources)
    [request] = critical_spike_sensor(ctx)
    execute(request, resources, instance)
    assert json.loads(ctx.cursor)["pending"] == ["atm_withdrawals|t1|" + hour(5).isoformat()]
    ctx = dg.build_sensor_context(instance=instance, cursor=ctx.cursor, resources=resources)
    critical_spike_sensor(ctx)
    assert json.loads(ctx.cursor)["pending"] == []  # written: the file remembers it now
