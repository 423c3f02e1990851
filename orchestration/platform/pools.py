"""Concurrency pools: two runs never execute a step that writes the same ingest table at the same time.

The Lakehouse already survives writers that meet (conflict-checked creates,
commits retried from a fresh snapshot: orchestration/resources/lakehouse.py).
Pools keep Dagster's own runs from meeting at all, so a backfill of thirty
ingest dates or a sensor run beside the nightly job queue their bronze landing
and silver refinement one at a time instead of retrying against each other:

- bronze ``raw_<source>`` (every ingest-date partition writes the one table):
  pool ``lake.bronze.raw_<source>``;
- the silver family ``refine_<table>`` (silver ``<table>`` and quarantine
  ``<table>_rejects``): pool ``lake.silver.<table>``. The receipts ledger
  (``control/receipts``) that every family shares is append-only, and appends
  never conflict.

The assets set ``pool=table_pool(...)`` in their decorators
(orchestration/ingest/assets.py). Each pool holds one step at a time: every instance config sets
``concurrency: pools: default_limit: 1`` (local: orchestration/home.py;
cluster: infra/dagster/dagster.yaml, infra/helm/values.yaml;
tests/infra/test_concurrency.py keeps them in step). Different tables have
different pools, so the incidents and CDR families still run side by side.

A step that holds a slot and whose process is killed (SIGKILL, a lost pod)
keeps it until run monitoring frees it (``free_slots_after_run_end_seconds``,
daemon) or ``dagster instance concurrency`` does; ``crimefusion run`` stopped
with Ctrl-C frees its slots itself.
"""

from __future__ import annotations


def table_pool(layer: str, name: str) -> str:
    """The pool of the steps that write ``<layer>/<name>`` (``lake.silver.incidents``)."""
    if not layer or not name or any(c.isspace() for c in layer + name):
        raise ValueError(f"a pool names a table as layer and name without spaces, got {layer!r}, {name!r}")
    return f"lake.{layer}.{name}"
