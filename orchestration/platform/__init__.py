"""The platform under the domains: what every domain shares and what runs beside Dagster.

``retries.py`` (retry policies), ``automation.py`` (eager updates, freshness,
the tags that put an asset in a cross-domain job), ``lineage.py`` (groups =
lake layers, domain tags, code references), ``schedules.py`` (the jobs
and schedules that span domains), ``feeds.py`` (what the deployment ingests,
which decides the domains that load), ``pools.py`` (one writer per table),
``notify.py`` (run notifications), ``processes.py`` (service processes),
``lake.py``, ``maintenance.py``, ``bi.py``, ``bi_spark.py`` (lakehouse
maintenance and BI views, docs/operations.md), ``gis.py`` (GeoParquet and
GeoPackage exports), ``launch.py`` (runs of the ``crimefusion`` code location,
for ``crimefusion run``).
"""
