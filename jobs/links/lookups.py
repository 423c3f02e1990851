"""Reads that the link assets, their checks and ``crimefusion links`` share: lakehouse tables and table files.

Unlike the kernels of this package these functions read. Those on the lake
take the lakehouse (any object with ``exists``, ``read``, ``count`` and
``root``, such as ``orchestration.resources.lakehouse.Lakehouse``) and raise a
ValueError that names the table when what they need is not there.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["COMPLETE_WEEK", "cdr_timezone", "chart_week", "fusion_dump_phones", "incident_dump", "incident_point",
           "known_phones", "periods_of", "read_table", "tower_dump_rows", "week_network"]

#: A week whose calls span at least this long counts as complete (charts prefer the latest complete week).
COMPLETE_WEEK = dt.timedelta(days=6)


def read_table(path: Path) -> pa.Table:
    """A Parquet file or folder, or a Delta table read through its current snapshot (never as plain Parquet: that
    would return removed files too).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When it is neither a Delta table folder nor Parquet.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir() and (path / "_delta_log").is_dir():
        from deltalake import DeltaTable

        return DeltaTable(str(path)).to_pyarrow_table()
    try:
        return pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for non-Parquet input
        raise ValueError(f"{path} is neither a Delta table folder nor Parquet: {exc}") from exc


def periods_of(lakehouse, name: str) -> list[dt.datetime]:
    """Distinct ``period`` values of a gold table, oldest first (empty when the table does not exist)."""
    if not lakehouse.exists("gold", name):
        return []
    col = lakehouse.read("gold", name, columns=["period"])["period"]
    return sorted(pc.unique(col).to_pylist()) if len(col) else []


def chart_week(lakehouse, week: str | dt.datetime | None, *, who: str = "link_charts config") -> dt.datetime:
    """The week to chart: the one containing ``week`` (ISO date or date-time), else the latest complete
    week of call_edges. ``who`` names the setting in error messages (``--week`` for the CLI).

    A week is complete when its calls span at least six days; when none is,
    the latest week is used.
    """
    from jobs.links.edges import period_start

    weeks = periods_of(lakehouse, "call_communities")
    if not weeks:
        raise ValueError("link_charts: gold/call_communities has no week; materialise call_edges and call_network first "
                         "(crimefusion run)")
    if week is not None:
        if isinstance(week, dt.datetime):
            day = week
        else:
            try:
                day = dt.datetime.fromisoformat(week)
            except ValueError as exc:
                raise ValueError(f"{who}: week={week!r} is not an ISO date (e.g. 2017-12-11)") from exc
        day = day.replace(tzinfo=dt.timezone.utc) if day.tzinfo is None else day
        start = period_start(pa.array([day], pa.timestamp("us", tz="UTC")), "week")[0].as_py()
        if start not in weeks:
            raise ValueError(f"{who}: week {start.date()} has no call network; "
                             f"weeks available: {', '.join(w.date().isoformat() for w in weeks)}")
        return start
    spans = lakehouse.read("gold", "call_edges", columns=["period", "last_contact"]).group_by("period").aggregate(
        [("last_contact", "max")])
    complete = [p for p, last in zip(spans["period"].to_pylist(), spans["last_contact_max"].to_pylist())
                if last - p >= COMPLETE_WEEK and p in weeks]
    return max(complete) if complete else weeks[-1]


def incident_point(lakehouse, incident_id: str) -> tuple[float, float, dt.datetime]:
    """``(lon, lat, occurred_at)`` of one incident of silver/incidents; ValueError naming the table when it is not there."""
    if not lakehouse.exists("silver", "incidents"):
        raise ValueError(f"no silver/incidents under {lakehouse.root}: ingest incidents first (crimefusion run), "
                         "or give --lon/--lat/--time")
    rows = lakehouse.read("silver", "incidents", columns=["incident_id", "occurred_at", "lon", "lat"],
                          filters=[("incident_id", "=", incident_id)])
    if rows.num_rows == 0:
        n = lakehouse.count("silver", "incidents")
        example = lakehouse.read("silver", "incidents", columns=["incident_id"]).slice(0, 1)["incident_id"].to_pylist()
        hint = f" (ids look like {example[0]!r})" if example else ""
        raise ValueError(f"incident {incident_id!r} is not in silver/incidents under {lakehouse.root} "
                         f"({n:,} incidents{hint})")
    if rows.num_rows > 1:
        raise ValueError(f"incident id {incident_id!r} is in silver/incidents {rows.num_rows} times; ids must be unique")
    row = rows.to_pylist()[0]
    if row["lon"] is None or row["lat"] is None:
        raise ValueError(f"incident {incident_id!r} has no location in silver/incidents (lon/lat are null)")
    return float(row["lon"]), float(row["lat"]), row["occurred_at"]


