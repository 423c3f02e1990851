"""``crimefusion links ...``: link-analysis commands on CDR and transaction tables.

A Typer sub-app (``app``). Each command reads a Parquet file or a Delta table folder
(``tower-dump --incident``, ``chart`` and ``timeline`` read the lakehouse; the last two live in
:mod:`orchestration.cli.link_charts`), runs a ``jobs.links`` kernel, prints a table and can write
JSON, GraphML, GEXF and HTML. Heavy imports happen inside the commands (fast ``--help``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from orchestration.cli.options import ErrorStyleGroup, fail

if TYPE_CHECKING:
    import pyarrow as pa

app = typer.Typer(
    name="links",
    cls=ErrorStyleGroup,
    help="Link analysis: call networks, investigator queries, fraud rings, exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

CdrArg = Annotated[Path, typer.Argument(help="CDR_EVENTS as a Parquet file or a Delta table folder.")]
CellsArg = Annotated[Path, typer.Argument(help="CELL_SITES as a Parquet file or a Delta table folder.")]
JsonOpt = Annotated[Optional[Path], typer.Option("--json", help="Also write the result rows as JSON here.")]
LimitOpt = Annotated[int, typer.Option("--limit", help="Rows shown on screen (files get all rows).")]


def read_table(path: Path) -> "pa.Table":
    """Read a Parquet file/folder or a Delta table (:func:`jobs.links.lookups.read_table`); else a bad parameter."""
    from jobs.links.lookups import read_table as read

    try:
        return read(path)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc


def _show(table: "pa.Table", title: str, limit: int, columns: list[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cols = columns or table.column_names
    view = Table(title=f"{title} ({table.num_rows} rows)", show_lines=False)
    for c in cols:
        view.add_column(c, overflow="fold")
    for row in table.select(cols).slice(0, limit).to_pylist():
        view.add_row(*[_fmt(row[c]) for c in cols])
    console.print(view)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v[:8]) + (f" (+{len(v) - 8})" if len(v) > 8 else "")
    if isinstance(v, str) and len(v) > 20:
        return v[:16] + "…"
    return "" if v is None else str(v)


def write_json(table: "pa.Table", path: Optional[Path]) -> None:
    if path is not None:
        from jobs.links.reports import write_rows_json

        wrote([write_rows_json(table, path)])


def wrote(paths: list[Path]) -> None:
    for path in paths:
        typer.echo(f"wrote {path}")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """A kernel's ValueError or TypeError (a bad option value) ends the command: ``error: ...``, exit code 2."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None


@app.command("network")
def network(
    cdr_path: CdrArg,
    period: Annotated[str, typer.Option(help="hour, day, week, month or all.")] = "week",
    seed: Annotated[int, typer.Option(help="Seed of Leiden and sampled betweenness.")] = 0,
    resolution: Annotated[float, typer.Option(help="Modularity resolution.")] = 1.0,
    betweenness_k: Annotated[int, typer.Option(help="Sampled sources for betweenness (0 = exact).")] = 256,
    top: Annotated[int, typer.Option(help="Key players shown per community.")] = 3,
    json_path: JsonOpt = None,
    graphml: Annotated[Optional[Path], typer.Option(help="Write the network as GraphML.")] = None,
    gexf: Annotated[Optional[Path], typer.Option(help="Write the network as GEXF.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write an offline interactive HTML view.")] = None,
    per_community: Annotated[Optional[Path], typer.Option(help="Folder for one GraphML/GEXF/HTML per community (latest period).")] = None,
    min_size: Annotated[int, typer.Option(help="Smallest community exported with --per-community.")] = 3,
    limit: LimitOpt = 30,
) -> None:
    """Build the call network per period: Leiden communities and key players."""
    import pyarrow.compute as pc

    from jobs.links.edges import aggregate_edges
    from jobs.links.graph import call_network
    from jobs.links.reports import write_latest_period

    with user_errors():
        cdr = read_table(cdr_path)
        edges = aggregate_edges(cdr, period=period)
        comms, keys = call_network(edges, seed=seed, resolution=resolution, betweenness_k=betweenness_k or None)
    typer.echo(f"{cdr.num_rows} CDR rows -> {edges.num_rows} edges, {pc.count_distinct(comms.column('phone')).as_py()} phones")
    top_keys = keys.filter(pc.less_equal(keys.column("rank"), top))
    _show(top_keys, "key players", limit,
          ["period", "community", "rank", "phone", "degree", "coreness", "betweenness", "eigenvector", "pagerank"])
    if json_path is not None:
        write_json(comms, json_path.with_name(json_path.stem + "_communities.json"))
        write_json(keys, json_path.with_name(json_path.stem + "_key_players.json"))
    wrote(write_latest_period(edges, comms, keys, graphml=graphml, gexf=gexf, html=html, per_community=per_community,
                               min_size=min_size))


