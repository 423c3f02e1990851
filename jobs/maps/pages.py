"""The forecast and patrol pages: one self-contained HTML file each (Leaflet inline, no CDN, works offline).

What a person briefing from them must see: a base (tiles, or the study area's boundaries with
their labels), the week in local dates, a legend that states each colour's values and unit, a
scale bar, each cell's id, expected count, rank and drivers on hover, and the patrol cells of
each shift as a table.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.localtime import week_label
from jobs.maps.cells import ColourClasses, cell_rings, colour_classes, format_value, rank_of
from jobs.maps.layers import Areas, TileLayer, VectorLayer, areas_from
from jobs.maps.leaflet import LEAFLET_VERSION, page

__all__ = ["VALUE_UNIT", "forecast_page", "forecast_title", "patrol_page", "patrol_title", "period_note"]

#: What the shading of a weekly cell forecast measures.
VALUE_UNIT = "Expected incidents per cell per week"


def forecast_title(week, timezone: str) -> str:
    """``Expected incidents, week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)``."""
    return f"Expected incidents, {week_label(week, timezone)}"


def patrol_title(week, timezone: str) -> str:
    """``Patrol plan, week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)``."""
    return f"Patrol plan, {week_label(week, timezone)}"


def period_note(week, timezone: str) -> str:
    """The instants the forecast counts, in local time, when the zone is not UTC: the lake's weeks run
    from Monday 00:00 UTC, which is Sunday evening in the Americas."""
    start = pd.Timestamp(week)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    local = start.tz_convert(timezone)
    if local.utcoffset() == pd.Timedelta(0) and (start + pd.Timedelta(weeks=1)).tz_convert(timezone).utcoffset() \
            == pd.Timedelta(0):
        return ""
    end = (start + pd.Timedelta(weeks=1)).tz_convert(timezone)
    return (f"The forecast counts incidents from {local:%a} {local.day} {local:%b %H:%M} to {end:%a} {end.day} "
            f"{end:%b %H:%M} local time (the model's weeks start Monday 00:00 UTC).")


def _cell_payload(h3: list[str], values: np.ndarray, rank: np.ndarray, classes: ColourClasses,
                  top: np.ndarray | None, drivers: list | None) -> dict:
    rings = cell_rings(h3)
    flat = [[round(float(v), 5) for pt in r[:-1] for v in (pt[1], pt[0])] for r in rings]  # lat, lon; open ring
    return {
        "ids": h3,
        "rings": flat,
        "value": [float(v) if np.isfinite(v) else 0.0 for v in values],
        "rank": [int(r) for r in rank],
        "cls": [int(k) for k in classes.cls],
        "top": [bool(t) for t in top] if top is not None else None,
        "drivers": [_driver_text(d) for d in drivers] if drivers is not None else None,
    }


def _driver_text(d) -> str | None:
    if d is None:
        return None
    if isinstance(d, (list, tuple)):
        return ", ".join(str(x) for x in d if x is not None) or None
    return str(d) or None


def _cell_size(h3: list[str]) -> str:
    import h3 as h3lib

    if not h3:
        return ""
    res = h3lib.get_resolution(h3[0])
    km2 = h3lib.average_hexagon_area(res, unit="km^2")
    return f"H3 resolution {res} cells, about {format_value(km2)} km² each"


def _legend_html(classes: ColourClasses, unit: str, cell_size: str, extra_rows: Sequence[str]) -> str:
    rows = [f"<div class='cf-legend-title'>{html.escape(unit)}</div>"]
    if cell_size:
        rows.append(f"<div class='cf-legend-unit'>{html.escape(cell_size)}</div>")
    for colour, label, n in classes.legend_rows():
        rows.append(f"<div class='cf-legend-row'><i class='cf-swatch' style='background:{colour}'></i>"
                    f"<span class='cf-legend-value'>{html.escape(label)}</span> "
                    f"<span class='cf-legend-n'>({n:,} cells)</span></div>")
    if classes.n_zero:
        rows.append(f"<div class='cf-legend-row'><i class='cf-swatch cf-swatch-zero'></i>"
                    f"<span class='cf-legend-value'>0</span> <span class='cf-legend-n'>({classes.n_zero:,} cells, "
                    "not shaded)</span></div>")
    rows += list(extra_rows)
    if classes.breaks:
        rows.append("<div class='cf-legend-note'>Class breaks: median, 80th, 95th and 99th percentile of the cells "
                    "with any expected incident.</div>")
    return "".join(rows)


def _header(title: str, lines: Sequence[str], serving: str = "") -> str:
    parts = [f"<header class='cf-header'><h1>{html.escape(title)}</h1>"]
    if serving:
        parts.append(f"<p class='cf-serving'>{html.escape(serving)}</p>")
    parts += [f"<p>{html.escape(line)}</p>" for line in lines if line]
    return "".join(parts) + "</header>"


def _footer(base: str) -> str:
    return (f"<footer class='cf-footer'>Base: {html.escape(base)}. Drawn with Leaflet {LEAFLET_VERSION} "
            "(BSD-2-Clause, shipped with crimefusion: no network needed). Hover a cell for its id, expected "
            "count and rank.</footer>")


def _base(areas: Areas, tiles: TileLayer | None, layers: Sequence[VectorLayer]) -> tuple[dict, str]:
    data = {
        "tiles": ({"url": tiles.url, "attribution": tiles.credit(), "max_zoom": tiles.max_zoom}
                  if tiles is not None else None),
        "areas": areas.features(),
        "layers": [{"name": layer.name, "slug": re.sub(r"[^a-z0-9]+", "-", layer.name.lower()).strip("-"),
                    "colour": layer.colour, "weight": layer.weight, "features": layer.features()}
                   for layer in layers],
    }
    names = ", ".join(["area boundaries"] + [layer.name for layer in layers])
    return data, (f"{tiles.credit()}, with {names}" if tiles is not None else f"{names} of the lakehouse")


def forecast_page(
    table: pa.Table,
    districts: pa.Table | Sequence[bytes] | Areas,
    *,
    week,
    timezone: str = "UTC",
    serving: str = "",
    tiles: TileLayer | None = None,
    layers: Sequence[VectorLayer] = (),
    top_label: str = "Top cells",
) -> str:
    """The forecast page of one week's forecast table (``models.hotspots.serving.forecast_table``).

    Parameters
    ----------
    table
        ``h3``, ``expected_count``, ``risk_rank``, ``in_top_cells``, ``expected_share``; ``drivers``
        (one text or list per cell) is shown on hover and in the top-cell table when present.
    districts
        The study area's ``reference/police_districts`` rows (``area_id``, ``name``, ``geometry``),
        or bare WKB polygons (drawn without labels).
    week, timezone
        The forecast week (its Monday 00:00 UTC) and the study area's IANA zone: the title's local dates.
    serving
        One line naming the method that served the forecast and its margin.
    tiles, layers
        A tile server replacing the drawn base; extra vector layers (streets, landmarks).
    """
    missing = {"h3", "expected_count"} - set(table.column_names)
    if missing:
        raise ValueError(f"forecast table lacks {sorted(missing)}; got {table.column_names}")
    h3 = [str(c) for c in table.column("h3").to_pylist()]
    values = np.nan_to_num(table.column("expected_count").to_numpy(zero_copy_only=False).astype(np.float64))
    rank = (table.column("risk_rank").to_numpy(zero_copy_only=False) if "risk_rank" in table.column_names
            else rank_of(h3, values))
    top = (table.column("in_top_cells").to_numpy(zero_copy_only=False).astype(bool)
           if "in_top_cells" in table.column_names else None)
    drivers = table.column("drivers").to_pylist() if "drivers" in table.column_names else None
    if drivers is not None and all(_driver_text(d) is None for d in drivers):
        drivers = None  # a baseline champion: no drivers to show
    classes = colour_classes(values)
    areas = areas_from(districts)
    title = forecast_title(week, timezone)
    extra = []
    n_top = int(top.sum()) if top is not None else 0
    if n_top:
        share = ""
        if "expected_share" in table.column_names:
            held = float(np.max(table.column("expected_share").to_numpy(zero_copy_only=False)[top]))
            share = f"; {100 * held:.1f} % of the week's expected incidents"
        extra.append(f"<div class='cf-legend-row'><i class='cf-swatch cf-swatch-top'></i>"
                     f"<span class='cf-legend-value'>{html.escape(top_label)}</span> "
                     f"<span class='cf-legend-n'>({n_top:,} cells{share})</span></div>")
    data, base = _base(areas, tiles, layers)
    data.update({
        "cells": _cell_payload(h3, values, rank, classes, top, drivers),
        "colours": list(classes.colours),
        "legend_html": _legend_html(classes, VALUE_UNIT, _cell_size(h3), extra),
        "value_label": "incidents this week",
        "patrol": None,
    })
    total = float(values.sum())
    lines = [f"{total:,.1f} expected incidents over {len(h3):,} cells.", period_note(week, timezone)]
    body = _top_table(table, h3, values, rank, top, drivers) + _footer(base)
    return page(title=title, header=_header(title, lines, serving), body=body, data=data)


def _top_table(table: pa.Table, h3: list[str], values: np.ndarray, rank: np.ndarray, top: np.ndarray | None,
               drivers: list | None) -> str:
    if top is None or not top.any():
        return ""
    rows = sorted(np.flatnonzero(top), key=lambda i: rank[i])
    cum = (table.column("expected_share").to_numpy(zero_copy_only=False)
           if "expected_share" in table.column_names else None)
    head = ("<tr><th>Rank</th><th>Cell</th><th>Expected</th>" + ("<th>Cumulative share</th>" if cum is not None else "")
            + ("<th class='cf-drivers'>Drivers</th>" if drivers is not None else "") + "</tr>")
    body = []
    for i in rows:
        body.append(f"<tr><td>{int(rank[i])}</td><td>{html.escape(h3[i])}</td><td>{values[i]:.2f}</td>"
                    + (f"<td>{100 * cum[i]:.1f} %</td>" if cum is not None else "")
                    + (f"<td class='cf-drivers'>{html.escape(_driver_text(drivers[i]) or '')}</td>"
                       if drivers is not None else "") + "</tr>")
    return (f"<section class='cf-tables'><h2>Top cells ({len(rows)}), by rank</h2>"
            f"<table class='cf-table cf-top-table'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
            "</section>")


def patrol_page(
    h3: Sequence[str],
    expected: np.ndarray,
    plan: pa.Table,
    districts: pa.Table | Sequence[bytes] | Areas,
    *,
    week,
    timezone: str = "UTC",
    tiles: TileLayer | None = None,
    layers: Sequence[VectorLayer] = (),
) -> str:
    """The patrol page: the week's forecast shaded, a shift selector outlining and numbering that shift's
    patrol cells, and a table of every shift's cells (rank, cell, expected count, share, weekly rank).

    ``plan`` is a :func:`jobs.grid.patrol.patrol_plan` table (``shift_start``, ``shift_label``, ``rank``,
    ``h3``, ``expected_count``, ``share_of_shift``); ``h3`` and ``expected`` the week's forecast per cell.
    """
    missing = {"shift_start", "shift_label", "rank", "h3", "expected_count", "share_of_shift"} - set(plan.column_names)
    if missing:
        raise ValueError(f"patrol plan lacks {sorted(missing)}; got {plan.column_names}")
    h3 = [str(c) for c in h3]
    values = np.nan_to_num(np.asarray(expected, dtype=np.float64))
    if len(values) != len(h3):
        raise ValueError(f"{len(h3)} cells but {len(values)} expected counts")
    rank = rank_of(h3, values)
    weekly_rank = dict(zip(h3, rank.tolist()))
    classes = colour_classes(values)
    areas = areas_from(districts)
    df = plan.select(["shift_start", "shift_label", "rank", "h3", "expected_count", "share_of_shift"]).to_pandas()
    df = df.sort_values(["shift_start", "rank"], kind="stable")
    shifts = []
    for (_, label), g in df.groupby(["shift_start", "shift_label"], sort=True):
        shifts.append({"label": str(label),
                       "cells": [[str(r.h3), int(r.rank), float(r.expected_count), float(r.share_of_shift)]
                                 for r in g.itertuples(index=False)]})
    capacity = max((len(s["cells"]) for s in shifts), default=0)
    title = patrol_title(week, timezone)
    extra = ["<div class='cf-legend-row'><i class='cf-swatch cf-swatch-patrol'></i>"
             "<span class='cf-legend-value'>Patrol cells of the selected shift</span> "
             "<span class='cf-legend-n'>(numbered by rank)</span></div>"]
    data, base = _base(areas, tiles, layers)
    data.update({
        "cells": _cell_payload(h3, values, rank, classes, None, None),
        "colours": list(classes.colours),
        "legend_html": _legend_html(classes, VALUE_UNIT, _cell_size(h3), extra),
        "value_label": "incidents this week",
        "patrol": {"shifts": shifts, "selected": 0},
    })
    lines = [f"{capacity} cells per 8-hour shift, ranked by the shift's expected incidents (the week's forecast "
             f"shared out by each cell's time-of-week profile). Times are local ({timezone}).",
             period_note(week, timezone)]
    options = "".join(f"<option value='{k}'>{html.escape(s['label'])}</option>" for k, s in enumerate(shifts))
    controls = (f"<div class='cf-controls'><label for='cf-shift'>Shift shown on the map: </label>"
                f"<select id='cf-shift'>{options}</select></div>")
    body = _shift_tables(shifts, weekly_rank, len(h3), timezone) + _footer(base)
    return page(title=title, header=_header(title, lines) + controls, body=body, data=data)


def _shift_tables(shifts: list[dict], weekly_rank: dict[str, int], n: int, timezone: str) -> str:
    out = [f"<section class='cf-tables'><h2>Patrol cells by shift (local time, {html.escape(timezone)})</h2>"
           "<div class='cf-shift-grid'>"]
    for k, s in enumerate(shifts):
        rows = "".join(
            f"<tr><td>{r[1]}</td><td>{html.escape(r[0])}</td><td>{r[2]:.2f}</td><td>{100 * r[3]:.1f} %</td>"
            f"<td>{weekly_rank.get(r[0], 0):,} of {n:,}</td></tr>" for r in s["cells"])
        out.append(f"<table class='cf-table cf-shift-table' data-shift='{k}'>"
                   f"<caption>{html.escape(s['label'])}</caption><thead><tr><th>Rank</th><th>Cell</th>"
                   "<th>Expected</th><th>Share of shift</th><th>Week rank</th></tr></thead>"
                   f"<tbody>{rows}</tbody></table>")
    return "".join(out) + "</div></section>"
