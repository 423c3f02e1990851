"""``crimefusion links chart`` and ``crimefusion links timeline``: link charts of a selection read from the lake.

Registered on the ``links`` group of :mod:`orchestration.cli.links` (which imports this module);
the kernels are :mod:`jobs.links.selections`, :mod:`jobs.links.chartpage` and :mod:`jobs.links.timeline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestration.cli.links import JsonOpt, LakeOpt, LimitOpt, app, user_errors, write_json, wrote


def _lake_resources(lake: Optional[str]) -> dict:
    from orchestration.resources.factory import cli_resources

    return cli_resources(lake)[1]


def _need_networks(lakehouse) -> None:
    from orchestration.cli.options import CommandError

    if not lakehouse.exists("gold", "call_communities"):
        raise CommandError(f"no gold/call_communities under {lakehouse.root}: build the call networks first "
                           "(crimefusion run, or materialise call_edges and call_network)")


def _safe_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "chart"


@app.command("chart")
def chart_cmd(
    community: Annotated[Optional[int], typer.Option("--community", help="Chart this community (call_communities) of the week.")] = None,
    phone: Annotated[Optional[str], typer.Option("--phone", help="Chart this phone's ego network: its P- alias or pseudonym.")] = None,
    hops: Annotated[Optional[int], typer.Option("--hops", help="With --phone: hops of the ego network, 1 to 3 (default 2).")] = None,
    incident: Annotated[Optional[str], typer.Option("--incident", help="Chart the tower dump of this incident of silver/incidents.")] = None,
    radius_m: Annotated[Optional[float], typer.Option("--radius-m", help=(
        "With --incident: also cells whose sector comes within this many metres of the incident (default 0: "
        "the cells covering it)."))] = None,
    window_h: Annotated[Optional[float], typer.Option("--window-h", help=(
        "With --incident: hours either side of the incident (default 1)."))] = None,
    week: Annotated[Optional[str], typer.Option("--week", help=(
        "Week of the call network (any date in it, ISO); default the latest complete week. An incident's "
        "chart uses the incident's week."))] = None,
    max_nodes: Annotated[int, typer.Option("--max-nodes", help="Most phones on the chart.")] = 150,
    out: Annotated[Optional[Path], typer.Option("--out", help=(
        "HTML file to write (default: <CRIMEFUSION_HOME>/reports/links/selections/<selection>.html)."))] = None,
    seed: Annotated[int, typer.Option(help="Seed of the layout.")] = 0,
    lake: LakeOpt = None,
) -> None:
    """Draw a link chart of one selection: a community, a phone's ego network, or an incident's tower dump.

    The chart is one offline HTML page: phones labelled with short aliases (P-XXXXX), coloured by
    community, links by kind, with a legend; click a link for the timeline of its calls and SMS.
    """
    import datetime as dt

    from jobs.links.lookups import cdr_timezone, chart_week, incident_dump, week_network
    from jobs.links.reports import write_chart
    from jobs.links.selections import community_selection, ego_selection, tower_dump_selection

    chosen = [name for name, v in (("--community", community), ("--phone", phone), ("--incident", incident)) if v is not None]
    with user_errors():
        if len(chosen) != 1:
            raise ValueError("give one selection: --community N, --phone ALIAS (with --hops) or --incident ID "
                             f"(with --radius-m, --window-h){'; got ' + ' and '.join(chosen) if chosen else ''}")
        if hops is not None and phone is None:
            raise ValueError("--hops goes with --phone (the ego network's depth)")
        stray = [n for n, v in (("--radius-m", radius_m), ("--window-h", window_h)) if v is not None]
        if stray and incident is None:
            raise ValueError(f"{' and '.join(stray)} go{'es' if len(stray) == 1 else ''} with --incident (the tower dump)")
        if incident is not None and week is not None:
            raise ValueError("--week does not go with --incident: a tower dump's links come from the incident's own week")
        if max_nodes < 2:
            raise ValueError(f"--max-nodes must be at least 2, got {max_nodes}")
        radius = 0.0 if radius_m is None else float(radius_m)
        if not radius >= 0:
            raise ValueError(f"--radius-m must be >= 0 metres, got {radius_m}")
        hours = 1.0 if window_h is None else float(window_h)
        if not 0 < hours <= 24 * 7:
            raise ValueError(f"--window-h must be more than 0 and at most 168 hours, got {window_h}")
        resources = _lake_resources(lake)
        lakehouse = resources["lakehouse"]
        _need_networks(lakehouse)
        tz = cdr_timezone(resources["sources"].specs())
        subtitle, notes = None, []
        if incident is not None:
            lon, lat, t0, dump = incident_dump(lakehouse, incident, window=dt.timedelta(hours=hours), radius_m=radius)
            cells = (dump.schema.metadata or {}).get(b"cells", b"").decode()
            where = f"within {radius:g} m of" if radius > 0 else "covering"
            if dump.num_rows == 0:
                raise ValueError(f"no phone was served by a cell {where} incident {incident} within {hours:g} h of it "
                                 f"(cells: {cells or 'none'}); widen --radius-m or --window-h")
            wk = chart_week(lakehouse, t0.to_pydatetime(), who=f"incident {incident}")
            network = week_network(lakehouse, wk, timezone=tz)
            selection = tower_dump_selection(network.pairs, dump, label=f"Tower dump of incident {incident}",
                                             max_nodes=max_nodes)
            from jobs.links.timeline import time_label

            subtitle = (f"{dump.num_rows} phones served by the {len(cells.split(',')) if cells else 0} cells {where} the "
                        f"incident at {lon:.5f}, {lat:.5f} from {time_label(t0 - dt.timedelta(hours=hours), tz)} to "
                        f"{time_label(t0 + dt.timedelta(hours=hours), tz)} ({tz}; incident at {time_label(t0, tz)}), and "
                        f"the phones in contact with at least two of them; links from the week's call network.")
            name = f"incident_{_safe_name(incident)}"
        else:
            wk = chart_week(lakehouse, week, who="--week")
            network = week_network(lakehouse, wk, timezone=tz)
            if community is not None:
                selection = community_selection(network.communities, community, network.pairs, max_nodes=max_nodes)
                name = f"community_{community:02d}_{wk.date().isoformat()}"
            else:
                from jobs.links.aliases import resolve_phone

                who = resolve_phone(phone, network.aliases)
                alias = network.aliases[who]
                selection = ego_selection(network.pairs, who, hops=2 if hops is None else hops, max_nodes=max_nodes,
                                          name=alias)
                name = f"{alias}_{2 if hops is None else hops}hops_{wk.date().isoformat()}"
        path = out if out is not None else resources["reports"].folder("links") / "selections" / f"{name}.html"
        written = write_chart(path, network, selection, subtitle=subtitle, notes=notes, seed=seed)
    inside = network.pairs["a"].isin(selection.phones) & network.pairs["b"].isin(selection.phones)
    typer.echo(f"{selection.label}, week of {wk.date().isoformat()}: {len(selection.phones)} phones, "
               f"{int(inside.sum())} links (times in {tz})")
    for note in selection.notes:
        typer.echo(f"note: {note}")
    wrote([written])


@app.command("timeline")
def timeline_cmd(
    a: Annotated[str, typer.Argument(help="First phone: its P- alias (as the charts show it) or pseudonym.")],
    b: Annotated[str, typer.Argument(help="Second phone.")],
    start: Annotated[Optional[str], typer.Option(help="From this time (ISO 8601; UTC unless it has an offset).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Before this time.")] = None,
    json_path: JsonOpt = None,
    limit: LimitOpt = 200,
    lake: LakeOpt = None,
) -> None:
    """The calls and SMS between two phones, oldest first, in the CDR feed's local time (silver/cdr_events)."""
    from rich.console import Console
    from rich.table import Table

    from jobs.links.aliases import alias_map, resolve_phone
    from jobs.links.lookups import cdr_timezone, known_phones
    from jobs.links.timeline import duration_label, pair_timeline, time_label

    with user_errors():
        resources = _lake_resources(lake)
        lakehouse = resources["lakehouse"]
        _need_networks(lakehouse)
        if not lakehouse.exists("silver", "cdr_events"):
            from orchestration.cli.options import CommandError

            raise CommandError(f"no silver/cdr_events under {lakehouse.root}: ingest the CDR feed first (crimefusion run)")
        aliases = alias_map(known_phones(lakehouse))
        pa_, pb_ = resolve_phone(a, aliases), resolve_phone(b, aliases)
        if pa_ == pb_:
            raise ValueError(f"{a} and {b} are the same phone ({aliases[pa_]}); a timeline needs two")
        tz = cdr_timezone(resources["sources"].specs())
        cdr = lakehouse.read("silver", "cdr_events", columns=["caller", "callee", "start_time", "duration_s", "kind", "direction"],
                             filters=[("caller", "in", [pa_, pb_])])
        rows = pair_timeline(cdr, pa_, pb_, timezone=tz, start=start, end=end)
    name = {pa_: aliases[pa_], pb_: aliases[pb_]}
    voice = [r for r in rows.to_pylist() if r["kind"] == "voice"]
    talk = sum(r["duration_s"] for r in voice)
    typer.echo(f"{name[pa_]} = {pa_}")
    typer.echo(f"{name[pb_]} = {pb_}")
    summary = f"{len(voice)} calls (talk time {duration_label(talk)}), {rows.num_rows - len(voice)} SMS"
    if rows.num_rows:
        summary += (f", {time_label(rows['start_time'][0].as_py(), tz, year=True)} to "
                    f"{time_label(rows['start_time'][-1].as_py(), tz, year=True)} ({tz})")
    typer.echo(summary)
    view = Table(title=f"{name[pa_]} ↔ {name[pb_]} ({rows.num_rows} calls and SMS, local time {tz})")
    for c in ("#", "local time", "from", "to", "kind", "duration"):
        view.add_column(c)
    for k, r in enumerate(rows.slice(0, limit).to_pylist(), 1):
        view.add_row(str(k), time_label(r["start_time"], tz, year=True), name[r["caller"]], name[r["callee"]],
                     "call" if r["kind"] == "voice" else "SMS", duration_label(r["duration_s"]) if r["kind"] == "voice" else "–")
    Console().print(view)
    if rows.num_rows > limit:
        typer.echo(f"first {limit} of {rows.num_rows} shown (--limit; --json writes all)")
    if json_path is not None:
        import pyarrow as pa

        out = rows.append_column("caller_alias", pa.array([name[c] for c in rows["caller"].to_pylist()], pa.string()))
        out = out.append_column("callee_alias", pa.array([name[c] for c in rows["callee"].to_pylist()], pa.string()))
        write_json(out, json_path)
