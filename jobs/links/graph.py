"""Call-network graphs on python-igraph: Leiden communities and key players per period.

Each period's edges (see :mod:`jobs.links.edges`) become one directed igraph
graph with phones as vertices. Communities come from Leiden on the undirected
projection (weights summed over both directions); centralities are computed on
the whole period graph and ranked inside each community.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import igraph as ig
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.inputs import require_columns
from jobs.links.schemas import CALL_COMMUNITIES, CALL_EDGES, KEY_PLAYERS
from jobs.schemas import UTC_TS

_WEIGHTS = ("n_events", "n_voice", "n_sms", "total_duration_s")


@contextmanager
def seeded_igraph(seed: int) -> Iterator[None]:
    """Run igraph's random steps from ``random.Random(seed)``, then restore the default RNG."""
    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)


def build_graph(edges: pa.Table, *, weight: str = "n_events") -> ig.Graph:
    """Directed igraph graph of one edge table (all rows, whatever their period).

    Parameters
    ----------
    edges : pyarrow.Table
        ``CALL_EDGES`` rows (usually one period's).
    weight : str
        Edge column used as the ``weight`` attribute.

    Returns
    -------
    igraph.Graph
        Directed; vertex attribute ``name`` (phone, sorted so that results do
        not depend on row order); edge attributes ``weight`` and every numeric
        column of ``edges``. Parallel rows (several periods) are summed.
    """
    require_columns(edges, ["caller", "callee", weight], "edges")
    if weight not in _WEIGHTS:
        raise ValueError(f"weight={weight!r} must be one of {_WEIGHTS}")
    caller, callee = edges.column("caller"), edges.column("callee")
    names = pc.unique(pa.chunked_array(caller.chunks + callee.chunks, pa.string()))
    names = names.take(pc.sort_indices(names))
    src = pc.index_in(caller, value_set=names).to_numpy()
    dst = pc.index_in(callee, value_set=names).to_numpy()
    n = len(names)
    w = {c: np.asarray(edges.column(c).to_numpy(), dtype=float) for c in _WEIGHTS if c in edges.column_names}
    if len(src):
        # Sum parallel rows (e.g. several periods) so each (caller, callee) is one edge.
        key = src.astype(np.int64) * max(n, 1) + dst
        uniq, inv = np.unique(key, return_inverse=True)
        src, dst = (uniq // max(n, 1)).astype(np.int64), (uniq % max(n, 1)).astype(np.int64)
        w = {c: np.bincount(inv, weights=v, minlength=len(uniq)) for c, v in w.items()}
    g = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist() if len(src) else [], directed=True)
    g.vs["name"] = names.to_pylist()
    for c, v in w.items():
        g.es[c] = v.tolist()
    g.es["weight"] = w[weight].tolist() if len(src) else []
    return g


def undirected(g: ig.Graph) -> ig.Graph:
    """Undirected projection with the ``weight`` of both directions summed."""
    return g.as_undirected(mode="collapse", combine_edges={"weight": "sum"})


