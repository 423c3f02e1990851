"""The Dagster UI, driven by a real browser: lineage drawn, a materialisation launched, checks shown.

Starts ``dagster-webserver -m orchestration.definitions`` on 127.0.0.1 (a free
port) against a temporary Dagster home and lakehouse with only the small New
York feed (``CRIMEFUSION_SYNTHETIC=false``), lands its bronze partition with
``dagster asset materialize``, then, in Debian's Chromium through Playwright:
checks the bronze -> silver -> gold lineage is drawn (an asset's upstream
lineage, and the global lineage with groups, which are the lake's layers,
collapsed), materialises
``police_districts``, ``incidents`` and ``district_daily_counts`` from their asset pages, waits for the
runs to succeed, and opens the incidents asset's Checks tab. Screenshots go to
``test-artifacts/ui/``; with ``CRIMEFUSION_UPDATE_DOCS_IMG=1`` the lineage
screenshot also replaces ``docs/img/asset-graph.png``. Every process started is
stopped at the end (checked).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import alive, free_port, start_service

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
DOCS_IMG = ROOT / "docs" / "img" / "asset-graph.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PARTITION = "2019-01-01"


def _browser_or_skip():
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("no /usr/bin/chromium (apt-get install chromium, or bash infra/setup-system.sh); "
                    "CI installs it and runs this test")
    # in CI a missing browser or package is a failure, not a skip
    from playwright.sync_api import expect, sync_playwright

    return sync_playwright, expect


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as r:
        body = json.load(r)
    assert "errors" not in body, body
    return body["data"]


RUNS = """query($limit: Int) { runsOrError(limit: $limit) { __typename ... on Runs { results {
  runId status assetSelection { path } } } } }"""


def _runs(base: str) -> list[dict]:
    return _graphql(base, RUNS, {"limit": 20})["runsOrError"]["results"]


def _wait_for_run(base: str, asset: str, known: set[str], timeout: float = 240.0) -> dict:
    """The first run not in ``known`` that selects ``asset``, once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in _runs(base):
            if run["runId"] in known or [asset] not in [a["path"] for a in run["assetSelection"] or []]:
                continue
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
            if run["status"] == "QUEUED" and time.monotonic() > deadline - timeout + 60:
                raise AssertionError(f"run {run['runId']} still queued after 60 s: is a run coordinator configured?")
        time.sleep(1)
    raise AssertionError(f"no finished run materialising {asset} within {timeout:.0f} s; runs: {_runs(base)}")


FAILURES = """query($runId: ID!) { logsForRun(runId: $runId) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { message stepKey }
  ... on ExecutionStepFailureEvent { error { message stack } }
  ... on RunFailureEvent { error { message } } } } } }"""


def _why(base: str, run: dict) -> str:
    """The failure messages of a run, for the assertion message."""
    if run["status"] == "SUCCESS":
        return ""
    events = _graphql(base, FAILURES, {"runId": run["runId"]})["logsForRun"].get("events", [])
    lines = []
    for e in events:
        if "Failure" in e["__typename"] or e.get("error"):
            error = e.get("error") or {}
            lines.append(f"{e.get('stepKey')}: {e.get('message')} {error.get('message', '')} "
                         f"{''.join(error.get('stack') or [])}")
    return "\n".join(lines)[-8000:]


def _dismiss_popups(page) -> None:
    # a fresh Dagster instance greets a new browser with a newsletter dialog
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=3000)
        skip.click()
    except Exception:  # noqa: BLE001 - the dialog is shown once per instance, not always
        pass


def _materialize(page, base: str, asset: str) -> dict:
    known = {r["runId"] for r in _runs(base)}
    page.goto(f"{base}/assets/{asset}", wait_until="domcontentloaded")
    _dismiss_popups(page)
    page.locator("button").filter(has_text=re.compile(r"^Materialize$")).first.click(timeout=60_000)
    # multi-assets that cannot be subset ask to confirm their other outputs (incidents + incidents_rejects)
    confirm = page.get_by_role("button", name="Confirm")
    try:
        confirm.wait_for(state="visible", timeout=3000)
        confirm.click()
    except Exception:  # noqa: BLE001 - single assets launch at once
        pass
    return _wait_for_run(base, asset, known)


