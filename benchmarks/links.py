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

Quality in the same run:

- communities of both libraries against the groups planted in the power-law
  CDRs (:func:`jobs.links.synthetic.power_law_groups`): NMI and ARI, on the
  phones of each graph;
- the link assets' scores against the planted truth of a ``jobs.synth``
  world (``--truth SEED:SCALE``, default ``42:1``, the demo's seed and size,
  over every bundled Chicago incident): the silver tables its ingestion
  writes are built with :func:`jobs.links.synthetic.silver_from_synth`, the
  assets ``call_edges``, ``call_network``, ``burner_phones`` and
  ``fraud_rings`` are materialised with their default settings into a
  temporary lakehouse, and the truth checks' figures (communities NMI/ARI,
  burner, ring and mule precision/recall) are printed beside the thresholds
  of :mod:`jobs.links.scoring` the checks and tests use.

    .venv/bin/python benchmarks/links.py --quick     # 1M rows, 200k-row sample
    .venv/bin/python benchmarks/links.py             # 10M rows, 1M-row sample
    .venv/bin/python benchmarks/links.py --truth 1:0.3 --truth 42:1 --skip-speed   # truth scores only
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHICAGO = ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"


def timed(label: str, fn: Callable[[], Any], results: dict[str, float]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t0
    print(f"  {label:<38} {results[label]:8.2f} s", flush=True)
    return out


def run_igraph(cdr, *, k: int, seed: int, tag: str) -> tuple[dict[str, float], dict[str, int]]:
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
    communities = dict(zip(g.vs["name"], memb.tolist()))
    n = g.vcount()
    src = np.random.default_rng(seed).choice(n, size=min(k, n), replace=False).tolist()
    timed(f"betweenness (k={len(src)} sampled)", lambda: u.betweenness(directed=False, sources=src), r)
    timed("PageRank", lambda: g.pagerank(weights="weight"), r)
    with seeded_igraph(seed):
        timed("eigenvector centrality", lambda: u.eigenvector_centrality(weights="weight"), r)
    timed("k-core", lambda: u.coreness(), r)
    timed("degree", lambda: (u.degree(), g.strength(mode="all", weights="weight")), r)
    r["_nodes"], r["_edges"] = n, g.ecount()
    return r, communities


def run_networkx(cdr, *, k: int, seed: int) -> tuple[dict[str, float], dict[str, int]]:
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
    return r, {phone: i for i, members in enumerate(comms) for phone in members}


def print_agreement(rows: list[tuple[str, dict[str, int]]], truth: dict[str, int]) -> None:
    """NMI/ARI of each labelled partition against the planted power-law groups."""
    from jobs.links.scoring import community_agreement

    print(f"  {'communities vs planted groups':<38} {'NMI':>7} {'ARI':>7} {'phones':>9}")
    for label, predicted in rows:
        s = community_agreement(predicted, truth)
        print(f"  {label:<38} {s['nmi']:7.3f} {s['ari']:7.3f} {s['n']:9,.0f}")


def truth_world(seed: int, scale: float) -> dict:
    """Materialise the link assets and checks on a ``jobs.synth`` world; the truth checks' scores and the row counts."""
    import dagster as dg
    import pyarrow.csv as pcsv

    from jobs.ingest.pseudonymise import DEMO_KEY
    from jobs.links.synthetic import silver_from_synth
    from jobs.synth import generate
    from jobs.synth.incidents import from_crimemapping
    from jobs.links.lookups import periods_of
    from orchestration.links import assets as link_assets
    from orchestration.links import checks as link_checks
    from orchestration.resources.compute import Compute
    from orchestration.resources.lakehouse import LocalLakehouse

    if not CHICAGO.exists():
        raise SystemExit(f"{CHICAGO} not found: the truth worlds are laid over the bundled Chicago incidents")
    tables = silver_from_synth(generate(from_crimemapping(pcsv.read_csv(CHICAGO)), seed=seed, scale=scale), key=DEMO_KEY)
    with tempfile.TemporaryDirectory(prefix="links-bench-") as root:
        lh = LocalLakehouse(root=root)
        for name in ("cdr_events", "transactions", "cell_sites"):
            lh.overwrite("silver", name, tables[name])
        for name in ("group_members", "burners", "accounts"):
            lh.overwrite("truth", name, tables[f"truth_{name}"])
        t0 = time.perf_counter()
        result = dg.materialize(
            [link_assets.call_edges, link_assets.call_network, link_assets.burner_phones, link_assets.fraud_rings,
             *dg.load_asset_checks_from_modules([link_checks])],
            resources={"lakehouse": lh, "compute": Compute()}, instance=dg.DagsterInstance.ephemeral(),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        seconds = time.perf_counter() - t0
        if not result.success:
            raise SystemExit("materialising the link assets failed")
        scores = {e.check_name: {k: v.value for k, v in e.metadata.items()} for e in result.get_asset_check_evaluations()}
        weeks = len(periods_of(lh, "call_edges"))
    missing = {"call_communities_match_truth", "burner_phones_match_truth", "fraud_rings_match_truth"} - set(scores)
    if missing:
        raise SystemExit(f"truth checks did not run: {sorted(missing)}")
    return {"scores": scores, "seconds": seconds, "cdr_rows": tables["cdr_events"].num_rows,
            "txn_rows": tables["transactions"].num_rows, "weeks": weeks}


def print_truth(seed: int, scale: float) -> bool:
    """Print the truth scores of one world beside the thresholds; True when every score meets its threshold."""
    from jobs.links import scoring as th

    print(f"\nlink assets vs planted truth: jobs.synth world seed {seed}, scale {scale:g} (all bundled Chicago incidents)")
    w = truth_world(seed, scale)
    c, b, r = (w["scores"][n] for n in ("call_communities_match_truth", "burner_phones_match_truth", "fraud_rings_match_truth"))
    print(f"  {w['cdr_rows']:,} CDR rows over {w['weeks']} weeks, {w['txn_rows']:,} transaction rows; "
          f"assets + checks materialised in {w['seconds']:.1f} s")
    rows = [
        ("communities vs groups: NMI (weeks pooled)", c["nmi"], th.COMMUNITY_MIN_NMI),
        ("communities vs groups: ARI (weeks pooled)", c["ari"], th.COMMUNITY_MIN_ARI),
        ("burner phones: precision", b["precision"], th.BURNER_MIN_PRECISION),
        ("burner phones: recall", b["recall"], th.BURNER_MIN_RECALL),
        ("cycle rings: precision", r["ring_precision"], th.RING_MIN_PRECISION),
        ("cycle rings: recall", r["ring_recall"], th.RING_MIN_RECALL),
        ("mule accounts: precision", r["mule_precision"], th.MULE_MIN_PRECISION),
        ("mule accounts: recall", r["mule_recall"], th.MULE_MIN_RECALL),
    ]
    print(f"  {'score':<42} {'measured':>8} {'threshold':>10}")
    ok = True
    for label, value, minimum in rows:
        ok &= value >= minimum
        print(f"  {label:<42} {value:8.3f} {'>= ' + format(minimum, '.2f'):>10}{'' if value >= minimum else '  BELOW'}")
    print(f"  coverage of planted phones {c['coverage']:.3f}; burners {b['tp']:.0f} found, {b['fp']:.0f} false, "
          f"{b['fn']:.0f} missed; rings {r['rings_detected']:.0f} detected / {r['rings_planted']:.0f} planted; "
          f"mules {r['mules_detected']:.0f} detected / {r['mules_planted']:.0f} planted")
    return ok


def parse_world(text: str) -> tuple[int, float]:
    try:
        seed, scale = text.split(":")
        return int(seed), float(scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--truth takes SEED:SCALE (e.g. 42:1), got {text!r}") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="CDR rows for the igraph run")
    ap.add_argument("--nx-rows", type=int, default=1_000_000, help="CDR rows of the sample both libraries run on")
    ap.add_argument("--betweenness-k", type=int, default=256, help="sampled sources for betweenness")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1M rows, 200k-row sample, k=64")
    ap.add_argument("--skip-networkx", action="store_true")
    ap.add_argument("--skip-speed", action="store_true", help="only the truth scores")
    ap.add_argument("--truth", type=parse_world, action="append", metavar="SEED:SCALE",
                    help="jobs.synth world(s) to score the link assets on (repeatable; default 42:1, the demo)")
    ap.add_argument("--skip-truth", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.rows, a.nx_rows, a.betweenness_k = 1_000_000, 200_000, 64
    ok = True
    if not a.skip_speed:
        speed(a)
    if not a.skip_truth:
        for seed, scale in a.truth or [(42, 1.0)]:
            ok &= print_truth(seed, scale)
    if not ok:
        raise SystemExit("some truth score is below its threshold")


def speed(a: argparse.Namespace) -> None:
    from jobs.links.synthetic import power_law_cdr, power_law_groups

    t0 = time.perf_counter()
    cdr = power_law_cdr(a.rows, seed=a.seed)
    truth = power_law_groups(a.rows, seed=a.seed)
    print(f"generated {cdr.num_rows:,} power-law CDR rows in {time.perf_counter() - t0:.1f} s (64-hex phone ids, "
          f"{len(truth):,} phones in {len(set(truth.values())):,} planted groups)")
    full, full_comms = run_igraph(cdr, k=a.betweenness_k, seed=a.seed, tag="full")
    total = sum(v for key, v in full.items() if not key.startswith("_"))
    print(f"  total {total:.2f} s for {a.rows:,} rows -> {full['_nodes']:,.0f} phones / {full['_edges']:,.0f} edges")
    print_agreement([(f"igraph Leiden, {a.rows:,} rows", full_comms)], truth)
    print()
    if a.skip_networkx:
        return
    sample = cdr.slice(0, a.nx_rows)
    del cdr
    ig_s, ig_comms = run_igraph(sample, k=a.betweenness_k, seed=a.seed, tag="sample")
    nx_s, nx_comms = run_networkx(sample, k=a.betweenness_k, seed=a.seed)
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
    print(f"\nsame {a.nx_rows:,}-row sample, communities vs the planted groups:")
    print_agreement([("igraph Leiden", ig_comms), ("networkx Louvain", nx_comms)], truth)


if __name__ == "__main__":
    main()
