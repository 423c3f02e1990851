"""Values of command-line options checked once for every command (one message style: ``error: ...``, exit 2)."""

from __future__ import annotations

import datetime as dt
import re


class UsageError(ValueError):
    """An option's value that cannot be used; the message says which option and what it expects."""


def ingest_date(value: str | None) -> str:
    """``--date``: an ingest date written ``YYYY-MM-DD`` (a real calendar day), or today in UTC when not given.

    Refused: other spellings (``2026/12/04`` would become nested landing folders, ``20261204`` is ambiguous to a
    reader of the folder names) and days that do not exist (``2026-13-45``, ``2026-02-30``).
    """
    if value is None:
        return dt.datetime.now(dt.timezone.utc).date().isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise UsageError(f"--date must be YYYY-MM-DD, got {value!r}")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r} is not a calendar day") from None
    return value
