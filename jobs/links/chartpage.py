"""Link charts as self-contained HTML pages: Cytoscape.js inline, a legend, aliases, call timelines.

One page shows one :class:`jobs.links.selections.Selection` of a week's call network. What an analyst
must see on it (i2 Analyst's Notebook is the benchmark): each phone labelled with its short alias
(:mod:`jobs.links.aliases`; the pseudonym on hover and in the side panel), coloured by community with a
legend that names every colour (the communities beyond the palette grouped as "other" and counted),
links drawn by kind (calls, SMS, both) with the legend saying which is which and arrows for who called
whom, key players ringed, and, on clicking a link, the time-ordered calls and SMS of the two phones in
the feed's local time. Cytoscape.js 3.35.0 (MIT, ``static/cytoscape/LICENSE``) ships in the package,
so a page opened from ``file://`` with no network draws the same chart. The layout is computed here
(igraph's Fruchterman-Reingold, seeded) so the same data always give the same picture.

Unlike the kernels of this package these functions return HTML; writing it is
:mod:`jobs.links.reports`' business.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs import vendored
from jobs.links.aliases import ALIAS_LENGTH, alias_map
from jobs.links.selections import ROLES, Selection
from jobs.links.timeline import time_label
from jobs.localtime import utc_timestamp

__all__ = ["CYTOSCAPE_VERSION", "LINK_KINDS", "PALETTE", "chart_html", "chart_payload", "cytoscape_js", "index_html",
           "static_text", "window_label"]

CYTOSCAPE_VERSION = "3.35.0"
#: Community colours (Tableau 10 without its grey, and a dark cyan): a chart colours its largest
#: communities with these, in order, and the rest grey as "other communities".
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
           "#1b7c8c"]
OTHER_COLOUR = "#c8c8c8"
NO_COMMUNITY_COLOUR = "#ffffff"
#: Link kinds by which counts a pair has: (legend label, colour, line style).
LINK_KINDS = {
    "voice": ("Calls only", "#455a64", "solid"),
    "sms": ("SMS only", "#e65100", "dashed"),
    "both": ("Calls and SMS", "#6a1b9a", "solid"),
    "contact": ("Calls or SMS", "#455a64", "solid"),
}
#: Node shape of each role (Cytoscape shape names).
SHAPES = {"ego": "star", "scene": "diamond"}
#: Roles drawn paler: the outer rings of an ego network.
PALE_ROLES = ("hop2", "hop3")
KEY_PLAYER_RANK = 3  # ringed: the best-ranked phones of their community (key_players.rank)
_EVENTS_PER_LINK = 500


def static_text(*parts: str) -> str:
    """A text file shipped under ``jobs/links/static/`` (package data)."""
    return vendored.static_text("jobs.links", *parts)


@cache
def cytoscape_js() -> str:
    """Cytoscape.js's minified script, checked to be the vendored version."""
    return vendored.minified_script("jobs.links", ("cytoscape", "cytoscape.min.js"), f'.version="{CYTOSCAPE_VERSION}"',
                                    f"Cytoscape.js {CYTOSCAPE_VERSION}")


def _script_json(data: dict) -> str:
    # inside <script type="application/json">: "</" would end the element early
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def window_label(start, end, timezone: str) -> str:
    """``Sun 24 Dec 18:00 to Sun 31 Dec 18:00 (America/Chicago)``: a UTC window in local time."""
    a, b = (pd.Timestamp(t).tz_convert(timezone) if pd.Timestamp(t).tzinfo else pd.Timestamp(t).tz_localize("UTC").tz_convert(timezone)
            for t in (start, end))
    return f"{a:%a} {a.day} {a:%b %H:%M} to {b:%a} {b.day} {b:%b %H:%M} ({timezone})"


def _link_kind(n_voice: int | None, n_sms: int | None) -> str:
    if n_voice is None or n_sms is None:
        return "contact"
    if n_voice and n_sms:
        return "both"
    return "voice" if n_voice else "sms"


