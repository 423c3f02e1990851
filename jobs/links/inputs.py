"""Checks and conversions of the link-analysis kernels' inputs: required columns, date-times, durations.

Which phone a CDR row speaks for is :func:`jobs.cdr.served_party`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa


def require_columns(table: pa.Table, columns: Iterable[str], name: str) -> None:
    """Raise a ValueError naming the missing columns of ``table``."""
    if not isinstance(table, pa.Table):
        raise TypeError(f"{name} must be a pyarrow.Table, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; found {table.column_names}. "
            "Pass the canonical silver table (see jobs/schemas.py)."
        )




def to_timedelta(value: dt.timedelta | str | pd.Timedelta, name: str) -> pd.Timedelta:
    """Return ``value`` as a non-negative pandas Timedelta ('2h', '30min', timedelta...)."""
    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a duration (e.g. '2h', '30min')") from exc
    if td is pd.NaT or td < pd.Timedelta(0):
        raise ValueError(f"{name} must be a non-negative duration, got {value!r}")
    return td
