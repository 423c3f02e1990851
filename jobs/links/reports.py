"""Write call networks as files: the ``link_charts`` folder, and the exports of ``crimefusion links``.

The formats come from :mod:`jobs.links.export` (GraphML, GEXF, offline HTML)
and :mod:`jobs.links.chartpage` (link charts of a selection), which return
strings; these functions choose what to export and write it. Unlike the
kernels of this package they write files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from jobs.links.schemas import WeekNetwork
    from jobs.links.selections import Selection

__all__ = ["CHART_FILE", "chart_titles", "write_chart", "write_investigation", "write_latest_period",
           "write_link_charts", "write_network", "write_rows_json"]

#: Files ``link_charts`` owns in its folder (removed before each run, so no stale chart is left);
#: ``network.html`` is the whole-network view of earlier versions.
CHART_FILE = re.compile(r"^(index\.html|network\.html|community_\d+\.(graphml|gexf|html)|ego_P-[0-9A-Z]+\.html)$")


def write_rows_json(table: pa.Table, path: Path) -> Path:
    """Write the rows of ``table`` as a JSON list of objects (values JSON lacks, such as times, as text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table.to_pylist(), default=str, indent=1))
    return path


def write_network(edges: pa.Table, *, communities: pa.Table | None = None, key_players: pa.Table | None = None,
                  graphml: Path | None = None, gexf: Path | None = None, html: Path | None = None,
                  title: str = "Call network", seed: int = 0, max_nodes: int = 2000,
                  aliases: Mapping[str, str] | None = None) -> list[Path]:
    """Write the network in each format given a path (GraphML, GEXF, offline HTML with ``title``, ``seed`` and
    ``max_nodes`` of :func:`jobs.links.export.to_html`), creating folders; returns the paths written, in that order.
    ``aliases`` (pseudonym -> alias) label the GraphML and GEXF nodes."""
    from jobs.links.export import to_gexf, to_graphml, to_html

    written = []
    for path, render in ((graphml, lambda: to_graphml(edges, communities=communities, key_players=key_players, aliases=aliases)),
                         (gexf, lambda: to_gexf(edges, communities=communities, key_players=key_players, aliases=aliases)),
                         (html, lambda: to_html(edges, communities=communities, key_players=key_players, title=title,
                                                max_nodes=max_nodes, seed=seed))):
        if path is None:
            continue
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        written.append(path)
    return written


def write_latest_period(edges: pa.Table, communities: pa.Table, key_players: pa.Table, *, graphml: Path | None = None,
                        gexf: Path | None = None, html: Path | None = None, per_community: Path | None = None,
                        min_size: int = 3) -> list[Path]:
    """Write the latest period of a per-period call network (:func:`write_network` of each format given a path)
    and, with ``per_community``, GraphML, GEXF and HTML of each of its communities of at least ``min_size`` phones
    there (``community_<k>.*``). Returns the paths written, in order; nothing for a network without edges."""
    from jobs.links.export import community_edges

    if edges.num_rows == 0:
        return []
    last = pc.max(edges.column("period"))
    latest = edges.filter(pc.equal(edges.column("period"), last))
    c_last = communities.filter(pc.equal(communities.column("period"), last))
    k_last = key_players.filter(pc.equal(key_players.column("period"), last))
    written = write_network(latest, communities=c_last, key_players=k_last, graphml=graphml, gexf=gexf, html=html,
                            title=f"Call network {last.as_py():%Y-%m-%d}")
    if per_community is not None:
        sizes = c_last.group_by("community").aggregate([("phone", "count")])
        for row in sizes.filter(pc.greater_equal(sizes.column("phone_count"), min_size)).to_pylist():
            k = row["community"]
            files = {fmt: Path(per_community) / f"community_{k}.{fmt}" for fmt in ("graphml", "gexf", "html")}
            written += write_network(community_edges(latest, c_last, k), communities=c_last, key_players=k_last,
                                     title=f"Community {k}", **files)
    return written


