"""SQL text for delta-rs predicates: literals and identifiers quoted so that no value can change a
predicate's meaning (never paste a value between quotes)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable


def _check_text(text: str, what: str) -> None:
    bad = [c for c in text if unicodedata.category(c) == "Cc"]
    if bad:
        raise ValueError(f"{what} {text!r} holds a control character ({bad[0]!r}); Delta predicates "
                         f"take printable text only")


def sql_literal(value: str | dt.datetime | dt.date | int) -> str:
    """``value`` as a literal of a Delta (DataFusion SQL) predicate.

    Text is quoted with single quotes doubled (``it's`` -> ``'it''s'``), so a
    value can never end the literal and add SQL of its own (``x' OR '1'='1``
    stays one string); backslashes are not escapes in this dialect and pass
    unchanged. Control characters (NUL, newline, tab, ...) are refused. A
    timestamp must carry a time zone and is written in UTC
    (``'2017-12-04T00:00:00.000000Z'``); a date as ``'2017-12-04'``; an integer
    as its digits.

    Raises
    ------
    ValueError
        Text with a control character, or a timestamp without a time zone.
    TypeError
        Any other type (booleans, floats, None): say what you mean in the predicate.
    """
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no Delta literal for {value!r}; write TRUE/FALSE/IS NULL in the predicate itself")
    if isinstance(value, str):
        _check_text(value, "predicate value")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value!r} has no time zone; lakehouse timestamps are UTC")
        return "'" + value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no Delta literal for {type(value).__name__} value {value!r}; use text, a timestamp, "
                    f"a date or an integer")


def sql_identifier(column: str) -> str:
    """A column name, double-quoted: case kept, reserved words (``group``) and any character but
    control characters allowed (a bronze column named ``loc.cat`` stays one column)."""
    if not isinstance(column, str) or not column:
        raise ValueError(f"column name must be non-empty text, got {column!r}")
    _check_text(column, "column name")
    return '"' + column.replace('"', '""') + '"'


def in_list(column: str, values: Iterable[str | dt.datetime | dt.date | int]) -> str:
    """The predicate ``"column" IN ('a', 'b')`` with every value quoted by :func:`sql_literal`.

    Duplicates are dropped (first order kept). An empty list gives ``FALSE``
    (nothing matches), which SQL's ``IN ()`` cannot say.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"in_list takes a list of values, not the single value {values!r}")
    literals = list(dict.fromkeys(sql_literal(v) for v in values))
    if not literals:
        return "FALSE"
    return f"{sql_identifier(column)} IN ({', '.join(literals)})"
