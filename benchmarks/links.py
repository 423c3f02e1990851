"""Benchmark: call network from synthetic CDRs, igraph (ours) vs networkx (peer).

Builds the network from ``--rows`` power-law CDRs (default 10 million) with
``jobs.links.edges.aggregate_edges`` and runs Leiden communities and every
centrality of ``jobs.links.graph`` on it. Then both libraries run the same
analyses on a ``--nx-rows`` sample (default 1 million rows, the first rows of
the same CDRs): igraph's Leiden vs networkx's Louvain, and k-sampled
betweenness for both (``--betweenness-k`` sources, scaled by n/k; exact
betweenness on graphs of this size takes hours), plus PageRank, eigenvector
centrality and k-core. Prints each step's seconds and the networkx/igraph
ratio.

    .venv/bin/python benchmarks/links.py --quick     # 1M rows, 200k-row sample
    .venv/bin/python benchmarks/links.py             # 10M rows, 1M-row sample
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(label: str, fn: Callable[[], Any], results: dict[str, float]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t0
    print(f"  {label:<38} {results[label]:8.2f} s", flush=True)
    return out


def run_igraph(cdr, *, k: int, seed: int, tag: str) -> dict[str, float]:
    from jobs.links.edges import aggregate_edges
    from jobs.links.graph import build_graph, leiden_membership, seeded_igraph, undirected

    r: dict[str, float] = {}
    print(f"igraph on {cdr.num_rows:,} CDR rows ({tag})")
    edges = timed("aggregate_edges", lambda: aggregate_edges(cdr, period="all"), r)
    g = timed("build graph", lambda: build_graph(edges), r)
    u = timed("undirected projection", lambda: undirected(g), r)
    print(f"  graph: {g.vcount():,} phones, {g.ecount():,} directed edges, {u.ecount():,} undirected")
    memb = timed("Leiden (modularity)", lambda: leiden_membership(g, seed=seed), r)
    print(f"  communities: {len(np.unique(memb)):,}, modularity {u.modularity(memb.tolist(), weights='weight'):.3f}")
    n = g.vcount()
    src = np.random.default_rng(seed).choice(n, size=min(k, n), replace=False).tolist()
    timed(f"betweenness (k={len(src)} sampled)", lambda: u.betweenness(directed=False, sources=src), r)
    timed("PageRank", lambda: g.pagerank(weights="weight"), r)
    with seeded_igraph(seed):
        timed("eigenvector centrality", lambda: u.eigenvector_centrality(weights="weight"), r)
    timed("k-core", lambda: u.coreness(), r)
    timed("degree", lambda: (u.degree(), g.strength(mode="all", weights="weight")), r)
    r["_nodes"], r["_edges"] = n, g.ecount()
    return r


def run_networkx(cdr, *, k: int, seed: int) -> dict[str, float]:
    import networkx as nx

    from jobs.links.edges import aggregate_edges

    r: dict[str, float] = {}
    print(f"networkx {nx.__version__} on {cdr.num_rows:,} CDR rows (sample)")
    edges = timed("aggregate_edges (shared kernel)", lambda: aggregate_edges(cdr, period="all"), r)

    def build():
        g = nx.DiGraph()
        g.add_weighted_edges_from(
            zip(edges.column("caller").to_pylist(), edges.column("callee").to_pylist(), edges.column("n_events").to_numpy().tolist())
        )
        return g

    g = timed("build graph", build, r)

    def und():
        u = nx.Graph()
        u.add_nodes_from(g)
        for a, b, w in g.edges(data="weight"):
            if u.has_edge(a, b):
                u[a][b]["weight"] += w
            else:
                u.add_edge(a, b, weight=w)
        return u

    u = timed("undirected projection", und, r)
    comms = timed("Louvain (modularity)", lambda: nx.community.louvain_communities(u, weight="weight", seed=seed), r)
    print(f"  communities: {len(comms):,}, modularity {nx.community.modularity(u, comms, weight='weight'):.3f}")
    kk = min(k, u.number_of_nodes())
    timed(f"betweenness (k={kk} sampled)", lambda: nx.betweenness_centrality(u, k=kk, seed=seed, normalized=False), r)
    timed("PageRank", lambda: nx.pagerank(g, weight="weight"), r)
    # ARPACK like igraph; networkx refuses disconnected graphs, so it runs on the largest component
    giant = u.subgraph(max(nx.connected_components(u), key=len))
    timed("eigenvector centrality", lambda: nx.eigenvector_centrality_numpy(giant, weight="weight"), r)
    timed("k-core", lambda: nx.core_number(u), r)
    timed("degree", lambda: (dict(u.degree()), dict(g.degree(weight="weight"))), r)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="CDR rows for the igraph run")
    ap.add_argument("--nx-rows", type=int, default=1_000_000, help="CDR rows of the sample both libraries run on")
    ap.add_argument("--betweenness-k", type=int, default=256, help="sampled sources for betweenness")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1M rows, 200k-row sample, k=64")
    ap.add_argument("--skip-networkx", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.rows, a.nx_rows, a.betweenness_k = 1_000_000, 200_000, 64

    from jobs.links.synthetic import power_law_cdr

    t0 = time.perf_counter()
    cdr = power_law_cdr(a.rows, seed=a.seed)
    print(f"generated {cdr.num_rows:,} power-law CDR rows in {time.perf_counter() - t0:.1f} s (64-hex phone ids)")
    full = run_igraph(cdr, k=a.betweenness_k, seed=a.seed, tag="full")
    total = sum(v for key, v in full.items() if not key.startswith("_"))
    print(f"  total {total:.2f} s for {a.rows:,} rows -> {full['_nodes']:,.0f} phones / {full['_edges']:,.0f} edges\n")
    if a.skip_networkx:
        return
    sample = cdr.slice(0, a.nx_rows)
    del cdr
    ig_s = run_igraph(sample, k=a.betweenness_k, seed=a.seed, tag="sample")
    nx_s = run_networkx(sample, k=a.betweenness_k, seed=a.seed)
    print(f"\nsame {a.nx_rows:,}-row sample, seconds (networkx / igraph ratio):")
    print(f"  {'step':<38} {'igraph':>8} {'networkx':>9} {'ratio':>7}")
    pairs = [
        ("build graph", "build graph"),
        ("undirected projection", "undirected projection"),
        ("Leiden (modularity)", "Louvain (modularity)"),
        *[(x, x) for x in ig_s if x.startswith("betweenness")],
        ("PageRank", "PageRank"),
        ("eigenvector centrality", "eigenvector centrality"),
        ("k-core", "k-core"),
        ("degree", "degree"),
    ]
    ti = tn = 0.0
    for a_key, n_key in pairs:
        i, n = ig_s[a_key], nx_s[n_key]
        ti, tn = ti + i, tn + n
        label = a_key if a_key == n_key else f"{a_key} vs Louvain"
        print(f"  {label:<38} {i:8.2f} {n:9.2f} {n / max(i, 1e-9):7.1f}x")
    print(f"  {'graph analysis total':<38} {ti:8.2f} {tn:9.2f} {tn / max(ti, 1e-9):7.1f}x")


if __name__ == "__main__":
    main()