def write_investigation(cdr: pa.Table, phones: Sequence[str], *, include_contacts: bool = True,
                        graphml: Path | None = None, gexf: Path | None = None, html: Path | None = None,
                        title: str = "Call network") -> list[Path]:
    """Write the network of the calls touching ``phones`` (with ``include_contacts``) or only among them, over the
    whole span of ``cdr`` (:func:`jobs.links.export.investigation_edges`, communities and key players of
    :func:`jobs.links.graph.call_network`), in each format given a path; returns the paths written."""
    from jobs.links.edges import aggregate_edges
    from jobs.links.export import investigation_edges
    from jobs.links.graph import call_network

    if not (graphml or gexf or html):
        return []
    edges = investigation_edges(aggregate_edges(cdr, period="all"), phones, include_contacts=include_contacts)
    comms, keys = call_network(edges, seed=0)
    return write_network(edges, communities=comms, key_players=keys, graphml=graphml, gexf=gexf, html=html, title=title)


def chart_titles(network: "WeekNetwork", selection: "Selection") -> tuple[str, str]:
    """A chart's title (the selection and the week in local dates) and its default subtitle."""
    from jobs.localtime import week_label

    title = f"{selection.label}, {week_label(network.week, network.timezone)}"
    n = len(selection.phones)
    if selection.kind == "community":
        sub = f"{n} phones of one Leiden community of the week's call network; the links are their calls and SMS."
    elif selection.kind == "ego":
        hops = max(int(r[3:]) for r in selection.roles.values() if r.startswith("hop")) if n > 1 else 0
        sub = (f"{network.aliases.get(selection.focus, selection.focus)} (pseudonym {selection.focus}) and the "
               f"{n - 1} phones within {hops} hop{'s' if hops != 1 else ''} of it in the week's call network.")
    else:
        scene = sum(r == "scene" for r in selection.roles.values())
        sub = (f"{scene} phones seen near the incident and {n - scene} phones in contact with at least two of them; "
               "the links are the week's calls and SMS.")
    return title, sub


def write_chart(path: Path, network: "WeekNetwork", selection: "Selection", *, subtitle: str | None = None,
                notes: Sequence[str] = (), seed: int = 0) -> Path:
    """Write one link chart (:func:`jobs.links.chartpage.chart_html`) of ``selection`` drawn from ``network``."""
    from jobs.links.chartpage import chart_html, chart_payload

    payload = chart_payload(selection, network.pairs, communities=network.communities, key_players=network.key_players,
                            events=network.events, aliases=network.aliases, timezone=network.timezone,
                            window=(network.week, network.end), seed=seed)
    title, default_sub = chart_titles(network, selection)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(chart_html(payload, title=title, subtitle=subtitle or default_sub,
                               notes=[*selection.notes, *notes]), encoding="utf-8")
    return path


def _key_aliases(network: "WeekNetwork", keys: pa.Table, n: int = 3) -> str:
    top = keys.sort_by([("rank", "ascending"), ("phone", "ascending")]).slice(0, n)["phone"].to_pylist()
    return ", ".join(network.aliases.get(p, p[:12]) for p in top)