def test_asset_graph_lineage_materialise_and_checks(tmp_path):
    sync_playwright, expect = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    # runs launched from the UI start at once: no daemon needed for this test (the default queue waits for one)
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    env = dict(
        os.environ,
        DAGSTER_HOME=str(dagster_home),
        CRIMEFUSION_HOME=str(tmp_path / "home"),
        CRIMEFUSION_LAKE=str(tmp_path / "lake"),
        CRIMEFUSION_LANDING=str(tmp_path / "landing"),
        CRIMEFUSION_SYNTHETIC="false",
        CRIMEFUSION_SPECS=str(ROOT / "specs" / "nyc_shootings.yaml"),  # 967 rows: small and real
        CRIMEFUSION_DEPLOYMENT="local",
        DAGSTER_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        GX_ANALYTICS_ENABLED="false",
    )
    bindir = Path(sys.executable).parent
    landed = subprocess.run([str(bindir / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
                             "--select", "raw_incidents", "--partition", PARTITION],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert landed.returncode == 0, landed.stdout[-3000:] + landed.stderr[-3000:]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_service("dagster-webserver", [str(bindir / "dagster-webserver"), "-m", "orchestration.definitions",
                                              "-h", "127.0.0.1", "-p", str(port)],
                        log_path=tmp_path / "webserver.log", env=env, cwd=ROOT)
    try:
        web.wait_http(f"{base}/server_info", timeout=180)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(60_000)

                # 1. lineage: bronze -> silver -> gold drawn as nodes joined by edges, in groups named as the
                # lake's layers (orchestration/platform/lineage.py)
                lineage = f"{base}/assets/district_daily_counts?view=lineage&lineageScope=upstream&lineageDepth=3"
                page.goto(lineage, wait_until="domcontentloaded")
                _dismiss_popups(page)
                nodes, groups = {}, {}
                for name in ("raw_incidents", "incidents", "district_daily_counts", "police_districts"):
                    node = page.locator("foreignObject").get_by_text(name, exact=True).first
                    node.wait_for(state="visible")
                    nodes[name] = node.bounding_box()
                for group in ("bronze", "reference", "silver", "gold"):
                    label = page.locator("foreignObject").get_by_text(group, exact=True).first
                    assert label.is_visible(), group
                    groups[group] = label.bounding_box()
                # drawn left to right in dependency order, assets and the layers that hold them
                assert nodes["raw_incidents"]["x"] < nodes["incidents"]["x"] < nodes["district_daily_counts"]["x"]
                assert nodes["police_districts"]["x"] < nodes["incidents"]["x"]
                assert groups["bronze"]["x"] < groups["silver"]["x"] < groups["gold"]["x"]
                assert groups["reference"]["x"] < groups["silver"]["x"]
                assert page.locator("svg path").count() >= 3, "lineage edges are not drawn"
                page.screenshot(path=str(ARTIFACTS / "lineage-before.png"))
                # the global lineage, groups collapsed, reads the same way
                page.goto(f"{base}/asset-groups", wait_until="domcontentloaded")
                collapsed = {}
                for group in ("bronze", "silver", "gold"):
                    label = page.locator("foreignObject").get_by_text(group, exact=True).first
                    label.wait_for(state="visible")
                    collapsed[group] = label.bounding_box()
                assert collapsed["bronze"]["x"] < collapsed["silver"]["x"] < collapsed["gold"]["x"]
                page.screenshot(path=str(ARTIFACTS / "lineage-collapsed.png"))
                web.remember()

                # 2. materialise police_districts from its page and wait for the run
                run = _materialize(page, base, "police_districts")
                assert run["status"] == "SUCCESS", _why(base, run)
                web.remember()

                # 3. materialise incidents (runs its blocking checks) and open the Checks tab
                run = _materialize(page, base, "incidents")
                assert run["status"] == "SUCCESS", _why(base, run)
                page.goto(f"{base}/assets/incidents?view=checks", wait_until="domcontentloaded")
                for check in ("incidents_quality", "incidents_reconcile"):
                    page.get_by_text(check, exact=True).first.wait_for(state="visible")
                assert page.get_by_text("Succeeded", exact=True).count() >= 2
                page.get_by_text("Passed", exact=True).first.wait_for(state="visible")
                page.screenshot(path=str(ARTIFACTS / "incidents-checks.png"))

                # 4. the gold table, then the lineage again, all materialised: the README image
                run = _materialize(page, base, "district_daily_counts")
                assert run["status"] == "SUCCESS", _why(base, run)
                page.goto(lineage, wait_until="domcontentloaded")
                page.get_by_text("2 / 2 Passed").first.wait_for(state="visible")
                graph = page.locator("foreignObject")
                expect(graph.get_by_text("Materialized", exact=True)).to_have_count(3, timeout=60_000)  # reference, silver, gold
                page.get_by_text("Loading…").first.wait_for(state="hidden")
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))
                if os.environ.get("CRIMEFUSION_UPDATE_DOCS_IMG") == "1":
                    shutil.copyfile(ARTIFACTS / "asset-graph.png", DOCS_IMG)
            finally:
                browser.close()
        web.remember()
    finally:
        left = web.stop(grace=30)
    assert not left, f"processes left running: {left}\n{web.log_tail()}"
    assert not alive(web.pid)
