"""Suites for every canonical table, derived from its Arrow schema.

- every non-nullable field is present;
- the table's id is unique;
- timestamps are not in the future and not before 1990;
- coordinates are valid EPSG:4326 (incidents: inside their study area, see
  ``quality/incidents.py``);
- categorical fields hold allowed values (``jobs.schemas.VALUE_SETS``).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa

from jobs.schemas import ID_FIELD
from jobs.schemas import CANONICAL, VALUE_SETS
from quality.suites import QualityReport, validate

EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)


def columns_for(table: str) -> list[str]:
    """The columns a suite reads (flat types only: lists and geometry are checked by the parser)."""
    schema = CANONICAL[table]
    return [f.name for f in schema if not (pa.types.is_list(f.type) or pa.types.is_binary(f.type))]


def expectations_for(table: str, *, now: datetime) -> list:
    import great_expectations as gx

    E = gx.expectations
    schema = CANONICAL[table]
    out = []
    for f in schema:
        if f.name not in columns_for(table):
            continue
        if not f.nullable:
            out.append(E.ExpectColumnValuesToNotBeNull(column=f.name))
        if pa.types.is_timestamp(f.type):
            out.append(E.ExpectColumnValuesToBeBetween(column=f.name, min_value=EARLIEST, max_value=now))
    out.append(E.ExpectColumnValuesToBeUnique(column=ID_FIELD[table]))
    if "lon" in schema.names:
        out.append(E.ExpectColumnValuesToBeBetween(column="lon", min_value=-180, max_value=180))
        out.append(E.ExpectColumnValuesToBeBetween(column="lat", min_value=-90, max_value=90))
    for column, allowed in VALUE_SETS.get(table, {}).items():
        out.append(E.ExpectColumnValuesToBeInSet(column=column, value_set=allowed))
    return out


def check_table(table: str, df: pd.DataFrame, *, now: datetime | None = None) -> QualityReport:
    now = now or datetime.now(timezone.utc)
    return validate(df, table, expectations_for(table, now=now), id_column=ID_FIELD[table])
