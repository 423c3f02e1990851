"""Partitions of the anomaly assets."""

from orchestration.ingest.partitions import INGEST_DATES

__all__ = ["SCORING_DAYS"]

#: Scoring day ("as of"): a partition scores every series up to the end of that UTC day. The ingest
#: dates themselves (one definition, ``orchestration/ingest/partitions.py``), so one run of
#: ``crimefusion_all`` covers both.
SCORING_DAYS = INGEST_DATES
