"""``crimefusion links`` sub-app: reads Parquet/Delta, prints tables, writes JSON/GraphML/GEXF/HTML."""

from __future__ import annotations

import datetime as dt
import json

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from typer.testing import CliRunner

from jobs.links.colocation import sector_polygon
from jobs.links.synthetic import planted_partition_cdr
from orchestration.cli.links import app

runner = CliRunner()
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def cdr_file(tmp_path_factory):
    cdr, _ = planted_partition_cdr(n_groups=3, group_size=8, events_per_phone=12, days=10, seed=5)
    cells = ["c1", "c2"]
    cdr = cdr.append_column("cell_id", pa.array([cells[i % 2] for i in range(cdr.num_rows)]))
    callers = cdr.column("caller").to_pylist()
    # every phone has its own handset except the first two, which share one (a swap)
    first_two = sorted(set(callers))[:2]
    cdr = cdr.append_column("imei", pa.array(["I-shared" if c in first_two else "I-" + c[:6] for c in callers]))
    cdr = cdr.append_column("imsi", pa.array(["S-" + c[:6] for c in callers]))
    path = tmp_path_factory.mktemp("cdr") / "cdr.parquet"
    pq.write_table(cdr, path)
    return path, cdr


@pytest.fixture(scope="module")
def cells_file(tmp_path_factory):
    t = pa.table(
        {
            "cell_id": ["c1", "c2"],
            "site_id": ["S1", "S2"],
            "lon": [0.0, 1.0],
            "lat": [0.0, 0.0],
            "geometry": [shapely.to_wkb(sector_polygon(0.0, 0.0, 0.0, 120, 1000)), shapely.to_wkb(sector_polygon(1.0, 0.0, 0.0, 120, 1000))],
        }
    )
    path = tmp_path_factory.mktemp("cells") / "cells.parquet"
    pq.write_table(t, path)
    return path


def test_network_writes_every_format(cdr_file, tmp_path):
    path, cdr = cdr_file
    res = runner.invoke(
        app,
        [
            "network", str(path), "--period", "all",
            "--json", str(tmp_path / "net.json"),
            "--graphml", str(tmp_path / "net.graphml"),
            "--gexf", str(tmp_path / "net.gexf"),
            "--html", str(tmp_path / "net.html"),
            "--per-community", str(tmp_path / "comm"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "key players" in res.output
    comms = json.loads((tmp_path / "net_communities.json").read_text())
    assert len({r["phone"] for r in comms}) == 24 and len({r["community"] for r in comms}) == 3
    assert nx.read_graphml(tmp_path / "net.graphml").number_of_nodes() == 24
    assert nx.read_gexf(tmp_path / "net.gexf").number_of_nodes() == 24
    assert "<svg" in (tmp_path / "net.html").read_text()
    assert sorted(p.name for p in (tmp_path / "comm").glob("*.graphml")) == [f"community_{k}.graphml" for k in range(3)]


def test_network_reads_delta(cdr_file, tmp_path):
    from deltalake import write_deltalake

    _, cdr = cdr_file
    write_deltalake(str(tmp_path / "cdr_delta"), cdr)
    res = runner.invoke(app, ["network", str(tmp_path / "cdr_delta"), "--period", "all", "--json", str(tmp_path / "d.json")])
    assert res.exit_code == 0, res.output
    assert len({r["phone"] for r in json.loads((tmp_path / "d_communities.json").read_text())}) == 24


def test_queries(cdr_file, cells_file, tmp_path):
    path, cdr = cdr_file
    a, b = cdr.column("caller")[0].as_py(), cdr.column("caller")[1].as_py()
    res = runner.invoke(app, ["common-contacts", str(path), a, b, "--min-shared", "1", "--json", str(tmp_path / "cc.json"), "--html", str(tmp_path / "cc.html")])
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "cc.json").read_text())) > 0 and (tmp_path / "cc.html").exists()
    res = runner.invoke(app, ["expand", str(path), a, "--depth", "2", "--json", str(tmp_path / "ex.json"), "--gexf", str(tmp_path / "ex.gexf")])
    assert res.exit_code == 0, res.output
    assert {r["degree"] for r in json.loads((tmp_path / "ex.json").read_text())} == {0, 1, 2}
    res = runner.invoke(app, ["call-chains", str(path), a, "--window", "3d", "--json", str(tmp_path / "ch.json")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["tower-dump", str(path), str(cells_file), "--lon", "0.0", "--lat", "0.004", "--time", "2024-01-03T12:00:00Z", "--before", "1d", "--after", "1d"]
    )
    assert res.exit_code == 0, res.output
    assert "covering cells: c1" in res.output
    res = runner.invoke(app, ["swaps", str(path), "--json", str(tmp_path / "sw.json")])
    assert res.exit_code == 0, res.output
    swaps = json.loads((tmp_path / "sw.json").read_text())
    assert [(r["kind"], r["key"], r["n_distinct"]) for r in swaps] == [("device_many_sims", "I-shared", 2)]
    for cmd in (["burners", str(path)], ["silent", str(path), "--time", "2024-01-05T00:00:00Z", "--all"]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["co-travel", str(path), str(cells_file), "--min-places", "1", "--window", "1min"])
    assert res.exit_code == 0, res.output


def test_fraud_rings_command(tmp_path):
    t0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
    rows = [("t1", "A", "B", 100.0, t0), ("t2", "B", "C", 95.0, t0 + dt.timedelta(hours=1)), ("t3", "C", "A", 90.0, t0 + dt.timedelta(hours=2))]
    txns = pa.table(
        {
            "txn_id": [r[0] for r in rows],
            "account": [r[1] for r in rows],
            "counterparty": [r[2] for r in rows],
            "amount": [r[3] for r in rows],
            "currency": ["EUR"] * 3,
            "occurred_at": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
            "channel": ["transfer"] * 3,
        }
    )
    pq.write_table(txns, tmp_path / "txns.parquet")
    res = runner.invoke(app, ["fraud-rings", str(tmp_path / "txns.parquet"), "--json", str(tmp_path / "rings.json")])
    assert res.exit_code == 0, res.output
    rings = json.loads((tmp_path / "rings.json").read_text())
    assert len(rings) == 1 and rings[0]["core_members"] == ["A", "B", "C"]


def test_errors_are_reported(cdr_file, tmp_path):
    path, _ = cdr_file
    assert runner.invoke(app, ["network", str(tmp_path / "missing.parquet")]).exit_code != 0
    res = runner.invoke(app, ["network", str(path), "--period", "fortnight"])
    assert res.exit_code == 2 and "period" in res.output