def _node_table(phones: Sequence[str], communities: pa.Table | None, key_players: pa.Table | None) -> pd.DataFrame:
    n = pd.DataFrame({"phone": list(phones)})
    for extra in (communities, key_players):
        if extra is None or extra.num_rows == 0:
            continue
        x = extra.to_pandas()
        if "period" in x.columns:
            x = x.sort_values("period").drop_duplicates("phone", keep="last")
        keep = [c for c in ("community", "size", "degree", "strength", "betweenness", "pagerank", "rank")
                if c in x.columns and c not in n.columns]
        n = n.merge(x[["phone", *keep]], on="phone", how="left")
    return n


def _layout(n: int, edges: list[tuple[int, int, int]], seed: int) -> np.ndarray:
    """Positions of ``n`` nodes: each connected component by Kamada-Kawai (seeded), the components packed
    in rows, largest first, so phones without links line up below the network instead of hiding in it.

    Notes
    -----
    Kamada & Kawai (1989), "An algorithm for drawing general undirected graphs", Inf. Process. Lett. 31;
    shelf packing of the components' boxes.
    """
    import igraph as ig

    if n == 0:
        return np.zeros((0, 2))
    g = ig.Graph(n=n, edges=[(a, b) for a, b, _ in edges], directed=False)
    rng = np.random.default_rng(seed)
    parts = sorted((sorted(c) for c in g.connected_components()), key=lambda c: (-len(c), c[0]))
    unit = 110.0  # between neighbours, against nodes 16 to 44 across
    boxes = []
    for comp in parts:
        if len(comp) == 1:
            boxes.append((comp, np.zeros((1, 2))))
            continue
        sub = g.subgraph(comp)
        xy = np.asarray(sub.layout_kamada_kawai(seed=rng.random((len(comp), 2)).tolist(),
                                                maxiter=50 * len(comp)).coords, dtype=float).reshape(-1, 2)
        xy -= xy.min(axis=0)
        # Kamada-Kawai puts graph-distance-1 nodes about 1 apart: scale so neighbours sit ``unit`` apart
        boxes.append((comp, xy * unit))
    area = sum((xy[:, 0].max() + unit) * (xy[:, 1].max() + unit) for _, xy in boxes)
    # rows about 1.6 times as wide as the whole is high (the chart's region), never narrower than the largest part
    width = max(boxes[0][1][:, 0].max(), 1.6 * boxes[0][1][:, 1].max(), math.sqrt(1.6 * area))
    out = np.zeros((n, 2))
    x = y = shelf = 0.0
    for comp, xy in boxes:
        w, h = xy[:, 0].max(), xy[:, 1].max()
        if x > 0 and x + w > width:
            x, y, shelf = 0.0, y + shelf + unit, 0.0
        out[comp] = xy + np.array([x, y])
        x += w + unit
        shelf = max(shelf, h)
    return out


