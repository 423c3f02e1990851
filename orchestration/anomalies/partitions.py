"""Partitions of the anomaly assets."""

import dagster as dg

#: Scoring day ("as of"): a partition scores every series up to the end of that UTC day. Same keys as the
#: ingest dates (orchestration.ingest.assets.INGEST_DATES), so one run of ``crimefusion_all`` covers both.
SCORING_DAYS = dg.DailyPartitionsDefinition(start_date="2010-01-01", end_offset=1)
