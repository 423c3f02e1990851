"""Partitions of the ingest assets.

``INGEST_DATES``: a partition lands the files dropped in
``<landing>/<source>/<date>/`` (and the files a spec bundles, once). The
synthetic generator, the demo video and the anomaly scoring days use the same
keys, so one run of ``crimefusion_all`` covers them all.
"""

import dagster as dg

__all__ = ["INGEST_DATES"]

#: Ingest dates: a partition lands the files dropped in ``<landing>/<source>/<date>/``.
INGEST_DATES = dg.DailyPartitionsDefinition(start_date="2010-01-01", end_offset=1)
