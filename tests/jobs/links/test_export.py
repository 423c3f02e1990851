"""GraphML/GEXF round trips through networkx, and the offline HTML view."""

from __future__ import annotations

import io
import json
import re

import networkx as nx
import pyarrow.compute as pc
import pytest

from jobs.links.edges import aggregate_edges
from jobs.links.export import community_edges, investigation_edges, to_gexf, to_graphml, to_html
from jobs.links.graph import call_network
from jobs.links.synthetic import planted_partition_cdr


@pytest.fixture(scope="module")
def network():
    cdr, _ = planted_partition_cdr(n_groups=4, group_size=10, events_per_phone=15, seed=11)
    edges = aggregate_edges(cdr, period="all")
    comms, keys = call_network(edges, seed=0)
    return edges, comms, keys


def test_graphml_round_trip(network):
    edges, comms, keys = network
    g = nx.read_graphml(io.StringIO(to_graphml(edges, communities=comms, key_players=keys)))
    assert g.is_directed() and g.number_of_nodes() == 40 and g.number_of_edges() == edges.num_rows
    phone = comms.column("phone")[0].as_py()
    assert g.nodes[phone]["community"] == comms.column("community")[0].as_py()
    k = {r["phone"]: r for r in keys.to_pylist()}
    assert g.nodes[phone]["pagerank"] == pytest.approx(k[phone]["pagerank"])
    e0 = edges.to_pylist()[0]
    assert g.edges[e0["caller"], e0["callee"]]["n_events"] == e0["n_events"]


def test_gexf_round_trip(network):
    edges, comms, keys = network
    g = nx.read_gexf(io.BytesIO(to_gexf(edges, communities=comms, key_players=keys).encode()))
    assert g.number_of_nodes() == 40 and g.number_of_edges() == edges.num_rows
    e0 = edges.to_pylist()[0]
    assert g.edges[e0["caller"], e0["callee"]]["weight"] == e0["n_events"]
    phone = comms.column("phone")[0].as_py()
    assert g.nodes[phone]["community"] == comms.column("community")[0].as_py()


def test_subsets(network):
    edges, comms, _ = network
    sub = community_edges(edges, comms, 0)
    members = set(comms.filter(pc.equal(comms.column("community"), 0)).column("phone").to_pylist())
    assert sub.num_rows > 0
    assert set(sub.column("caller").to_pylist()) <= members and set(sub.column("callee").to_pylist()) <= members
    one = comms.column("phone")[0].as_py()
    inv = investigation_edges(edges, [one])
    assert all(one in (r["caller"], r["callee"]) for r in inv.to_pylist())
    with pytest.raises(TypeError):
        investigation_edges(edges, one)


def test_html_is_offline_and_carries_the_graph(network):
    edges, comms, keys = network
    page = to_html(edges, communities=comms, key_players=keys, title="Test <net>")
    assert "<script src" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "Test &lt;net&gt;" in page
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1))
    assert len(data["nodes"]) == 40 and len(data["edges"]) == edges.num_rows and data["n_communities"] == 4
    top = max(data["nodes"], key=lambda n: n["a"]["pagerank"])
    low = min(data["nodes"], key=lambda n: n["a"]["pagerank"])
    assert top["r"] > low["r"]  # sized by centrality
    assert len({n["c"] for n in data["nodes"]}) == 4  # coloured by community
    small = json.loads(
        re.search(r'id="data">(.*?)</script>', to_html(edges, communities=comms, key_players=keys, max_nodes=10), re.S).group(1)
    )
    assert len(small["nodes"]) == 10 and small["truncated"]
