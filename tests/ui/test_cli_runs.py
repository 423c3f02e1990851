"""A ``crimefusion run`` run, seen in the real Dagster UI: under Jobs > ``crimefusion_all``, with its code location.

Runs the command (``tests/orchestration/cli/test_run_cli.py``'s tiny job, in
this process), then starts ``dagster-webserver`` with ``make ui``'s workspace
arguments (``orchestration.platform.launch.workspace_args``) on the same Dagster
home, loading the real definitions (the small New York feed only), and asks it,
through the GraphQL the UI's pages use, for the job's runs and the run's origin;
in Chromium (Playwright), where installed, the job's Runs tab shows the run.
Every process started is stopped at the end (checked).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.orchestration.cli.test_run_cli import run_cli
from tests.processes import alive, free_port, start_service

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

JOB_RUNS = """query($selector: PipelineSelector!) { pipelineOrError(params: $selector) { __typename
  ... on Pipeline { runs { runId status } } ... on PythonError { message } } }"""
RUN = """query($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { pipelineName
  repositoryOrigin { repositoryLocationName repositoryName } } } }"""


def _graphql(base: str, query: str, variables: dict) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = json.load(r)
    assert "errors" not in body, body
    return body["data"]


def test_the_ui_lists_the_cli_run_under_its_job(tmp_path, monkeypatch):
    from orchestration.platform.launch import CODE_LOCATION, workspace_args

    result, dagster_home = run_cli(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output[-3000:]
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home), CRIMEFUSION_SPECS=str(ROOT / "specs" / "nyc_shootings.yaml"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    web = start_service("dagster-webserver", [str(bindir / "dagster-webserver"), *workspace_args(),
                                              "-h", "127.0.0.1", "-p", str(port)],
                        log_path=tmp_path / "webserver.log", env=env, cwd=ROOT)
    try:
        web.wait_http(f"{base}/server_info", timeout=240)
        selector = {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__",
                    "pipelineName": "crimefusion_all"}
        deadline = time.monotonic() + 120
        while (job := _graphql(base, JOB_RUNS, {"selector": selector})["pipelineOrError"])["__typename"] != "Pipeline":
            assert time.monotonic() < deadline, f"{job}\n{web.log_tail()}"
            time.sleep(2)  # the code location may still be loading
        assert len(job["runs"]) == 1 and job["runs"][0]["status"] == "SUCCESS", job
        run_id = job["runs"][0]["runId"]
        run = _graphql(base, RUN, {"runId": run_id})["runOrError"]
        assert run["repositoryOrigin"] == {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__"}
        web.remember()

        if CHROMIUM.exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1600, "height": 1000})
                    page.goto(f"{base}/locations/{CODE_LOCATION}/jobs/crimefusion_all/runs",
                              wait_until="domcontentloaded")
                    page.get_by_text(run_id[:8]).first.wait_for(state="visible", timeout=60_000)
                finally:
                    browser.close()
        web.remember()
    finally:
        left = web.stop(grace=30)
    assert not left, f"processes left running: {left}\n{web.log_tail()}"
    assert not alive(web.pid)