@app.command("common-contacts")
def common_contacts_cmd(
    cdr_path: CdrArg,
    numbers: Annotated[list[str], typer.Argument(help="Numbers under investigation.")],
    min_shared: Annotated[Optional[int], typer.Option(help="Contacts of at least this many numbers (default all).")] = None,
    start: Annotated[Optional[str], typer.Option(help="Window start (ISO 8601, UTC).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Window end (ISO 8601, UTC).")] = None,
    json_path: JsonOpt = None,
    graphml: Annotated[Optional[Path], typer.Option(help="Write the investigation network as GraphML.")] = None,
    gexf: Annotated[Optional[Path], typer.Option(help="Write it as GEXF.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write it as offline HTML.")] = None,
    limit: LimitOpt = 30,
) -> None:
    """Phones in contact with several of the given numbers."""
    from jobs.links.queries import common_contacts
    from jobs.links.reports import write_investigation

    with user_errors():
        cdr = read_table(cdr_path)
        out = common_contacts(cdr, numbers, min_shared=min_shared, start=start, end=end)
    _show(out, "common contacts", limit)
    write_json(out, json_path)
    wrote(write_investigation(cdr, [*numbers, *out.column("contact").to_pylist()], graphml=graphml, gexf=gexf,
                               html=html, title="Common contacts"))


