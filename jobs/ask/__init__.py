"""The analyst assistant: plain-language questions answered by queries over the lakehouse.

:func:`ask` reads a question into a query plan (:mod:`jobs.ask.parser`), checks the plan
against the lakehouse catalogue (:mod:`jobs.ask.plan`, :mod:`jobs.ask.catalogue`) and runs
it with DuckDB over the Delta tables (:mod:`jobs.ask.engine`). A question the data cannot
answer comes back declined, with the reason, never with a figure.
"""

from __future__ import annotations

from jobs.ask.catalogue import Catalogue, open_catalogue
from jobs.ask.engine import Answer, declined, run_plan
from jobs.ask.parser import Decline, parse
from jobs.ask.plan import Plan

__all__ = ["Answer", "Catalogue", "Plan", "ask", "open_catalogue", "run_plan"]


def ask(question: str, catalogue: Catalogue, con, planner=None) -> Answer:
    """Answer ``question`` from the lakehouse of ``catalogue`` through DuckDB connection ``con``.

    ``planner``: a language model that writes the plan instead of the rule-based parser
    (``orchestration.ask.planners``: anything with ``draft(question, catalogue)``). Its plan
    is checked like any other; a refusal or an invalid plan is declined, with what it wrote.
    """
    if not question.strip():
        return declined(question, "the question is empty")
    if planner is not None:
        return _ask_model(question, catalogue, con, planner)
    try:
        plan = parse(question, catalogue)
    except Decline as exc:
        return declined(question, str(exc))
    return run_plan(plan, catalogue, con, question=question)


def _ask_model(question: str, catalogue: Catalogue, con, planner) -> Answer:
    from jobs.ask.plan import PlanError
    from jobs.ask.schema import ModelRefused, read_plan

    drafted = planner.draft(question, catalogue)
    try:
        out = run_plan(read_plan(drafted.text), catalogue, con, question=question)
    except ModelRefused as exc:
        out = declined(question, f"the model found no table that answers it ({exc})")
    except PlanError as exc:
        out = declined(question, str(exc))
    out.planner = drafted.info | ({"output": drafted.text[:2000]} if out.declined else {})
    return out