def fusion_dump_phones(lakehouse, incident_id: str) -> int | None:
    """Phones fusion's gold/incident_context lists in the incident's tower dump (None without that table)."""
    if not lakehouse.exists("gold", "incident_context"):
        return None
    ctx = lakehouse.read("gold", "incident_context", columns=["incident_id", "relation", "entity_id"],
                         filters=[("incident_id", "=", incident_id), ("relation", "=", "tower_dump")])
    return int(pc.count_distinct(ctx["entity_id"]).as_py() or 0) if ctx.num_rows else 0


def tower_dump_rows(lakehouse, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pa.Table, pa.Table]:
    """Silver ``cdr_events`` between ``start`` and ``end`` (both included) and silver ``cell_sites``.

    Only the window's rows are read (Delta file statistics skip the rest).
    """
    for name in ("cdr_events", "cell_sites"):
        if not lakehouse.exists("silver", name):
            raise ValueError(f"no silver/{name} under {lakehouse.root}: ingest it first, or give CDR_PATH and CELLS_PATH")
    cdr = lakehouse.read("silver", "cdr_events",
                         filters=[("start_time", ">=", start.to_pydatetime()), ("start_time", "<=", end.to_pydatetime())])
    return cdr, lakehouse.read("silver", "cell_sites")


def cdr_timezone(specs) -> str:
    """The local time zone (:attr:`jobs.ingest.spec.SourceSpec.local_timezone`) of the CDR feeds' specs,
    or UTC when they differ or there are none."""
    zones = {spec.local_timezone for spec in specs if spec.table == "cdr_events"}
    return zones.pop() if len(zones) == 1 else "UTC"


def known_phones(lakehouse) -> list[str]:
    """Every phone of every week's call network (gold/call_communities), sorted: the set aliases tell apart."""
    if not lakehouse.exists("gold", "call_communities"):
        return []
    return sorted(pc.unique(lakehouse.read("gold", "call_communities", columns=["phone"])["phone"]).to_pylist())


def week_network(lakehouse, week: dt.datetime, *, timezone: str = "UTC", events: bool = True):
    """One week of the call network for the link charts (:class:`jobs.links.schemas.WeekNetwork`): its gold
    rows, its undirected pairs, its calls and SMS from silver/cdr_events (``events``; only that week's
    rows are read) and the aliases of every phone of the lake's networks."""
    from jobs.links.aliases import alias_map
    from jobs.links.schemas import WeekNetwork
    from jobs.links.selections import phone_pairs
    from jobs.links.timeline import contact_events

    def rows(name: str) -> pa.Table:
        return lakehouse.read("gold", name, filters=[("period", "=", week)])

    edges = rows("call_edges")
    end = week + dt.timedelta(days=7)
    ev = None
    if events and lakehouse.exists("silver", "cdr_events"):
        cdr = lakehouse.read("silver", "cdr_events", columns=["caller", "callee", "start_time", "duration_s", "kind", "direction"],
                             filters=[("start_time", ">=", week), ("start_time", "<", end)])
        ev = contact_events(cdr, start=week, end=end)
    return WeekNetwork(week=week, edges=edges, communities=rows("call_communities"), key_players=rows("key_players"),
                       pairs=phone_pairs(edges), events=ev, aliases=alias_map(known_phones(lakehouse)),
                       timezone=timezone)


def incident_dump(lakehouse, incident_id: str, *, window: dt.timedelta, radius_m: float = 0.0):
    """The tower dump of one incident of silver/incidents: ``(lon, lat, time, dump)``, where ``dump`` is
    :func:`jobs.links.colocation.tower_dump` of the silver CDR rows within ``window`` either side of
    the incident and of the cells covering it (or within ``radius_m`` of it)."""
    from jobs.links.colocation import tower_dump

    lon, lat, t = incident_point(lakehouse, incident_id)
    t0 = pd.Timestamp(t)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    cdr, cells = tower_dump_rows(lakehouse, t0 - window, t0 + window)
    dump = tower_dump(cdr, cells, lon=lon, lat=lat, time=t0, before=window, after=window, radius_m=radius_m)
    return lon, lat, t0, dump
