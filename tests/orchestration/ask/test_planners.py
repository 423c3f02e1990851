"""A language model writes the plan: a GGUF model through llama.cpp, and the same model behind an
OpenAI-compatible server (llama-cpp-python's), both on the tiny GGUF model the tests write themselves.

The tiny model's preferences are fixed (tests/jobs/ask/tiny_gguf.py): under the plan's grammar it
writes "count all incidents", or, built to refuse, a refusal. So the answer is known in advance and
checked against the hand-made lakehouse, not just "some JSON came back".
"""

from __future__ import annotations

import json
import sys

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("llama_cpp")

from jobs.ask import ask  # noqa: E402
from orchestration.ask.planners import (  # noqa: E402
    LlamaCppPlanner, OpenAIPlanner, PlannerError, make_planner,
)
from tests.jobs.ask.tiny_gguf import REFUSES, write_tiny_gguf  # noqa: E402
from tests.jobs.ask.tiny_lake import local_frame, write_tiny_lake  # noqa: E402
from tests.processes import free_port, start_service  # noqa: E402

N_INCIDENTS = len(local_frame())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    return {"plans": write_tiny_gguf(folder / "tiny-plans.gguf"),
            "refuses": write_tiny_gguf(folder / "tiny-refuses.gguf", prefer=REFUSES)}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return write_tiny_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def catalogue(lake):
    from jobs.ask import open_catalogue
    from orchestration.platform.bi import connect

    con = connect(extensions=("delta",))
    yield open_catalogue(lake, con), con
    con.close()


def test_llama_cpp_writes_a_plan_that_is_checked_and_run(models, catalogue):
    cat, con = catalogue
    out = ask("how many incidents are there?", cat, con, planner=LlamaCppPlanner(models["plans"], n_ctx=16384))
    assert not out.declined, out.answer
    assert out.rows == [[N_INCIDENTS]] and out.plan["table"] == "incidents"
    assert out.planner["engine"] == "llama.cpp" and out.planner["model"] == "tiny-plans.gguf"
    assert out.planner["finish_reason"] == "stop" and out.planner["prompt_tokens"] > 0
    assert "delta_scan(" in out.sql and out.to_json()["query"]["planner"] == out.planner


def test_a_refusal_is_declined_without_a_figure(models, catalogue):
    cat, con = catalogue
    out = ask("how many drones were smuggled?", cat, con, planner=LlamaCppPlanner(models["refuses"], n_ctx=16384))
    assert out.declined and out.rows == [] and out.sql is None
    assert "the model found no table that answers it" in out.answer
    assert json.loads(out.planner["output"]) == {"refusal": ""}


def test_a_prompt_larger_than_the_context_is_a_clear_error(models, catalogue):
    cat, con = catalogue
    with pytest.raises(PlannerError, match="context is 512 tokens"):
        ask("how many incidents?", cat, con, planner=LlamaCppPlanner(models["plans"], n_ctx=512))


def test_an_openai_compatible_server_plans_under_the_schema(models, catalogue, tmp_path):
    """llama-cpp-python's server refuses OpenAI's ``json_schema`` form (422) and takes ``json_object``."""
    cat, con = catalogue
    port = free_port()
    server = start_service("llama-server", [sys.executable, "-m", "llama_cpp.server", "--model",
                                            str(models["plans"]), "--model_alias", "tiny", "--n_ctx", "16384",
                                            "--host", "127.0.0.1", "--port", str(port)],
                           log_path=tmp_path / "server.log")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/v1/models", timeout=120)
        planner = OpenAIPlanner(f"http://127.0.0.1:{port}/v1", "tiny")
        out = ask("how many incidents are there?", cat, con, planner=planner)
        assert not out.declined, (out.answer, server.log_tail())
        assert out.rows == [[N_INCIDENTS]]
        assert out.planner["engine"] == "openai-compatible" and out.planner["response_format"] == "json_object"
        again = ask("how many incidents are there?", cat, con, planner=planner)  # the form is remembered
        assert again.rows == [[N_INCIDENTS]] and planner.style == "json_object"
    finally:
        server.stop()


def test_an_endpoint_that_does_not_answer_is_a_planner_error(catalogue):
    cat, con = catalogue
    planner = OpenAIPlanner(f"http://127.0.0.1:{free_port()}/v1", "any", timeout_s=5)
    with pytest.raises(PlannerError, match="does not answer"):
        ask("how many incidents?", cat, con, planner=planner)


@pytest.mark.parametrize("engine, kwargs, error", [
    ("llama-cpp", {}, "needs --model FILE.gguf"),
    ("openai", {"model": "m"}, "needs --endpoint URL and --model NAME"),
    ("openai", {"model": "m", "endpoint": "ftp://x"}, "must be an http"),
    ("gpt", {}, "unknown engine"),
    ("auto", {"model": "/nowhere/model.gguf"}, "no GGUF model file at /nowhere/model.gguf"),
])
def test_planner_options_that_cannot_work_say_why(engine, kwargs, error):
    with pytest.raises(PlannerError, match=error):
        make_planner(engine, **kwargs)


def test_auto_is_the_rules_without_a_model():
    assert make_planner("auto") is None and make_planner("rules", model="x.gguf") is None


def test_a_file_that_is_not_a_model_is_a_planner_error(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("not a model")
    with pytest.raises(PlannerError, match="notes.gguf: llama.cpp cannot load it"):
        LlamaCppPlanner(bad)


def test_cli_with_a_model_from_the_settings(models, lake, monkeypatch):
    from orchestration.cli.ask import ask as ask_command

    app = typer.Typer()
    app.command()(ask_command)
    monkeypatch.setenv("CRIMEFUSION_ASK_MODEL", str(models["plans"]))
    result = CliRunner().invoke(app, ["how many incidents?", "--lake", str(lake), "--json", "--n-ctx", "16384"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["rows"] == [[N_INCIDENTS]] and out["query"]["planner"]["engine"] == "llama.cpp"
    missing = CliRunner().invoke(app, ["how many incidents?", "--lake", str(lake), "--model", "/nowhere.gguf"])
    assert missing.exit_code == 2 and "error: no GGUF model file at /nowhere.gguf" in missing.output
    assert "Traceback" not in missing.output


@pytest.mark.slow
def test_the_page_says_a_model_wrote_the_plan(models, catalogue):
    """``crimefusion ask --serve --model ...`` in a real browser: the model's plan, its answer, who wrote it."""
    import threading

    from orchestration.cli.ask import make_server
    from tests.ui.test_asset_graph import CHROMIUM, CHROMIUM_ARGS, _browser_or_skip

    cat, con = catalogue
    srv = make_server(cat, con, port=0, planner=LlamaCppPlanner(models["plans"], n_ctx=16384))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sync_playwright, expect = _browser_or_skip()
    errors = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{srv.server_address[1]}/")
                page.wait_for_selector("body[data-ready='1']")
                page.fill("#question", "how many incidents are there?")
                page.click("#ask")
                expect(page.locator("#rows tbody tr")).to_have_count(1)
                expect(page.locator("#rows tbody td").first).to_have_text(f"{N_INCIDENTS:,}")
                expect(page.locator("#sources")).to_contain_text("plan written by llama.cpp tiny-plans.gguf")
                assert json.loads(page.locator("#plan").input_value())["table"] == "incidents"
            finally:
                browser.close()
    finally:
        srv.shutdown()
        srv.server_close()
    assert errors == []
