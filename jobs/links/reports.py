"""Write call networks as files: the ``link_charts`` folder, and the exports of ``crimefusion links``.

The formats come from :mod:`jobs.links.export` (GraphML, GEXF, offline HTML),
which return strings; these functions choose what to export and write it.
Unlike the kernels of this package they write files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["CHART_FILE", "write_investigation", "write_latest_period", "write_link_charts", "write_network",
           "write_rows_json"]

#: Files ``link_charts`` owns in its folder (removed before each run, so no stale community is left).
CHART_FILE = re.compile(r"^(network\.html|community_\d+\.(graphml|gexf|html))$")


def write_rows_json(table: pa.Table, path: Path) -> Path:
    """Write the rows of ``table`` as a JSON list of objects (values JSON lacks, such as times, as text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table.to_pylist(), default=str, indent=1))
    return path


def write_network(edges: pa.Table, *, communities: pa.Table | None = None, key_players: pa.Table | None = None,
                  graphml: Path | None = None, gexf: Path | None = None, html: Path | None = None,
                  title: str = "Call network", seed: int = 0, max_nodes: int = 2000) -> list[Path]:
    """Write the network in each format given a path (GraphML, GEXF, offline HTML with ``title``, ``seed`` and
    ``max_nodes`` of :func:`jobs.links.export.to_html`), creating folders; returns the paths written, in that order."""
    from jobs.links.export import to_gexf, to_graphml, to_html

    written = []
    for path, render in ((graphml, lambda: to_graphml(edges, communities=communities, key_players=key_players)),
                         (gexf, lambda: to_gexf(edges, communities=communities, key_players=key_players)),
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


def write_link_charts(out: Path, edges: pa.Table, communities: pa.Table, key_players: pa.Table, *, label: str,
                      top_communities: int = 5, max_nodes: int = 2000, seed: int = 0) -> tuple[Path, list[str], list[dict]]:
    """Write one period's charts into ``out``: ``network.html`` and GraphML, GEXF and HTML of its largest
    communities (``community_NN.*``), after removing the charts of an earlier run (:data:`CHART_FILE`).

    Returns the network view's path, every file written, and one row per
    charted community (``community``, ``phones``, ``edges``, ``key_players``:
    its three best-ranked phones, shortened).
    """
    from jobs.links.export import community_edges

    out = Path(out)
    for old in out.iterdir():
        if old.is_file() and CHART_FILE.match(old.name):
            old.unlink()
    comms, keys = communities, key_players
    network = out / "network.html"
    write_network(edges, communities=comms, key_players=keys, html=network, max_nodes=max_nodes, seed=seed,
                  title=f"Call network, week of {label} ({comms.num_rows:,} phones)")
    sizes = comms.group_by("community").aggregate([("size", "max")]).sort_by([("size_max", "descending"), ("community", "ascending")])
    files, rows = [str(network)], []
    for community, size in list(zip(sizes["community"].to_pylist(), sizes["size_max"].to_pylist()))[:top_communities]:
        sub = community_edges(edges, comms, community)
        members = comms.filter(pc.equal(comms["community"], community))
        k_sub = keys.filter(pc.equal(keys["community"], community))
        stem = out / f"community_{community:02d}"
        files += [str(p) for p in write_network(
            sub, communities=members, key_players=k_sub, graphml=stem.with_suffix(".graphml"),
            gexf=stem.with_suffix(".gexf"), html=stem.with_suffix(".html"), seed=seed,
            title=f"Community {community}, week of {label} ({size} phones)")]
        top = k_sub.sort_by([("rank", "ascending")]).slice(0, 3)["phone"].to_pylist()
        rows.append({"community": community, "phones": size, "edges": sub.num_rows, "key_players": ", ".join(p[:12] for p in top)})
    return network, files, rows
