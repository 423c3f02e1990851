"""Incremental ``gold/incident_context``: which incidents a run rebuilds, from the silver tables' changes.

Rule (what a late or corrected record invalidates): an incident's context rows
depend on the incident and on the candidate rows inside its window (the largest
before/after over the relations, :mod:`jobs.fusion.context_windows`). So the
incidents rebuilt are those that changed, those whose ``occurred_at`` lies within
a window of a changed candidate row (a late CDR, a corrected transaction), and
those the scope gained (the CDR span grew). Posts naming a place whose gazetteer
location moved count as changed candidates, and so do the mention events
(``gold/events`` of origin ``osint_mentions``) its change feed shows added or
gone. A scope that shrank, changed cell sites, an unknown gazetteer, or a feed
that cannot say (a full rebuild of ``events``): the table is rebuilt in full
(:func:`plan_context` returns ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.context_windows import epoch_us, incidents_reached, reached_ranges
from orchestration.lakehouse import changes

#: The events origin whose rows are candidates of ``incident_context`` (relation ``osint_mention``).
MENTIONS = "osint_mentions"
#: Candidate tables of ``incident_context`` and the time column each is matched on.
CONTEXT_TIMES = {"cdr_events": "start_time", "transactions": "occurred_at", "osint_posts": "posted_at",
                 "detections": "frame_time"}


@dataclass
class ContextPlan:
    """Incidents whose context rows ``incident_context`` rebuilds, and the versions it read."""

    consumer: str
    versions: dict[str, int]
    incidents: pa.Table            # in scope, to rebuild
    removed: list[str]             # incident ids whose rows go (rebuilt or gone)


def scoped_incidents(lakehouse, all_incidents: bool) -> pa.Table:
    """Incidents to build context for: all, or those inside the CDRs' time span."""
    return incident_scope(lakehouse, all_incidents)[0]


def incident_scope(lakehouse, all_incidents: bool) -> tuple[pa.Table, tuple | None]:
    """The incidents in scope and the CDR span that bounds them (``None`` when every incident is in scope)."""
    from jobs.fusion.context import incidents_in_window
    from orchestration.lakehouse.metadata import column_range

    inc = lakehouse.read("silver", "incidents", columns=["incident_id", "occurred_at", "lon", "lat"])
    if all_incidents or not lakehouse.exists("silver", "cdr_events"):
        return inc, None
    lo, hi = column_range(lakehouse, "silver", "cdr_events", "start_time")
    if lo is None:
        return inc.slice(0, 0), None
    return incidents_in_window(inc, lo, hi), (lo, hi)


def context_consumer(settings, all_incidents: bool, crs: str) -> str:
    """Watermark key of ``incident_context``: a change of settings, scope or CRS is a new consumer.

    A new consumer has no watermark, so the table is rebuilt in full.
    """
    from dataclasses import asdict

    return changes.consumer_key("gold/incident_context", [asdict(settings), all_incidents, crs])


def events_version(lake) -> dict[str, int]:
    """``{"gold/events": version}`` when the table exists (its mention events are candidates), else ``{}``."""
    return {"gold/events": lake.version("gold", "events")} if lake.exists("gold", "events") else {}


def mention_events(lake, lo=None, hi=None) -> pa.Table | None:
    """The mention events (candidates of relation ``osint_mention``), those between ``lo`` and ``hi`` when given."""
    if not lake.exists("gold", "events"):
        return None
    bounds = [("occurred_at", ">=", lo), ("occurred_at", "<=", hi)] if lo is not None else []
    return lake.read("gold", "events", columns=["event_id", "occurred_at", "lon", "lat", "h3", "entity_ids"],
                     filters=[("origin", "=", MENTIONS), *bounds])


def changed_places(lake, places: pa.Table | None) -> list[str] | None:
    """Place names whose gazetteer location moved, appeared or went since the last run (``None``: unknown)."""
    from jobs.fusion.context import moved_places

    if not lake.exists("gold", "place_gazetteer"):
        return None
    return moved_places(lake.read("gold", "place_gazetteer"), places)


