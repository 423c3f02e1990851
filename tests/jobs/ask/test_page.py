"""The assistant's page: its JSON endpoints, and the page itself in a real browser (offline, no console errors)."""

from __future__ import annotations

import json
import threading

import pytest

from jobs.ask.web import respond
from tests.ui.test_asset_graph import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _browser_or_skip


def _post(path: str, body: dict, catalogue, con) -> tuple[int, dict]:
    return respond(path, json.dumps(body).encode(), catalogue, con)


def test_question_and_edited_plan(catalogue, con):
    status, out = _post("/api/ask", {"question": "top 2 location types"}, catalogue, con)
    assert status == 200 and len(out["rows"]) == 2 and out["plan"]["limit"] == 2
    plan = {**out["plan"], "limit": 3}
    status, edited = _post("/api/plan", {"plan": plan}, catalogue, con)
    assert status == 200 and len(edited["rows"]) == 3 and edited["rows"][:2] == out["rows"]


@pytest.mark.parametrize("body,reason", [
    ({"plan": {"table": "incidents", "measure": {"kind": "median"}}}, "the plan is not valid"),
    ({"plan": {"table": "incidents", "filters": [{"column": "mo_text", "value": "x"}]}}, "pseudonymised"),
    ({"plan": {"table": "incidents", "filters": [{"column": "category", "value": "x'); DROP"}]}}, "no data for"),
])
def test_an_edited_plan_is_validated_like_a_parsed_one(catalogue, con, body, reason):
    status, out = _post("/api/plan", body, catalogue, con)
    assert status == 200 and out["declined"] and out["rows"] == [] and reason in out["reason"]


def test_bad_requests(catalogue, con):
    assert respond("/api/ask", b"not json", catalogue, con)[0] == 400
    assert respond("/api/ask", b"[1]", catalogue, con)[0] == 400
    assert _post("/api/sql", {"sql": "SELECT 1"}, catalogue, con)[0] == 404  # there is no free-SQL endpoint


@pytest.fixture(scope="module")
def server(catalogue, con):
    from orchestration.cli.ask import make_server

    srv = make_server(catalogue, con, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


@pytest.mark.slow
def test_page_in_a_browser(server):
    sync_playwright, expect = _browser_or_skip()
    errors, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(20_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(server)
            page.wait_for_selector("body[data-ready='1']")
            page.fill("#question", "how many thefts in kobe by district")
            page.click("#ask")
            expect(page.locator("#rows tbody tr")).to_have_count(2)
            expect(page.locator("#answer")).to_contain_text("category = theft")
            assert "delta_scan(" in page.locator("#sql").inner_text()
            # the plan is shown and editable: limit the groups to one and run it again
            plan = json.loads(page.locator("#plan").input_value())
            assert plan["group_by"] == ["district"]
            page.fill("#plan", json.dumps({**plan, "limit": 1}))
            page.click("#run-plan")
            expect(page.locator("#rows tbody tr")).to_have_count(1)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ask-page-answer.png"), full_page=True)
            # a question the data cannot answer: the reason, no table
            page.fill("#question", "how many drone smuggling cases")
            page.click("#ask")
            expect(page.locator("#answer")).to_contain_text("no data for 'drone smuggling'")
            expect(page.locator("#rows")).to_have_count(0)
            assert page.locator("#plan").input_value() == ""  # no plan stands beside a declined question
            page.screenshot(path=str(ARTIFACTS / "ask-page.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(u.startswith(server) for u in requests), [u for u in requests if not u.startswith(server)]