def leiden_membership(g: ig.Graph, *, seed: int = 0, resolution: float = 1.0, n_iterations: int = -1) -> np.ndarray:
    """Leiden communities of ``g`` (modularity objective), relabelled 0.. by decreasing size.

    Notes
    -----
    Traag, Waltman & van Eck (2019), "From Louvain to Leiden: guaranteeing
    well-connected communities", Sci. Rep. 9:5233; igraph's
    ``community_leiden`` with ``objective_function="modularity"``. Ties in
    the relabelling go to the community holding the lowest vertex index,
    and vertices are sorted by name, so the labels are reproducible.
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be > 0, got {resolution}")
    if g.vcount() == 0:
        return np.zeros(0, dtype=np.int64)
    u = undirected(g) if g.is_directed() else g
    with seeded_igraph(seed):
        part = u.community_leiden(
            objective_function="modularity",
            weights="weight" if "weight" in u.es.attributes() else None,
            resolution=resolution,
            n_iterations=n_iterations,
        )
    raw = np.asarray(part.membership, dtype=np.int64)
    sizes = np.bincount(raw)
    first = np.full(len(sizes), np.iinfo(np.int64).max)
    np.minimum.at(first, raw, np.arange(len(raw)))
    order = np.lexsort((first, -sizes))
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return relabel[raw]


def centralities(g: ig.Graph, *, betweenness_k: int | None = 256, seed: int = 0) -> pd.DataFrame:
    """Degree, strength, k-core, betweenness, eigenvector and PageRank of every vertex.

    Parameters
    ----------
    g : igraph.Graph
        Directed call graph from :func:`build_graph`.
    betweenness_k : int or None
        Number of sampled source vertices for betweenness; exact when None or
        when the graph has no more vertices than this.
    seed : int
        Seed of the source sample.

    Returns
    -------
    pandas.DataFrame
        One row per vertex, in vertex order.

    Notes
    -----
    Betweenness counts unweighted shortest paths on the undirected
    projection (Brandes, 2001); the sampled estimate takes ``k`` random
    sources and scales by ``n / k`` (Brandes & Pich, 2007), which is what
    networkx's ``betweenness_centrality(k=...)`` does. Eigenvector
    centrality (Bonacich, 1972) is on the weighted undirected projection,
    scaled to max 1; PageRank (Brin & Page, 1998, damping 0.85) on the
    weighted directed graph; coreness is the k-core number (Batagelj &
    Zaversnik, 2003) of the undirected projection.
    """
    n = g.vcount()
    if n == 0:
        return pd.DataFrame(
            {c: [] for c in ("degree", "in_degree", "out_degree", "strength", "coreness", "betweenness", "eigenvector", "pagerank")}
        )
    u = undirected(g)
    weights = "weight" if g.ecount() else None
    if betweenness_k is not None and betweenness_k < 1:
        raise ValueError(f"betweenness_k must be >= 1 or None, got {betweenness_k}")
    if betweenness_k is None or n <= betweenness_k:
        btw = np.asarray(u.betweenness(directed=False), dtype=float)
    else:
        sources = np.random.default_rng(seed).choice(n, size=betweenness_k, replace=False)
        btw = np.asarray(u.betweenness(directed=False, sources=sources.tolist()), dtype=float) * (n / betweenness_k)
    if u.ecount():
        eig = np.asarray(u.eigenvector_centrality(weights="weight", scale=True), dtype=float)
    else:
        eig = np.zeros(n)
    return pd.DataFrame(
        {
            "degree": np.asarray(u.degree(), dtype=np.int64),
            "in_degree": np.asarray(g.indegree(), dtype=np.int64),
            "out_degree": np.asarray(g.outdegree(), dtype=np.int64),
            "strength": np.asarray(g.strength(mode="all", weights=weights), dtype=float),
            "coreness": np.asarray(u.coreness(), dtype=np.int64),
            "betweenness": btw,
            "eigenvector": eig,
            "pagerank": _pagerank(g, weights),
        }
    )


def _pagerank(g: ig.Graph, weights: str | None) -> np.ndarray:
    # igraph's PRPACK solver runs an OpenMP loop; on a busy machine its idle
    # threads spin-wait and one call on 1,000 phones took 0.9-1.5 s instead of
    # 1 ms (measured on 2 shared cores). A single thread is faster at any size
    # a call network per period reaches here.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        return np.asarray(g.pagerank(weights=weights, directed=True), dtype=float)


def _rank_within(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["community", "phone"], kind="stable").reset_index(drop=True)
    grp = df.groupby("community", sort=False)
    size = grp["phone"].transform("size").to_numpy()
    score = np.zeros(len(df))
    for metric, col in (("degree", "rank_degree"), ("betweenness", "rank_betweenness"), ("eigenvector", "rank_eigenvector"), ("pagerank", "rank_pagerank")):
        df[col] = grp[metric].rank(method="first", ascending=False).astype(np.int64)
        score += 1.0 - (df[col].to_numpy() - 1) / size
    df["score"] = score / 4.0
    df["rank"] = (
        df.assign(_neg=-df["score"]).groupby("community", sort=False)["_neg"].rank(method="first").astype(np.int64)
    )
    return df


def call_network(
    edges: pa.Table,
    *,
    seed: int = 0,
    resolution: float = 1.0,
    weight: str = "n_events",
    min_weight: float = 1.0,
    betweenness_k: int | None = 256,
    top_k: int | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Leiden communities and key players of every period of a call network.

    Parameters
    ----------
    edges : pyarrow.Table
        ``CALL_EDGES`` from :func:`jobs.links.edges.aggregate_edges`.
    seed : int
        Seed of Leiden and of the betweenness source sample.
    resolution : float
        Modularity resolution (1 = classic modularity; larger gives smaller
        communities).
    weight : str
        Edge weight column: ``n_events`` (default), ``n_voice``, ``n_sms`` or
        ``total_duration_s``.
    min_weight : float
        Edges lighter than this are dropped before the analysis.
    betweenness_k : int or None
        Sampled sources for betweenness (exact when None or the graph is small).
    top_k : int or None
        Keep only the ``top_k`` best-ranked key players of each community.

    Returns
    -------
    (call_communities, key_players) : tuple of pyarrow.Table
        ``CALL_COMMUNITIES`` and ``KEY_PLAYERS`` (see ``jobs/links/schemas.py``).

    Notes
    -----
    Leiden: Traag, Waltman & van Eck (2019); centralities: see
    :func:`centralities`. A key player's ``score`` is the mean over degree,
    betweenness, eigenvector and PageRank of ``1 - (rank - 1) / size``
    within its community; ``rank`` orders phones by that score.
    """
    require_columns(edges, CALL_EDGES.names, "edges")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if min_weight > 1.0 or min_weight < 1.0:
        edges = edges.filter(pc.greater_equal(edges.column(weight), min_weight))
    comm_parts, key_parts = [], []
    periods = pc.unique(edges.column("period")).sort() if edges.num_rows else pa.array([], UTC_TS)
    for period in periods:
        sub = edges.filter(pc.equal(edges.column("period"), period))
        g = build_graph(sub, weight=weight)
        membership = leiden_membership(g, seed=seed, resolution=resolution)
        sizes = np.bincount(membership)
        phones = g.vs["name"]
        comm_parts.append(
            pd.DataFrame({"phone": phones, "community": membership, "size": sizes[membership]}).assign(period=period.as_py())
        )
        with seeded_igraph(seed):  # ARPACK start vectors come from igraph's RNG
            cent = centralities(g, betweenness_k=betweenness_k, seed=seed)
        cent.insert(0, "phone", phones)
        cent.insert(1, "community", membership)
        ranked = _rank_within(cent)
        if top_k is not None:
            ranked = ranked[ranked["rank"] <= top_k]
        key_parts.append(ranked.assign(period=period.as_py()))
    if not comm_parts:
        return CALL_COMMUNITIES.empty_table(), KEY_PLAYERS.empty_table()
    comms = pd.concat(comm_parts, ignore_index=True).sort_values(["period", "community", "phone"])
    keys = pd.concat(key_parts, ignore_index=True).sort_values(["period", "community", "rank"])
    return (
        pa.Table.from_pandas(comms[CALL_COMMUNITIES.names], schema=CALL_COMMUNITIES, preserve_index=False),
        pa.Table.from_pandas(keys[KEY_PLAYERS.names], schema=KEY_PLAYERS, preserve_index=False),
    )


def call_communities(edges: pa.Table, **kwargs) -> pa.Table:
    """``CALL_COMMUNITIES`` only; keyword arguments as :func:`call_network`."""
    return call_network(edges, **kwargs)[0]


def key_players(edges: pa.Table, **kwargs) -> pa.Table:
    """``KEY_PLAYERS`` only; keyword arguments as :func:`call_network`."""
    return call_network(edges, **kwargs)[1]
