"""Full rebuilds of ``gold/events`` and ``gold/incident_context`` on the engine the ``compute`` resource names.

``embedded`` runs the kernels of ``jobs/fusion/`` in this process on SedonaDB over
whole silver tables; ``spark`` runs the same kernels per partition on
``compute.spark_master`` (``jobs/spark/fusion.py``) and commits the tasks' files
in one Delta transaction. A rebuild is what a run does when the incremental
plan (``events_plan.py``, ``context_plan.py``) cannot say what changed.
"""

from __future__ import annotations

import pyarrow as pa

from orchestration.fusion import context_plan, events_plan
from orchestration.fusion.inputs import silver


def rebuild_events(lakehouse, compute, origins: list[str], boundaries: pa.Table | None,
                   cell_sites: pa.Table | None) -> tuple[object, int]:
    """Rebuild ``gold/events`` from every row of ``origins`` and turn the change feeds on.

    Spark builds the silver origins; the mention events (``gold/osint_mentions``, a few per post, located
    already) are built by the same kernel on the driver and appended, so both engines write the same rows.
    Returns the write result and the number of input rows read.
    """
    from jobs.fusion.events import GOLD_ORIGINS, build_events, cell_locations, events_from
    from jobs.fusion.schemas import EVENTS

    layer = events_plan.origin_layer
    versions = events_plan.input_versions(lakehouse, origins)
    rows_in = sum(lakehouse.count(layer(o), o) for o in origins)
    enrichment = silver(lakehouse, "incident_enrichment")
    if compute.engine == "spark":
        from jobs.spark.fusion import spark_events

        cells = cell_locations(cell_sites, boundaries=boundaries, ctx=compute.sedona()) if cell_sites is not None else None
        spark_events(compute.spark(), {o: lakehouse.uri("silver", o) for o in origins if o not in GOLD_ORIGINS},
                     lakehouse.uri("gold", "events"), cells=cells, boundaries=boundaries, enrichment=enrichment,
                     partitions=compute.spark_partitions, storage_options=lakehouse.storage_options())
        for origin in (o for o in origins if o in GOLD_ORIGINS):
            lakehouse.append("gold", "events", events_from(origin, lakehouse.read("gold", origin), ctx=compute.sedona(),
                                                           posts=events_plan.mention_posts(lakehouse)).cast(EVENTS))
        result = lakehouse.describe("gold", "events", lakehouse.count("gold", "events"))
    else:
        table = build_events({o: lakehouse.read(layer(o), o) for o in origins}, ctx=compute.sedona(),
                             boundaries=boundaries, cell_sites=cell_sites, enrichment=enrichment)
        result = lakehouse.overwrite("gold", "events", table.cast(EVENTS))
    events_plan.after_full_build(lakehouse, origins, versions)
    return result, rows_in


def rebuild_context(lakehouse, compute, inc: pa.Table, *, cell_sites: pa.Table | None, places: pa.Table | None,
                    has: dict[str, bool], settings, metric_crs: str):
    """Rebuild ``gold/incident_context`` for the incidents ``inc``; the write result.

    ``has``: which candidate tables exist in silver. Spark runs only when there are incidents.
    """
    if compute.engine == "spark" and inc.num_rows:
        return _context_on_spark(lakehouse, compute, inc, cell_sites=cell_sites, places=places, has=has,
                                 settings=settings, metric_crs=metric_crs)
    return _context_embedded(lakehouse, compute, inc, cell_sites=cell_sites, places=places, has=has,
                             settings=settings, metric_crs=metric_crs)


def _context_on_spark(lakehouse, compute, inc: pa.Table, *, cell_sites: pa.Table | None, places: pa.Table | None,
                      has: dict[str, bool], settings, metric_crs: str):
    """In Spark tasks (H3 parent cells with a halo ring)."""
    from jobs.spark.fusion import spark_incident_context

    uri = lambda n: lakehouse.uri("silver", n) if has[n] else None  # noqa: E731
    spark_incident_context(compute.spark(), inc, lakehouse.uri("gold", "incident_context"),
                           cdr_uri=uri("cdr_events") if cell_sites is not None else None, cell_sites=cell_sites,
                           transactions_uri=uri("transactions"), posts_uri=uri("osint_posts"),
                           detections_uri=uri("detections"), places=places,
                           mentions=context_plan.mention_events(lakehouse), settings=settings, metric_crs=metric_crs,
                           partitions=compute.spark_partitions, storage_options=lakehouse.storage_options())
    return lakehouse.describe("gold", "incident_context", lakehouse.count("gold", "incident_context"))


def _context_embedded(lakehouse, compute, inc: pa.Table, *, cell_sites: pa.Table | None, places: pa.Table | None,
                      has: dict[str, bool], settings, metric_crs: str):
    """In this process, from whole silver tables."""
    from jobs.fusion.context import context_from_records
    from jobs.fusion.schemas import INCIDENT_CONTEXT

    records = {}
    if inc.num_rows:  # nothing is read for no incident
        cdr = silver(lakehouse, "cdr_events") if has["cdr_events"] and cell_sites is not None else None
        records = dict(cdr=cdr, transactions=silver(lakehouse, "transactions"),
                       posts=silver(lakehouse, "osint_posts"), detections=silver(lakehouse, "detections"),
                       mentions=context_plan.mention_events(lakehouse))
    table = context_from_records(inc, **records, cell_sites=cell_sites, places=places, ctx=compute.sedona(),
                                 settings=settings, metric_crs=metric_crs)
    return lakehouse.overwrite("gold", "incident_context", table.cast(INCIDENT_CONTEXT))
