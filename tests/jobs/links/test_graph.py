"""Leiden communities and key players: hand-built bridge graph and planted partitions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from jobs.links.edges import aggregate_edges
from jobs.links.graph import build_graph, call_network, centralities
from jobs.links.scoring import community_agreement, labels_from_table
from jobs.links.synthetic import planted_partition_cdr


def _bridge_cdr() -> pa.Table:
    # Two 4-cliques {a,b,c,d} and {e,f,g,h}; d - e is the only bridge, called once.
    left, right = "abcd", "efgh"
    pairs = [(x, y) for grp in (left, right) for i, x in enumerate(grp) for y in grp[i + 1 :]]
    rows = pairs * 3 + [("d", "e")]
    t = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    return pa.table(
        {
            "caller": [r[0] for r in rows],
            "callee": [r[1] for r in rows],
            "start_time": pa.array([t] * len(rows), pa.timestamp("us", tz="UTC")),
            "duration_s": pa.array([60] * len(rows), pa.int32()),
            "kind": ["voice"] * len(rows),
        }
    )


def test_bridge_graph_communities_and_brokers():
    comms, keys = call_network(aggregate_edges(_bridge_cdr()), seed=1)
    by_phone = labels_from_table(comms, "phone", "community")
    assert len({by_phone[p] for p in "abcd"}) == 1
    assert len({by_phone[p] for p in "efgh"}) == 1
    assert by_phone["a"] != by_phone["e"]
    assert set(comms.column("size").to_pylist()) == {4}
    k = {r["phone"]: r for r in keys.to_pylist()}
    # the bridge ends are the brokers: highest betweenness, rank 1 of their communities
    assert k["d"]["rank_betweenness"] == 1 and k["e"]["rank_betweenness"] == 1
    assert k["d"]["rank"] == 1 and k["e"]["rank"] == 1
    # d lies on every shortest path from {a,b,c} to {e,f,g,h}: 3 x 4 pairs; a on none.
    assert k["d"]["betweenness"] == pytest.approx(12.0)
    assert k["a"]["betweenness"] == pytest.approx(0.0)
    assert k["a"]["coreness"] == 3 and k["d"]["degree"] == 4


def test_planted_partition_recovered():
    # Threshold: with 5 % of calls leaving the group, Leiden must recover the
    # 10 planted groups of 30 almost exactly (NMI >= 0.95, ARI >= 0.9).
    cdr, truth = planted_partition_cdr(n_groups=10, group_size=30, events_per_phone=40, p_out=0.05, seed=7)
    comms, _ = call_network(aggregate_edges(cdr, period="all"), seed=0)
    scores = community_agreement(labels_from_table(comms, "phone", "community"), truth)
    assert scores["coverage"] == 1.0
    assert scores["nmi"] >= 0.95 and scores["ari"] >= 0.9, scores


def test_seed_and_row_order_do_not_change_result():
    cdr, _ = planted_partition_cdr(n_groups=6, group_size=15, p_out=0.2, seed=2)
    edges = aggregate_edges(cdr, period="all")
    a, ka = call_network(edges, seed=5)
    shuffled = edges.take(pa.array(np.random.default_rng(0).permutation(edges.num_rows)))
    b, kb = call_network(shuffled, seed=5)
    assert a.equals(b) and ka.equals(kb)


def test_sampled_betweenness_matches_exact_with_all_sources_and_estimates_otherwise():
    cdr, _ = planted_partition_cdr(n_groups=4, group_size=20, p_out=0.1, seed=4)
    g = build_graph(aggregate_edges(cdr, period="all"))
    exact = centralities(g, betweenness_k=None)["betweenness"].to_numpy()
    full = centralities(g, betweenness_k=g.vcount())["betweenness"].to_numpy()
    np.testing.assert_allclose(full, exact)
    est = centralities(g, betweenness_k=40, seed=1)["betweenness"].to_numpy()
    assert np.corrcoef(est, exact)[0, 1] > 0.8


def test_period_split_and_errors():
    cdr, _ = planted_partition_cdr(n_groups=3, group_size=10, days=14, seed=1)
    comms, keys = call_network(aggregate_edges(cdr, period="week"), seed=0, top_k=2)
    assert len(set(comms.column("period").to_pylist())) >= 2
    assert max(keys.column("rank").to_pylist()) <= 2
    with pytest.raises(ValueError, match="resolution"):
        call_network(aggregate_edges(cdr), resolution=0)
    with pytest.raises(ValueError, match="top_k"):
        call_network(aggregate_edges(cdr), top_k=0)
