"""What the assistant's web page asks of the engine: a question or an edited plan in, an answer out.

The page (``page.html``, one self-contained file, no network) posts JSON to ``api/ask``
(``{"question": ...}``) or ``api/plan`` (``{"plan": {...}}``, the plan shown on the page,
edited). :func:`respond` turns either into the same JSON object ``crimefusion ask --json``
prints; the HTTP server around it is ``crimefusion ask --serve``. An edited plan goes through
the same validation as a parsed one: the page cannot make the engine run anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from jobs.ask import ask
from jobs.ask.catalogue import Catalogue
from jobs.ask.engine import declined, run_plan
from jobs.ask.plan import Plan, validation_reason

PAGE = Path(__file__).with_name("page.html")
#: the largest request body read (a question or a plan is a few hundred bytes)
MAX_BODY = 64 * 1024


def page() -> bytes:
    return PAGE.read_bytes()


def respond(path: str, body: bytes, catalogue: Catalogue, con, planner=None) -> tuple[int, dict]:
    """``(HTTP status, JSON object)`` for a POST of ``body`` to ``path``; ``planner``: a model writes the plans."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return 400, {"error": "the request body is not JSON"}
    if not isinstance(request, dict):
        return 400, {"error": "the request body must be a JSON object"}
    if path.rstrip("/").endswith("api/ask"):
        question = request.get("question")
        if not isinstance(question, str):
            return 400, {"error": "api/ask takes {\"question\": \"...\"}"}
        try:
            return 200, ask(question, catalogue, con, planner=planner).to_json()
        except RuntimeError as exc:  # the model's endpoint or runtime failed: the page shows why
            return 502, {"error": str(exc)}
    if path.rstrip("/").endswith("api/plan"):
        try:
            plan = Plan.model_validate(request.get("plan"))
        except ValidationError as exc:
            return 200, declined("(edited plan)", f"the plan is not valid: {validation_reason(exc)}").to_json()
        return 200, run_plan(plan, catalogue, con, question="(edited plan)").to_json()
    return 404, {"error": f"no such endpoint {path}"}