@app.command("call-chains")
def call_chains_cmd(
    cdr_path: CdrArg,
    source: Annotated[str, typer.Argument(help="First caller of the chains.")],
    window: Annotated[str, typer.Option(help="All hops within this time of the first (e.g. 24h).")] = "24h",
    max_hops: Annotated[int, typer.Option(help="Longest chain in calls.")] = 3,
    min_hops: Annotated[int, typer.Option(help="Shortest chain in calls.")] = 2,
    target: Annotated[Optional[str], typer.Option(help="Only chains ending at this phone.")] = None,
    start: Annotated[Optional[str], typer.Option(help="First hop at or after this time.")] = None,
    max_gap: Annotated[Optional[str], typer.Option(help="Largest time between hops.")] = None,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Time-respecting call chains A -> B -> C from a source number."""
    from jobs.links.queries import call_chains

    with user_errors():
        out = call_chains(read_table(cdr_path), source, window=window, max_hops=max_hops, min_hops=min_hops,
                          target=target, start=start, max_gap=max_gap)
    _show(out, "call chains", limit, ["chain_id", "n_hops", "phones", "times"])
    write_json(out, json_path)


@app.command("expand")
def expand_cmd(
    cdr_path: CdrArg,
    seeds: Annotated[list[str], typer.Argument(help="Seed numbers.")],
    depth: Annotated[int, typer.Option(help="Degrees of separation to expand.")] = 2,
    min_events: Annotated[int, typer.Option(help="Events a pair needs to count as contacts.")] = 1,
    start: Annotated[Optional[str], typer.Option(help="Window start.")] = None,
    end: Annotated[Optional[str], typer.Option(help="Window end.")] = None,
    json_path: JsonOpt = None,
    graphml: Annotated[Optional[Path], typer.Option(help="Write the expanded network as GraphML.")] = None,
    gexf: Annotated[Optional[Path], typer.Option(help="Write it as GEXF.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write it as offline HTML.")] = None,
    limit: LimitOpt = 30,
) -> None:
    """Contact expansion from seed numbers (second degree by default)."""
    from jobs.links.queries import contact_expansion
    from jobs.links.reports import write_investigation

    with user_errors():
        cdr = read_table(cdr_path)
        out = contact_expansion(cdr, seeds, depth=depth, min_events=min_events, start=start, end=end)
    _show(out, "contact expansion", limit)
    write_json(out, json_path)
    wrote(write_investigation(cdr, out.column("phone").to_pylist(), include_contacts=False, graphml=graphml,
                               gexf=gexf, html=html, title="Contact expansion"))


@app.command("colocation")
def colocation_cmd(
    cdr_path: CdrArg,
    cells_path: CellsArg,
    phones: Annotated[list[str], typer.Argument(help="Phones whose meetings are wanted.")],
    window: Annotated[str, typer.Option(help="Largest time between the two events.")] = "15min",
    mode: Annotated[str, typer.Option(help="same_cell, same_site or overlap.")] = "overlap",
    start: Annotated[Optional[str], typer.Option(help="Window start.")] = None,
    end: Annotated[Optional[str], typer.Option(help="Window end.")] = None,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Phones served at the same place (same cell/site or overlapping sectors) as the given phones."""
    from jobs.links.colocation import colocation

    with user_errors():
        out = colocation(read_table(cdr_path), read_table(cells_path), window=window, mode=mode, phones=phones, start=start, end=end)
    _show(out, "co-location", limit, ["phone_a", "phone_b", "place", "cell_a", "cell_b", "time_a", "time_b"])
    write_json(out, json_path)


@app.command("co-travel")
def co_travel_cmd(
    cdr_path: CdrArg,
    cells_path: CellsArg,
    min_places: Annotated[int, typer.Option(help="Distinct places two phones must share.")] = 3,
    window: Annotated[str, typer.Option(help="Largest time between the two events.")] = "15min",
    mode: Annotated[str, typer.Option(help="same_cell, same_site or overlap.")] = "overlap",
    phone: Annotated[Optional[list[str]], typer.Option(help="Restrict to these phones (repeatable).")] = None,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Pairs of phones co-located at several distinct places."""
    from jobs.links.colocation import co_travel

    with user_errors():
        out = co_travel(read_table(cdr_path), read_table(cells_path), min_places=min_places, window=window, mode=mode, phones=phone)
    _show(out, "co-travel", limit)
    write_json(out, json_path)


@app.command("tower-dump")
def tower_dump_cmd(
    cdr_path: Annotated[Optional[Path], typer.Argument(
        help="CDR_EVENTS as a Parquet file or a Delta table folder (default: silver/cdr_events of the lakehouse).")] = None,
    cells_path: Annotated[Optional[Path], typer.Argument(
        help="CELL_SITES as a Parquet file or a Delta table folder (default: silver/cell_sites of the lakehouse).")] = None,
    incident: Annotated[Optional[str], typer.Option(
        "--incident", help="Incident id of silver/incidents: its location and time are used (instead of --lon/--lat/--time).")] = None,
    lon: Annotated[Optional[float], typer.Option(help="Incident longitude (EPSG:4326).")] = None,
    lat: Annotated[Optional[float], typer.Option(help="Incident latitude (EPSG:4326).")] = None,
    time: Annotated[Optional[str], typer.Option(help="Incident time (ISO 8601, UTC).")] = None,
    lake: Annotated[Optional[str], typer.Option("--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE).")] = None,
    before: Annotated[str, typer.Option(help="Window before the incident.")] = "1h",
    after: Annotated[str, typer.Option(help="Window after the incident.")] = "1h",
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Phones served by cells covering an incident point around its time.

    Either name the incident (--incident ID, read from the lakehouse's silver
    incidents) or give --lon, --lat and --time. Without CDR_PATH and
    CELLS_PATH the lakehouse's silver cdr_events and cell_sites are read.
    """
    from jobs.links.colocation import tower_dump
    from jobs.links.inputs import to_timedelta
    from jobs.localtime import utc_timestamp
    from jobs.links.lookups import fusion_dump_phones, incident_point, tower_dump_rows

    manual = [name for name, v in (("--lon", lon), ("--lat", lat), ("--time", time)) if v is not None]
    lakehouse = None
    fusion_phones = None
    with user_errors():
        if incident is not None and manual:
            raise ValueError(f"give either --incident or --lon/--lat/--time, not both (got --incident and {', '.join(manual)})")
        if incident is None and len(manual) < 3:
            raise ValueError("give --incident ID, or all of --lon, --lat and --time")
        if (cdr_path is None) != (cells_path is None):
            raise ValueError("give both CDR_PATH and CELLS_PATH, or neither to read silver/cdr_events and "
                             "silver/cell_sites from the lakehouse")
        if incident is not None or cdr_path is None:  # the deployment's lakehouse, or the one at --lake
            from orchestration.resources.factory import cli_resources

            lakehouse = cli_resources(lake)[1]["lakehouse"]
        if incident is not None:
            lon, lat, time = incident_point(lakehouse, incident)
            fusion_phones = fusion_dump_phones(lakehouse, incident)
        t0 = utc_timestamp(time, "time")
        if cdr_path is None:
            cdr, cells = tower_dump_rows(lakehouse, t0 - to_timedelta(before, "before"), t0 + to_timedelta(after, "after"))
        else:
            cdr, cells = read_table(cdr_path), read_table(cells_path)
        out = tower_dump(cdr, cells, lon=lon, lat=lat, time=t0, before=before, after=after)
    if incident is not None:
        typer.echo(f"incident {incident}: lon {lon:.6f}, lat {lat:.6f}, {t0.isoformat()}")
    typer.echo(f"covering cells: {(out.schema.metadata or {}).get(b'cells', b'').decode() or 'none'}")
    _show(out, "tower dump", limit, ["phone", "n_events", "first_seen", "last_seen", "cells"])
    if fusion_phones is not None:
        typer.echo(f"gold/incident_context lists {fusion_phones} phone(s) in this incident's tower dump (fusion's own window)")
    write_json(out, json_path)


@app.command("swaps")
def swaps_cmd(
    cdr_path: CdrArg,
    min_count: Annotated[int, typer.Option(help="Report identifiers seen with at least this many others.")] = 2,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """IMEI/IMSI swaps: devices with several SIMs and SIMs in several devices."""
    from jobs.links.queries import device_swaps

    with user_errors():
        out = device_swaps(read_table(cdr_path), min_count=min_count)
    _show(out, "IMEI/IMSI swaps", limit)
    write_json(out, json_path)


@app.command("silent")
def silent_cmd(
    cdr_path: CdrArg,
    time: Annotated[str, typer.Option(help="Incident time (ISO 8601, UTC).")],
    baseline: Annotated[str, typer.Option(help="Baseline length before the gap.")] = "7D",
    gap_before: Annotated[str, typer.Option(help="Gap start before the incident.")] = "2h",
    gap_after: Annotated[str, typer.Option(help="Gap end after the incident.")] = "2h",
    min_expected: Annotated[float, typer.Option(help="Expected events needed to call a silence 'dark'.")] = 3.0,
    phone: Annotated[Optional[list[str]], typer.Option(help="Restrict to these phones (repeatable).")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every phone, not only those that went dark.")] = False,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Phones that went silent around an incident."""
    from jobs.links.queries import silent_periods

    with user_errors():
        out = silent_periods(read_table(cdr_path), incident_time=time, baseline=baseline, gap_before=gap_before,
                             gap_after=gap_after, phones=phone, min_expected=min_expected)
    if not all_rows:
        out = out.filter(out.column("went_dark"))
    _show(out, "silent periods", limit)
    write_json(out, json_path)


@app.command("burners")
def burners_cmd(
    cdr_path: CdrArg,
    max_active_days: Annotated[float, typer.Option(help="Short-lived: active at most this many days.")] = 14.0,
    max_contacts: Annotated[int, typer.Option(help="Few contacts: at most this many.")] = 5,
    min_score: Annotated[int, typer.Option(help="Indicators needed (of 3).")] = 2,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Phones that look like burners (short-lived, few contacts, shared handset)."""
    from jobs.links.queries import burner_candidates

    with user_errors():
        out = burner_candidates(read_table(cdr_path), max_active_days=max_active_days, max_contacts=max_contacts, min_score=min_score)
    out = out.filter(out.column("is_burner"))
    _show(out, "burner candidates", limit)
    write_json(out, json_path)


@app.command("fraud-rings")
def fraud_rings_cmd(
    txns_path: Annotated[Path, typer.Argument(help="TRANSACTIONS as a Parquet file or a Delta table folder.")],
    max_cycle_length: Annotated[int, typer.Option(help="Longest transfer cycle.")] = 5,
    cycle_window: Annotated[str, typer.Option(help="Time from first to last transfer of a cycle.")] = "7D",
    amount_tolerance: Annotated[float, typer.Option(help="Allowed relative change of amount per hop.")] = 0.2,
    min_fan_degree: Annotated[int, typer.Option(help="Counterparties of a fan-in/fan-out hub.")] = 5,
    fan_window: Annotated[str, typer.Option(help="Window of a fan pattern.")] = "3D",
    pass_through: Annotated[float, typer.Option(help="Share passed on that makes a hub a mule.")] = 0.8,
    include_plain_fans: Annotated[bool, typer.Option(help="Also report fan hubs that keep the money.")] = False,
    channel: Annotated[Optional[list[str]], typer.Option(help="Channels read as transfers (repeatable; default transfer).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the account communities.")] = 0,
    json_path: JsonOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Fraud rings: transfer cycles and mule fan-in/fan-out patterns."""
    from jobs.links.fraud import fraud_rings

    with user_errors():
        out = fraud_rings(read_table(txns_path), max_cycle_length=max_cycle_length, cycle_window=cycle_window,
                          amount_tolerance=amount_tolerance, min_fan_degree=min_fan_degree, fan_window=fan_window,
                          pass_through=pass_through, include_plain_fans=include_plain_fans,
                          channels=channel or ("transfer",), seed=seed)
    _show(out, "fraud rings", limit, ["ring_id", "patterns", "core_members", "n_txns", "total_amount", "first_at", "last_at", "community"])
    write_json(out, json_path)


# -- link charts and timelines on the lakehouse's tables ------------------------------------------

LakeOpt = Annotated[Optional[str], typer.Option("--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE).")]

from orchestration.cli import link_charts  # noqa: E402,F401  (registers `chart` and `timeline` on this app)
