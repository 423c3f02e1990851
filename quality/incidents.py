"""The ``incidents`` suite: keys present and unique, places in their study area, plausible times."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from jobs.ingest.taxonomy import OFFENSE_CATEGORIES
from quality.suites import QualityReport, validate

#: Columns the suite reads (so callers load only these).
COLUMNS = ["incident_id", "source", "occurred_at", "category", "lon", "lat", "h3"]


def incidents_expectations(*, now: datetime, earliest: datetime = datetime(1990, 1, 1, tzinfo=timezone.utc)) -> list:
    """Expectations for silver ``incidents``; the frame carries ``inside_study_area`` (see :func:`check_incidents`)."""
    import great_expectations as gx

    E = gx.expectations
    return [
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in ("incident_id", "occurred_at", "category", "lon", "lat", "h3")],
        E.ExpectColumnValuesToBeUnique(column="incident_id"),
        E.ExpectColumnValuesToBeInSet(column="inside_study_area", value_set=[True]),
        E.ExpectColumnValuesToBeBetween(column="occurred_at", min_value=earliest, max_value=now),
        E.ExpectColumnValuesToBeInSet(column="category", value_set=list(OFFENSE_CATEGORIES)),
    ]


def check_incidents(df: pd.DataFrame, *, bboxes: dict[str, tuple[float, float, float, float]],
                    now: datetime | None = None) -> QualityReport:
    """Validate silver incidents (a pandas frame with at least :data:`COLUMNS`).

    ``bboxes`` maps a source to its study area's (lon_min, lat_min, lon_max,
    lat_max), widened by the ingestion tolerance; sources without a study area
    are held to valid EPSG:4326 coordinates.
    """
    now = now or datetime.now(timezone.utc)
    df = df.copy()
    inside = (df["lon"].between(-180, 180) & df["lat"].between(-90, 90)).to_numpy()
    for source, (x0, y0, x1, y1) in bboxes.items():
        rows = (df["source"] == source).to_numpy()
        inside[rows] = (df.loc[rows, "lon"].between(x0, x1) & df.loc[rows, "lat"].between(y0, y1)).to_numpy()
    df["inside_study_area"] = inside
    return validate(df, "incidents", incidents_expectations(now=now), id_column="incident_id")
