"""Writing call networks and reading table files: only the formats asked for, errors that name the path."""

from __future__ import annotations

import json

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.links.edges import aggregate_edges
from jobs.links.graph import call_network
from jobs.links.lookups import read_table
from jobs.links.reports import write_investigation, write_latest_period, write_network, write_rows_json
from jobs.links.synthetic import planted_partition_cdr


@pytest.fixture(scope="module")
def cdr():
    return planted_partition_cdr(n_groups=2, group_size=6, events_per_phone=10, days=10, seed=3)[0]


def test_write_network_writes_only_the_formats_given(cdr, tmp_path):
    edges = aggregate_edges(cdr, period="all")
    comms, keys = call_network(edges, seed=0)
    written = write_network(edges, communities=comms, key_players=keys, graphml=tmp_path / "a" / "n.graphml",
                            html=tmp_path / "n.html")
    assert written == [tmp_path / "a" / "n.graphml", tmp_path / "n.html"]  # folders are created, no GEXF
    assert nx.read_graphml(written[0]).number_of_nodes() == 12 and "<svg" in written[1].read_text()
    assert write_network(edges) == []


def test_latest_period_and_communities(cdr, tmp_path):
    edges = aggregate_edges(cdr, period="day")
    comms, keys = call_network(edges, seed=0)
    written = write_latest_period(edges, comms, keys, gexf=tmp_path / "n.gexf", per_community=tmp_path / "c", min_size=1)
    assert written[0] == tmp_path / "n.gexf"
    assert {p.suffix for p in written[1:]} == {".graphml", ".gexf", ".html"} and len(written[1:]) % 3 == 0
    assert write_latest_period(edges.slice(0, 0), comms, keys, gexf=tmp_path / "x.gexf") == []


def test_investigation_only_when_a_format_is_given(cdr, tmp_path):
    phone = cdr["caller"][0].as_py()
    assert write_investigation(cdr, [phone]) == []
    (path,) = write_investigation(cdr, [phone], gexf=tmp_path / "i.gexf")
    assert path == tmp_path / "i.gexf" and nx.read_gexf(path).number_of_nodes() > 1  # the phone and its contacts


def test_rows_json_and_read_table(tmp_path):
    t = pa.table({"a": [1, 2]})
    assert json.loads(write_rows_json(t, tmp_path / "x" / "t.json").read_text()) == [{"a": 1}, {"a": 2}]
    pq.write_table(t, tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet").equals(t)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="neither a Delta table folder nor Parquet"):
        read_table(tmp_path / "bad.parquet")
