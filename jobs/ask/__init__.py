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


def ask(question: str, catalogue: Catalogue, con) -> Answer:
    """Answer ``question`` from the lakehouse of ``catalogue`` through DuckDB connection ``con``."""
    if not question.strip():
        return declined(question, "the question is empty")
    try:
        plan = parse(question, catalogue)
    except Decline as exc:
        return declined(question, str(exc))
    return run_plan(plan, catalogue, con, question=question)
