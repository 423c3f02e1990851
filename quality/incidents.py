"""The ``incidents`` suite: keys present and unique, places in the study area, plausible times."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from jobs.ingest.taxonomy import OFFENSE_CATEGORIES
from quality.suites import QualityReport, validate

#: Columns the suite reads (so callers load only these).
COLUMNS = ["incident_id", "occurred_at", "category", "lon", "lat", "h3"]


def incidents_expectations(*, bbox: tuple[float, float, float, float], now: datetime,
                           earliest: datetime = datetime(1990, 1, 1, tzinfo=timezone.utc)) -> list:
    """Expectations for silver ``incidents``.

    ``bbox`` is the study area's (lon_min, lat_min, lon_max, lat_max), already
    widened by the ingestion tolerance.
    """
    import great_expectations as gx

    E = gx.expectations
    lon_min, lat_min, lon_max, lat_max = bbox
    return [
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in ("incident_id", "occurred_at", "category", "lon", "lat", "h3")],
        E.ExpectColumnValuesToBeUnique(column="incident_id"),
        E.ExpectColumnValuesToBeBetween(column="lon", min_value=lon_min, max_value=lon_max),
        E.ExpectColumnValuesToBeBetween(column="lat", min_value=lat_min, max_value=lat_max),
        E.ExpectColumnValuesToBeBetween(column="occurred_at", min_value=earliest, max_value=now),
        E.ExpectColumnValuesToBeInSet(column="category", value_set=list(OFFENSE_CATEGORIES)),
    ]


def check_incidents(df: pd.DataFrame, *, bbox: tuple[float, float, float, float], now: datetime | None = None) -> QualityReport:
    """Validate silver incidents (a pandas frame with at least :data:`COLUMNS`)."""
    now = now or datetime.now(timezone.utc)
    return validate(df, "incidents", incidents_expectations(bbox=bbox, now=now), id_column="incident_id")