def _day_ticks(start: pd.Timestamp, end: pd.Timestamp, timezone: str) -> list[list]:
    a, b = start.tz_convert(timezone), end.tz_convert(timezone)
    days = pd.date_range(a.normalize(), b.normalize(), freq="D")  # local midnights (DST-aware)
    out = []
    for d in days:
        if a <= d <= b:
            out.append([int(d.tz_convert("UTC").value // 1_000_000), f"{d:%a} {d.day} {d:%b}"])
    return out


def chart_payload(selection: Selection, pairs: pd.DataFrame, *, communities: pa.Table | None = None,
                  key_players: pa.Table | None = None, events: pa.Table | None = None,
                  aliases: Mapping[str, str] | None = None, timezone: str = "UTC", window=None,
                  seed: int = 0) -> dict:
    """The data a chart page draws (JSON-ready): nodes with alias, colour, size and position, links with
    kind and counts each way, each link's events for its timeline, and the legend's rows.

    Parameters
    ----------
    selection
        The phones to show (:mod:`jobs.links.selections`).
    pairs
        :func:`jobs.links.selections.phone_pairs` of the network; the links among the selection's
        phones are drawn.
    communities, key_players
        One period's ``call_communities`` and ``key_players`` (colour, size by PageRank, key players
        ringed); optional.
    events
        :func:`jobs.links.timeline.contact_events` of the selection's phones in ``window``; without it
        a link's timeline says only its totals.
    aliases
        Pseudonym -> alias (:func:`jobs.links.aliases.alias_map` of the lake's phones, so a phone has
        the same alias in every chart); default the aliases of the selection's own phones.
    timezone
        Where people read the times (the CDR feed's local time zone).
    window
        ``(start, end)`` UTC of the events and of the timelines' axis.
    seed
        Seed of the layout.
    """
    phones = list(selection.phones)
    aliases = dict(aliases) if aliases is not None else {}
    if any(p not in aliases for p in phones):  # phones outside the map given: unique among both
        aliases = alias_map([*aliases, *phones])
    idx = {p: i for i, p in enumerate(phones)}
    inside = pairs[pairs["a"].isin(idx) & pairs["b"].isin(idx)].reset_index(drop=True)
    nodes = _node_table(phones, communities, key_players)

    comm = nodes["community"].fillna(-1).astype(int).to_numpy() if "community" in nodes.columns else np.full(len(phones), -1)
    counts = Counter(int(k) for k in comm if k >= 0)
    order = sorted(counts, key=lambda k: (-counts[k], k))
    coloured = order if len(order) <= len(PALETTE) else order[:len(PALETTE)]
    colour_of = {k: PALETTE[i] for i, k in enumerate(coloured)}
    others = [k for k in order if k not in colour_of]
    size_of = {}
    if "size" in nodes.columns:
        size_of = {int(k): int(s) for k, s in zip(comm, nodes["size"]) if k >= 0 and pd.notna(s)}

    pr = nodes["pagerank"].fillna(0).to_numpy(dtype=float) if "pagerank" in nodes.columns else np.zeros(len(phones))
    scale = np.sqrt(pr / pr.max()) if len(pr) and pr.max() > 0 else np.zeros(len(phones))
    edge_list = [(idx[a], idx[b], int(w)) for a, b, w in zip(inside["a"], inside["b"], inside["n_events"])]
    xy = _layout(len(phones), edge_list, seed)
    degree_here = Counter([a for a, _, _ in edge_list] + [b for _, b, _ in edge_list])

    def num(col: str, i: int, digits: int = 6):
        if col not in nodes.columns or pd.isna(nodes[col].iat[i]):
            return None
        v = nodes[col].iat[i]
        return int(v) if col in ("degree", "rank", "community", "size") else round(float(v), digits)

    node_rows = []
    for i, p in enumerate(phones):
        k = int(comm[i])
        rank = num("rank", i)
        role = selection.roles.get(p, "member")
        node_rows.append({
            "id": p, "alias": aliases[p], "role": role, "k": k,
            "c": colour_of.get(k, OTHER_COLOUR if k >= 0 else NO_COMMUNITY_COLOUR),
            "s": round(float(16 + 28 * scale[i]) if role != "ego" else 44.0, 1),
            "shape": SHAPES.get(role, "ellipse"),
            "key": bool(rank is not None and rank <= KEY_PLAYER_RANK),
            "x": round(float(xy[i, 0]), 1), "y": round(float(xy[i, 1]), 1),
            "a": {"community": k if k >= 0 else None, "rank": rank, "pagerank": num("pagerank", i),
                  "degree": num("degree", i), "betweenness": num("betweenness", i, 2), "links_here": degree_here.get(i, 0)},
        })

    has_kinds = {"n_voice", "n_sms"} <= set(inside.columns)
    edge_rows, pair_index = _edge_rows(inside, idx, has_kinds)
    timeline, clipped = _timelines(events, idx, pair_index, timezone) if edge_rows else ({}, 0)

    kinds_present = Counter(e["kind"] for e in edge_rows)
    legend_kinds = [{"kind": k, "label": LINK_KINDS[k][0], "colour": LINK_KINDS[k][1], "style": LINK_KINDS[k][2],
                     "n": kinds_present.get(k, 0)}
                    for k in (("voice", "sms", "both") if has_kinds else ("contact",))]
    roles_present = Counter(n["role"] for n in node_rows)
    payload = {
        "nodes": node_rows,
        "edges": edge_rows,
        "events": timeline,
        "kinds": {k: {"label": v[0], "colour": v[1], "style": v[2]} for k, v in LINK_KINDS.items()},
        "legend": {
            "communities": [{"k": k, "colour": colour_of[k], "here": counts[k], "size": size_of.get(k)} for k in coloured],
            "other": {"n": len(others), "phones": sum(counts[k] for k in others), "colour": OTHER_COLOUR,
                      "palette": len(PALETTE)} if others else None,
            "unassigned": int((comm < 0).sum()),
            "kinds": legend_kinds,
            "roles": [{"role": r, "label": ROLES[r], "shape": SHAPES.get(r, "ellipse"), "n": roles_present[r]}
                      for r in ROLES if roles_present.get(r)],
            "key_players": sum(1 for n in node_rows if n["key"]),
        },
        "timezone": timezone,
        "clipped_events": clipped,
        "focus": idx.get(selection.focus) if selection.focus else None,
    }
    if window is not None:
        start, end = (utc_timestamp(t, "window") for t in window)
        payload["window"] = {"start": int(start.value // 1_000_000), "end": int(end.value // 1_000_000),
                             "label": window_label(start, end, timezone), "days": _day_ticks(start, end, timezone)}
    return payload


def _edge_rows(inside: pd.DataFrame, idx: Mapping[str, int], has_kinds: bool) -> tuple[list[dict], dict]:
    """The links among the selection's phones as the page draws them, and ``(a, b) -> row`` of each pair."""
    edge_rows, pair_index = [], {}
    for j, r in enumerate(inside.itertuples(index=False)):
        kind = _link_kind(getattr(r, "n_voice", None) if has_kinds else None, getattr(r, "n_sms", None) if has_kinds else None)
        row = {"a": idx[r.a], "b": idx[r.b], "kind": kind, "n": int(r.n_events),
               "ab": int(getattr(r, "a_to_b", 0)), "ba": int(getattr(r, "b_to_a", 0)),
               "w": round(min(9.0, 1.0 + 1.6 * math.log2(1 + int(r.n_events))), 2)}
        if has_kinds:
            row.update(voice=int(r.n_voice), sms=int(r.n_sms))
        if "total_duration_s" in inside.columns:
            row["dur"] = int(r.total_duration_s)
        edge_rows.append(row)
        pair_index[(r.a, r.b)] = j
    return edge_rows, pair_index


def _timelines(events: pa.Table | None, idx: Mapping[str, int], pair_index: Mapping, timezone: str
               ) -> tuple[dict[str, list], int]:
    """Each drawn link's calls and messages (at most ``_EVENTS_PER_LINK``, local time labels), and how many were
    left out."""
    timeline: dict[str, list] = {}
    clipped = 0
    if events is None or not events.num_rows:
        return timeline, clipped
    ev = events.select(["start_time", "caller", "callee", "kind", "duration_s"]).to_pandas()
    ev = ev[ev["caller"].isin(idx) & ev["callee"].isin(idx)]
    ev = ev.assign(a=np.minimum(ev["caller"], ev["callee"]), b=np.maximum(ev["caller"], ev["callee"]))
    for (a, b), grp in ev.groupby(["a", "b"], sort=False):
        j = pair_index.get((a, b))
        if j is None:
            continue
        grp = grp.sort_values("start_time", kind="stable")
        clipped += max(0, len(grp) - _EVENTS_PER_LINK)
        timeline[str(j)] = [
            [int(pd.Timestamp(t).value // 1_000_000), time_label(t, timezone), "v" if kd == "voice" else "s",
             int(d or 0), 1 if c == a else -1]
            for t, c, kd, d in zip(grp["start_time"].iloc[:_EVENTS_PER_LINK], grp["caller"], grp["kind"],
                                   grp["duration_s"])]
    return timeline, clipped


# -- the page -------------------------------------------------------------------------------------

def _legend_html(payload: dict) -> str:
    lg = payload["legend"]
    esc = html.escape
    rows = ["<h2>Legend</h2>", "<div class='cf-legend-title'>Communities</div>",
            "<div class='cf-legend-note'>Leiden communities of the week's whole network: phones in this chart "
            "(of the community's).</div>"]
    for c in lg["communities"]:
        size = f" of {c['size']}" if c["size"] is not None else ""
        rows.append(f"<div class='cf-legend-row cf-community' data-k='{c['k']}'><span class='cf-dot' style='background:{c['colour']}'>"
                    f"</span>Community {c['k']} <span class='cf-legend-n'>{c['here']}{size} phones</span></div>")
    if lg["other"]:
        o = lg["other"]
        rows.append(f"<div class='cf-legend-row cf-other'><span class='cf-dot' style='background:{o['colour']}'></span>"
                    f"{o['n']} other communities <span class='cf-legend-n'>{o['phones']} phones</span>"
                    f"<div class='cf-legend-note'>grey: only the {o['palette']} communities with most phones here "
                    f"get a colour of their own</div></div>")
    if lg["unassigned"]:
        rows.append(f"<div class='cf-legend-row'><span class='cf-dot' style='background:{NO_COMMUNITY_COLOUR}'></span>"
                    f"no community this week <span class='cf-legend-n'>{lg['unassigned']} phones</span></div>")
    rows.append("<div class='cf-legend-title'>Links</div>")
    for k in lg["kinds"]:
        dash = " stroke-dasharray='6 4'" if k["style"] == "dashed" else ""
        rows.append(f"<div class='cf-legend-row cf-kind' data-kind='{k['kind']}'><svg class='cf-line' width='34' height='10' "
                    f"aria-hidden='true'><line x1='1' y1='5' x2='33' y2='5' stroke='{k['colour']}' stroke-width='3'{dash}/>"
                    f"</svg>{esc(k['label'])} <span class='cf-legend-n'>{k['n']}</span></div>")
    rows.append("<div class='cf-legend-note'>Width: calls and SMS in the week. Arrow: who called or texted whom "
                "(both ends: both ways).</div>")
    rows.append("<div class='cf-legend-title'>Phones</div>")
    for r in lg["roles"]:
        pale = " cf-shape-pale" if r["role"] in PALE_ROLES else ""
        rows.append(f"<div class='cf-legend-row cf-role' data-role='{r['role']}'><span class='cf-shape cf-shape-{r['shape']}{pale}'>"
                    f"</span>{esc(r['label'][0].upper() + r['label'][1:])} <span class='cf-legend-n'>{r['n']}</span></div>")
    if lg["key_players"]:
        rows.append(f"<div class='cf-legend-row cf-key'><span class='cf-dot cf-dot-key'></span>Key player (top "
                    f"{KEY_PLAYER_RANK} of its community) <span class='cf-legend-n'>{lg['key_players']}</span></div>")
    rows.append("<div class='cf-legend-note'>Size: PageRank in the week's network. Label: the phone's alias, "
                f"<code>P-</code> and {ALIAS_LENGTH} characters of its pseudonym's hash, the same in every chart; "
                "the pseudonym is in the tooltip and the details.</div>")
    return "<section class='cf-legend' aria-label='Legend'>" + "".join(rows) + "</section>"


def chart_html(payload: dict, *, title: str, subtitle: str = "", notes: Sequence[str] = ()) -> str:
    """A self-contained chart page (Cytoscape.js, the page's script and style, the data, all inline)."""
    esc = html.escape
    n_nodes, n_edges = len(payload["nodes"]), len(payload["edges"])
    events = sum(len(v) for v in payload["events"].values())
    stats = f"{n_nodes:,} phones, {n_edges:,} links" + (f", {events:,} calls and SMS in the timelines" if events else "")
    note_html = "".join(f"<p class='cf-note'>{esc(n)}</p>" for n in notes)
    if payload.get("clipped_events"):
        note_html += (f"<p class='cf-note'>{payload['clipped_events']:,} calls and SMS past the first {_EVENTS_PER_LINK} "
                      "of a link are left out of its timeline (crimefusion links timeline lists them all).</p>")
    when = payload.get("window", {}).get("label")
    footer = (f"Times in {esc(payload['timezone'])}"
              + (f"; calls and SMS from {esc(when)}" if when else "")
              + f". Drawn with Cytoscape.js {CYTOSCAPE_VERSION} (MIT), inline: the page needs no network. crimefusion.")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='generator' content='crimefusion jobs.links, Cytoscape.js {CYTOSCAPE_VERSION}'>"
        f"<title>{esc(title)}</title>\n<style>{static_text('linkchart.css')}</style></head>\n<body>"
        f"<header class='cf-header'><h1>{esc(title)}</h1>"
        + (f"<p class='cf-subtitle'>{esc(subtitle)}</p>" if subtitle else "")
        + f"<p class='cf-stats'>{stats}</p>{note_html}</header>"
        "<div class='cf-controls'><label>Find <input id='cf-search' type='search' size='28' "
        "placeholder='alias (P-…) or pseudonym' autocomplete='off'></label> "
        "<button id='cf-reset' type='button'>Reset view</button> <span class='cf-help'>Drag to pan, wheel to zoom. "
        "Click a phone for its details, a link for the timeline of its calls and SMS.</span></div>"
        f"<main class='cf-main'><div id='cf-graph' role='region' aria-label='{esc(title, quote=True)}'></div>"
        f"<aside class='cf-side'>{_legend_html(payload)}<section id='cf-details' class='cf-details' aria-live='polite'>"
        "<h2>Details</h2><p class='cf-hint'>Click a phone or a link.</p></section></aside></main>"
        "<section id='cf-timeline' class='cf-timeline' aria-live='polite'><h2>Timeline</h2>"
        "<p class='cf-hint'>Click a link to list the calls and SMS between its two phones, oldest first.</p></section>"
        f"<footer class='cf-footer'>{footer}</footer><div id='cf-tip' class='cf-tip' hidden></div>\n"
        f"<script>{cytoscape_js()}</script>\n"
        f"<script type='application/json' id='cf-chart-data'>{_script_json(payload)}</script>\n"
        f"<script>{static_text('linkchart.js')}</script></body></html>\n"
    )


def index_html(*, title: str, subtitle: str, sections: Sequence[tuple[str, str, Sequence[dict]]],
               help_lines: Sequence[str] = ()) -> str:
    """The folder's entry page: one table per kind of chart (``(heading, note, rows)``; each row's
    ``href`` and ``chart`` make the link, its other keys the columns)."""
    esc = html.escape
    parts = []
    for heading, note, rows in sections:
        parts.append(f"<h2>{esc(heading)}</h2>" + (f"<p class='cf-note'>{esc(note)}</p>" if note else ""))
        if not rows:
            parts.append("<p class='cf-hint'>None this week.</p>")
            continue
        cols = [c for c in rows[0] if c not in ("href", "chart")]
        head = "<th>chart</th>" + "".join(f"<th>{esc(c)}</th>" for c in cols)
        body = "".join(
            f"<tr><td><a href='{esc(r['href'], quote=True)}'>{esc(r['chart'])}</a></td>"
            + "".join(f"<td>{esc(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows)
        parts.append(f"<table class='cf-table cf-index-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    helps = "".join(f"<li><code>{esc(h)}</code></li>" for h in help_lines)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title>\n<style>{static_text('linkchart.css')}</style></head>\n<body data-ready='1'>"
        f"<header class='cf-header'><h1>{esc(title)}</h1><p class='cf-subtitle'>{esc(subtitle)}</p></header>"
        f"<div class='cf-index'>{''.join(parts)}"
        + (f"<h2>Other selections</h2><p>Chart any community, phone or incident with:</p><ul>{helps}</ul>" if helps else "")
        + "</div></body></html>\n"
    )
