"""Delta commits that lose a race to another writer: which errors those are, and how to retry them.

Dagster-free, so both the Lakehouse resource (orchestration/resources/lakehouse.py)
and Spark mode's driver-side commit (jobs/spark/delta.py) use the same rule.

delta-rs commits optimistically: a writer reads a snapshot, writes its files and
commits the next log version; if another writer committed first, delta-rs checks
whether the two transactions truly conflict. Blind appends never do (delta-rs
re-tries them itself); a create, a predicate write or a merge whose read set the
rival touched raises ``deltalake.exceptions.CommitFailedError`` and commits
nothing. Every lakehouse write is defined by its predicate or keys, not by the
snapshot it read, so running it again from a fresh snapshot is correct.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class CommitConflictError(RuntimeError):
    """A write lost every attempt to concurrent writers of the same table; nothing of it was committed."""

    def __init__(self, table: str, operation: str, attempts: int, last: BaseException):
        self.table, self.operation, self.attempts = table, operation, attempts
        super().__init__(
            f"lakehouse table {table}: {operation} lost {attempts} commit attempts in a row to concurrent "
            f"writers (last: {type(last).__name__}: {str(last).splitlines()[0] if str(last) else ''}); nothing "
            f"of this write was committed. Run it again, or serialise the writers of {table} (Dagster "
            f"concurrency pools)"
        )


#: Messages of errors that mean "another writer committed first" where delta-rs raises a plain
#: ``DeltaError``: our conflict-checked create (``mode="error"``) finding the table a rival created.
#: (``write_deltalake`` says the first, ``create_table_with_add_actions`` the second.)
_RACE_MESSAGES = ("A table already exists at", "A Delta Lake table already exists at that location")


def is_commit_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` means a concurrent writer committed first (re-read and retry), not a real error.

    deltalake 1.6 raises ``deltalake.exceptions.CommitFailedError`` for a lost
    race ("Metadata changed since last commit", "Protocol changed since last
    commit", "a concurrent transaction added new data", "...deleted the same
    data"), and a plain ``DeltaError`` "A table already exists" when a create
    finds the table a rival just created. ``SchemaMismatchError``,
    ``DeltaProtocolError`` and ``TableNotFoundError`` are real errors.
    """
    from deltalake.exceptions import CommitFailedError, DeltaError

    if isinstance(exc, CommitFailedError):
        return True
    return type(exc) is DeltaError and any(m in str(exc) for m in _RACE_MESSAGES)


@dataclass(frozen=True)
class CommitRetry:
    """Bounded exponential backoff with jitter for commits that lose a race.

    Attempt ``n`` (1-based) that loses sleeps a uniform draw from
    ``[d/2, d]`` with ``d = min(max_delay_s, base_delay_s * 2**(n-1))``
    ("equal jitter": rivals that collided spread apart, yet each waits at least
    half its step). Defaults: 10 attempts, 0.05 s doubling to at most 5 s:
    8-16 s of waiting in all before a write gives up.

    Notes
    -----
    Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015.
    """

    attempts: int = 10
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        d = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return rng.uniform(d / 2, d)

    def run(self, fn: Callable[[], T], *, table: str, operation: str, rng: random.Random | None = None,
            sleep: Callable[[float], None] = time.sleep) -> T:
        """``fn()``, called again after each lost race; :class:`CommitConflictError` after the last."""
        if self.attempts < 1:
            raise ValueError(f"commit attempts must be at least 1, got {self.attempts}")
        rng = rng or random.Random()
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - filtered just below
                if not is_commit_conflict(exc):
                    raise
                if attempt == self.attempts:
                    raise CommitConflictError(table, operation, attempt, exc) from exc
                wait = self.delay(attempt, rng)
                log.info("%s %s: lost a commit race (attempt %d/%d: %s); retrying in %.2f s", operation, table,
                         attempt, self.attempts, str(exc).splitlines()[0], wait)
                sleep(wait)
        raise AssertionError("unreachable")
