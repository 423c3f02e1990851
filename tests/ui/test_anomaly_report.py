"""The anomaly report in a real browser: what an analyst must see, offline, without console errors.

The report is written from the tiny lake of ``tests/jobs/anomalies/test_reports.py`` (an ATM family with
planted spikes, district counts, phones and accounts), in Chicago time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.anomalies.families import FAMILIES, score_family, spike_alerts_table
from jobs.anomalies.reports import write_anomaly_report
from jobs.anomalies.spikes import SpikeParams
from orchestration.resources.lakehouse import LocalLakehouse
from tests.jobs.anomalies.test_reports import SCORING_DAY, daily_series, entity_rows, hourly_series
from tests.ui.test_asset_graph import ARTIFACTS
from tests.ui.test_maps import Watched

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rng = np.random.default_rng(7)
    family = {f.feed: f for f in FAMILIES}
    parts = [score_family(hourly_series(rng), family["atm_withdrawals"], "UTC", SpikeParams()),
             score_family(daily_series(rng), family["district_crimes"], "UTC", SpikeParams())]
    lake = LocalLakehouse(root=str(tmp_path_factory.mktemp("lake")))
    lake.replace_where("gold", "spike_alerts", spike_alerts_table(SCORING_DAY, parts),
                       f"as_of_date = '{SCORING_DAY}'", partition_by=["as_of_date"])
    lake.overwrite("gold", "entity_anomalies", entity_rows("phone", rng.uniform(0.35, 0.8, 300), pct=True))
    out = tmp_path_factory.mktemp("report")
    write_anomaly_report(lake, out, timezone="America/Chicago",
                         generated_at=pd.Timestamp("2025-06-10 14:05", tz="UTC"))
    return out / "index.html"


def test_report_reads_as_a_briefing(browser, report):
    w = Watched(browser, width=1280, height=900)
    page = w.page
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    title = page.locator("h1").inner_text()
    assert "data as of 2017-12-31 18:00 CST (America/Chicago)" in title  # the data's end, in local time
    body = page.locator("body").inner_text()
    assert "{'" not in body and "Glossary" in body and "q_value" in body and "upper" in body
    assert page.locator("table").count() >= 2  # the summary per feed and the alerts
    images = page.locator("img")
    assert images.count() > 0
    sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert all(done and width > 0 for done, width in sizes), sizes  # every plot drawn
    page.locator("#glossary").scroll_into_view_if_needed()
    assert page.locator("#glossary").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "anomaly-report.png"), full_page=True)
    assert not w.errors, w.errors
    assert not w.outside(), w.outside()  # offline: nothing fetched beyond the report's own files
    page.close()
