"""Automation: eager downstream updates, freshness policies, one retraining at a time, the tags behind them.

- **Schedules**: the jobs that span domains, nightly ingestion and fusion
  (02:00 UTC, that day's ingest partition) and weekly retraining and backtest
  (Monday 03:00 UTC), are in ``orchestration/platform/schedules.py``; a
  domain's own in its ``schedules.py`` (hourly anomaly scoring, the weekly
  forecast). Cross-domain jobs select assets by domain, layer or tag, never by
  name: an asset joins the weekly retraining with :data:`RETRAIN_TAG`.
- **Declarative automation**: the unpartitioned gold tables, models and reports
  of the domains in :data:`EAGER_DOMAINS`, full refreshes of silver, update
  eagerly when their inputs change (``AutomationCondition.eager()``), once the
  automation sensor is switched on in the UI; those tagged
  :data:`ON_SCHEDULE_TAG` only on schedule.
- **Freshness**: those assets are expected at most 26 hours old (warn after 25).
- **Concurrency**: runs that train models carry the tag ``crimefusion/trains``;
  every instance config limits that tag to one run at a time (local:
  ``orchestration/home.py``; cluster: ``infra/dagster/dagster.yaml`` and
  ``infra/helm/values.yaml``; ``tests/infra/test_concurrency.py`` keeps them in step).
- **Kinds**: assets that run on Spark when ``CRIMEFUSION_COMPUTE_ENGINE=spark``
  show the ``spark`` kind (declared in their decorators).
- **Retries**: steps that touch object storage, the Spark cluster or the MLflow
  server retry with exponential backoff and jitter: each asset declares its
  policy (``retry_policy=``, ``orchestration/platform/retries.py``).
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.platform.lineage import DOMAIN_TAG

#: Run tag of jobs that train models: one such run at a time (every dagster.yaml limits it).
TRAINS_TAG = {"crimefusion/trains": "models"}
#: Asset tag: the weekly retraining rebuilds the asset (features, backtest, the MLflow-registered model families).
RETRAIN_TAG = {"crimefusion/retrain": "weekly"}
#: Asset tag: the asset trains or scores models, so it runs on schedule, not on every upstream change.
ON_SCHEDULE_TAG = {"crimefusion/updates": "on-schedule"}
#: Domains whose unpartitioned derived assets (groups :data:`DERIVED_GROUPS`) are full refreshes of their
#: inputs. Not hotspots: its features, backtest and model are rebuilt weekly, its forecast per week partition.
EAGER_DOMAINS = {"lakehouse", "patterns", "links", "fusion", "anomalies"}
#: Groups (lake layers, orchestration/platform/lineage.py) of what is derived from silver.
DERIVED_GROUPS = {"gold", "models", "reports"}


def tagged(tags: dict[str, str]) -> dg.AssetSelection:
    """The assets that carry every tag of ``tags``."""
    selections = [dg.AssetSelection.tag(key, value) for key, value in tags.items()]
    selection = selections[0]
    for other in selections[1:]:
        selection = selection & other
    return selection


def with_automation(assets: list) -> list:
    """Add eager automation and freshness policies to the unpartitioned derived assets of :data:`EAGER_DOMAINS`.

    Reads the domain tag that :func:`orchestration.platform.lineage.in_domain` adds.
    """

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def is not None or spec.group_name not in DERIVED_GROUPS \
                or spec.tags.get(DOMAIN_TAG) not in EAGER_DOMAINS:
            return spec
        update = {"freshness_policy": dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                                    warn_window=timedelta(hours=25))}
        if not ON_SCHEDULE_TAG.items() <= spec.tags.items():
            update["automation_condition"] = dg.AutomationCondition.eager()
        return spec.replace_attributes(**update)

    return list(dg.map_asset_specs(apply, assets))