def plan_context(lake, consumer: str, scope: pa.Table, span: tuple | None, settings,
                 moved_places: list[str] | None = ()) -> ContextPlan | None:
    """Incidents to rebuild (the module's rule); ``None``: rebuild the table in full."""
    if not lake.exists("gold", "incident_context") or moved_places is None:
        return None
    marks = changes.watermarks(lake, consumer)
    names = ["incidents", "cell_sites", *CONTEXT_TIMES]
    now = {f"silver/{n}": lake.version("silver", n) for n in names if lake.exists("silver", n)}
    if not marks or {k for k in marks if k.startswith("silver/")} != set(now) \
            or now.get("silver/cell_sites") != marks.get("silver/cell_sites"):
        return None
    now.update(events_version(lake))
    if ("gold/events" in now) != ("gold/events" in marks):
        return None
    versions = dict(now)
    if span is not None:
        versions["scope/start_us"], versions["scope/end_us"] = (epoch_us(span[0]), epoch_us(span[1]))
    old_span = (marks.get("scope/start_us"), marks.get("scope/end_us"))
    if span is not None and None not in old_span and (versions["scope/start_us"] > old_span[0]
                                                      or versions["scope/end_us"] < old_span[1]):
        return None  # the scope shrank: incidents left it
    if (span is None) != (None in old_span):
        return None
    changed = _changed_rows(lake, now, marks, settings)
    if changed is None:
        return None
    changed_ids, reach = changed  # reach: incident times (us) to rebuild, [lo, hi] ranges
    if moved_places and lake.exists("silver", "osint_posts"):  # posts naming a place that moved
        named = lake.read("silver", "osint_posts", columns=["posted_at"],
                          filters=[("place_name", "in", list(moved_places))])["posted_at"]
        reach += reached_ranges(pc.drop_null(named.combine_chunks()), settings)
    if span is not None and None not in old_span:  # incidents the grown scope gained
        if versions["scope/start_us"] < old_span[0]:
            reach.append((versions["scope/start_us"], old_span[0]))
        if versions["scope/end_us"] > old_span[1]:
            reach.append((old_span[1], versions["scope/end_us"]))
    chosen = incidents_reached(scope, changed_ids, reach)
    removed = sorted(set(changed_ids) | set(chosen["incident_id"].to_pylist()))
    return ContextPlan(consumer=consumer, versions=versions, incidents=chosen, removed=removed)


def _changed_rows(lake, now: dict[str, int], marks: dict[str, int],
                  settings) -> tuple[list[str], list[tuple[int, int]]] | None:
    """Incident ids changed since ``marks``, and the incident-time ranges changed candidates reach.

    ``None`` when a feed cannot say what changed.
    """
    changed_ids: list[str] = []
    reach: list[tuple[int, int]] = []
    for name in ["incidents", *CONTEXT_TIMES]:
        key = f"silver/{name}"
        if key not in now or now[key] == marks[key]:
            continue
        feed = changes.changes(lake, "silver", name, marks[key], now[key],
                               columns=["incident_id"] if name == "incidents" else [CONTEXT_TIMES[name]])
        if feed is None:
            return None
        if name == "incidents":
            changed_ids += pc.unique(feed["incident_id"]).to_pylist()
            continue
        reach += reached_ranges(pc.drop_null(feed[CONTEXT_TIMES[name]].combine_chunks()), settings)
    if now.get("gold/events", marks.get("gold/events")) != marks.get("gold/events"):
        feed = changes.changes(lake, "gold", "events", marks["gold/events"], now["gold/events"],
                               columns=["origin", "occurred_at"])
        if feed is None:
            return None
        times = pc.filter(feed["occurred_at"], pc.equal(feed["origin"], MENTIONS))
        reach += reached_ranges(pc.drop_null(times.combine_chunks()), settings)
    return changed_ids, reach


def planned_context(lake, plan: ContextPlan, *, cell_sites: pa.Table | None, places: pa.Table | None,
                    has: dict[str, bool], settings, metric_crs: str, ctx) -> pa.Table:
    """The rebuilt context rows of the plan's incidents (:data:`jobs.fusion.schemas.INCIDENT_CONTEXT`).

    Incidents go in groups whose windows do not overlap; each group reads only the
    candidate rows of its window (``has``: the candidate tables that exist).
    """
    from jobs.fusion.context import context_from_records
    from jobs.fusion.context_windows import context_windows
    from jobs.fusion.schemas import INCIDENT_CONTEXT

    def window(name: str, lo, hi) -> pa.Table | None:
        if not has.get(name):
            return None
        col = CONTEXT_TIMES[name]
        return lake.read("silver", name, filters=[(col, ">=", lo), (col, "<=", hi)])

    parts = []
    for group, lo, hi in context_windows(plan.incidents, settings):
        parts.append(context_from_records(
            group, cdr=window("cdr_events", lo, hi), cell_sites=cell_sites, transactions=window("transactions", lo, hi),
            posts=window("osint_posts", lo, hi), detections=window("detections", lo, hi), places=places,
            mentions=mention_events(lake, lo, hi), ctx=ctx, settings=settings, metric_crs=metric_crs))
    return pa.concat_tables([p.cast(INCIDENT_CONTEXT) for p in parts]) if parts else INCIDENT_CONTEXT.empty_table()
