"""The one entry point Dagster loads: ``dagster dev -m orchestration.definitions``.

Each domain (``orchestration/<domain>/definitions.py``) exports its own
``Definitions`` (assets, checks, jobs, schedules, sensors) for the feeds a
deployment ingests; they are merged here with the jobs that span domains
(``orchestration/platform/schedules.py``), the automation every asset gets
(``orchestration/platform/automation.py``) and the resources. Resources and the
feed asset families are chosen here, when the definitions load, from the
settings (``CRIMEFUSION_DEPLOYMENT``, the source specs...), through the resource
factory the CLI uses too; nothing reads the environment at import time. Each
domain's assets are tagged with its name and linked to their source code here
(``orchestration/platform/lineage.py``); their groups are the lake layers.
"""

from __future__ import annotations

import dagster as dg

from orchestration.anomalies import definitions as anomalies
from orchestration.fusion import definitions as fusion
from orchestration.hotspots import definitions as hotspots
from orchestration.ingest import definitions as ingest
from orchestration.lakehouse import definitions as lakehouse
from orchestration.links import definitions as links
from orchestration.osint import definitions as osint
from orchestration.patterns import definitions as patterns
from orchestration.platform.automation import with_automation
from orchestration.platform.feeds import Feeds
from orchestration.platform.lineage import in_domain
from orchestration.platform.schedules import build_schedules
from orchestration.quality import definitions as quality
from orchestration.resources.factory import build_resources
from orchestration.settings import Settings, load_settings
from orchestration.synthetic import definitions as synthetic
from orchestration.vision import definitions as vision

#: Every domain: each one's ``defs(feeds)`` says what it adds for the feeds of the deployment.
DOMAINS = [lakehouse, patterns, hotspots, ingest, synthetic, links, anomalies, fusion, osint, vision, quality]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    resources = build_resources(settings)
    feeds = Feeds.of(resources["sources"], synthetic=settings.synthetic)
    domains = dg.Definitions.merge(*(in_domain(domain_name(domain), domain.defs(feeds)) for domain in DOMAINS))
    assets = with_automation(list(domains.assets or []))
    return dg.Definitions.merge(
        dg.Definitions(assets=assets, asset_checks=domains.asset_checks, jobs=domains.jobs,
                       schedules=domains.schedules, sensors=domains.sensors),
        build_schedules(assets),
        dg.Definitions(resources=resources, executor=dg.in_process_executor),
    )


def domain_name(domain) -> str:
    """``hotspots`` for ``orchestration.hotspots.definitions``: the tag its assets carry."""
    return domain.__name__.split(".")[-2]


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
