"""Partitions of the hotspot assets."""

import dagster as dg

__all__ = ["FORECAST_WEEKS"]

#: Forecast weeks: Monday 00:00 UTC, the period grid of ``jobs.grid.cell_features``.
FORECAST_WEEKS = dg.WeeklyPartitionsDefinition(start_date="2012-01-02", day_offset=1, end_offset=1)