def write_link_charts(out: Path, network: "WeekNetwork", *, top_communities: int = 5, top_phones: int = 3,
                      hops: int = 2, max_nodes: int = 150, seed: int = 0) -> tuple[Path, list[str], list[dict]]:
    """Write one week's charts into ``out``, after removing the charts of an earlier run (:data:`CHART_FILE`).

    ``community_NN.html`` (and GraphML, GEXF) of the ``top_communities`` largest communities,
    ``ego_<alias>.html``: the ``hops``-hop network of each of the ``top_phones`` phones of highest
    PageRank, and ``index.html`` listing them with the commands that chart any other selection.

    Returns the index's path, every file written, and one row per chart (``chart``, ``phones``,
    ``links``, ``key_players``: the best-ranked phones' aliases).
    """
    from jobs.links.chartpage import index_html
    from jobs.links.export import community_edges
    from jobs.links.selections import community_selection, ego_selection
    from jobs.localtime import week_label

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file() and CHART_FILE.match(old.name):
            old.unlink()
    comms, keys, edges = network.communities, network.key_players, network.edges
    files: list[str] = []
    rows: list[dict] = []
    community_rows, ego_rows = [], []
    if comms.num_rows:
        sizes = comms.group_by("community").aggregate([("size", "max")]).sort_by(
            [("size_max", "descending"), ("community", "ascending")])
        for community, size in list(zip(sizes["community"].to_pylist(), sizes["size_max"].to_pylist()))[:top_communities]:
            members = comms.filter(pc.equal(comms["community"], community))
            k_sub = keys.filter(pc.equal(keys["community"], community))
            sel = community_selection(comms, community, network.pairs, max_nodes=max_nodes)
            stem = out / f"community_{community:02d}"
            page = write_chart(stem.with_suffix(".html"), network, sel, seed=seed)
            sub = community_edges(edges, comms, community)
            files += [str(page)] + [str(p) for p in write_network(
                sub, communities=members, key_players=k_sub, graphml=stem.with_suffix(".graphml"),
                gexf=stem.with_suffix(".gexf"), aliases=network.aliases)]
            links = int(((network.pairs["a"].isin(sel.phones)) & (network.pairs["b"].isin(sel.phones))).sum())
            row = {"chart": page.name, "phones": size, "links": links, "key_players": _key_aliases(network, k_sub)}
            rows.append(row)
            community_rows.append({"href": page.name, "chart": f"Community {community}", "phones": size, "links": links,
                                   "key players": row["key_players"],
                                   "files": f"{stem.name}.graphml, {stem.name}.gexf"})
    if keys.num_rows and top_phones > 0:
        top = keys.sort_by([("pagerank", "descending"), ("phone", "ascending")]).slice(0, top_phones).to_pylist()
        for r in top:
            alias = network.aliases.get(r["phone"], r["phone"][:12])
            sel = ego_selection(network.pairs, r["phone"], hops=hops, max_nodes=max_nodes, name=alias)
            page = write_chart(out / f"ego_{alias}.html", network, sel, seed=seed)
            files.append(str(page))
            links = int(((network.pairs["a"].isin(sel.phones)) & (network.pairs["b"].isin(sel.phones))).sum())
            rows.append({"chart": page.name, "phones": len(sel.phones), "links": links, "key_players": alias})
            ego_rows.append({"href": page.name, "chart": f"{alias}, {hops} hops", "phones": len(sel.phones),
                             "links": links, "community": r["community"], "rank in community": r["rank"],
                             "PageRank": f"{r['pagerank']:.4f}"})
    n_phones = len(set(comms["phone"].to_pylist())) if comms.num_rows else 0
    n_comm = len(set(comms["community"].to_pylist())) if comms.num_rows else 0
    label = network.week.date().isoformat()
    index = out / "index.html"
    index.write_text(index_html(
        title=f"Link charts, {week_label(network.week, network.timezone)}",
        subtitle=(f"The week's call network: {n_phones:,} phones, {network.pairs.shape[0]:,} linked pairs, "
                  f"{n_comm} Leiden communities. Each chart shows one selection, not the whole network."),
        sections=[("Largest communities", "Click a link between two phones on a chart for the timeline of their "
                   "calls and SMS.", community_rows),
                  (f"{hops}-hop networks of the phones of highest PageRank", "", ego_rows)],
        help_lines=[f"crimefusion links chart --community N --week {label}",
                    f"crimefusion links chart --phone P-XXXXX --hops 2 --week {label}",
                    "crimefusion links chart --incident ID --radius-m 200 --window-h 1",
                    "crimefusion links timeline P-XXXXX P-YYYYY"]), encoding="utf-8")
    return index, [str(index), *files], rows
