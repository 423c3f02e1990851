"""``crimefusion links`` sub-app: reads Parquet/Delta, prints tables, writes JSON/GraphML/GEXF/HTML."""

from __future__ import annotations

import datetime as dt
import json
import re

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


# -- tower dump of a named incident, read from a small lakehouse --------------------------

INCIDENT_TIME = dt.datetime(2024, 1, 3, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def lake(cdr_file, cells_file, tmp_path_factory):
    from orchestration.resources.lakehouse import LocalLakehouse

    _, cdr = cdr_file
    lh = LocalLakehouse(root=str(tmp_path_factory.mktemp("lake")))
    lh.overwrite("silver", "cdr_events", cdr)
    lh.overwrite("silver", "cell_sites", pq.read_table(cells_file))
    lh.overwrite("silver", "incidents", pa.table({
        "incident_id": ["INC-1", "INC-FAR", "INC-NOWHERE"],
        "occurred_at": pa.array([INCIDENT_TIME] * 3, pa.timestamp("us", tz="UTC")),
        "lon": pa.array([0.0, 50.0, None], pa.float64()),
        "lat": pa.array([0.004, 50.0, None], pa.float64()),
    }))
    # fusion's context of INC-1: two phones in its tower dump, one transaction nearby
    lh.overwrite("gold", "incident_context", pa.table({
        "incident_id": ["INC-1", "INC-1", "INC-1", "INC-1"],
        "relation": ["tower_dump", "tower_dump", "tower_dump", "transaction"],
        "entity_id": ["phone:p1", "phone:p2", "phone:p1", "account:a1"],
    }))
    return lh


def expected_dump(cdr: pa.Table, cell: str, t: dt.datetime, before: dt.timedelta, after: dt.timedelta) -> set[str]:
    """Callers (every row is an outgoing one) of the cell's rows inside the window."""
    return {r["caller"] for r in cdr.to_pylist()
            if r["cell_id"] == cell and t - before <= r["start_time"] <= t + after}


def test_tower_dump_of_an_incident_reads_the_lakehouse(cdr_file, cells_file, lake, tmp_path):
    path, cdr = cdr_file
    want = expected_dump(cdr, "c1", INCIDENT_TIME, dt.timedelta(days=1), dt.timedelta(days=1))
    assert 0 < len(want) < 24  # the window and the cell both select
    res = runner.invoke(app, ["tower-dump", "--incident", "INC-1", "--lake", lake.root, "--before", "1d", "--after", "1d",
                              "--json", str(tmp_path / "lake.json")])
    assert res.exit_code == 0, res.output
    assert "incident INC-1: lon 0.000000, lat 0.004000, 2024-01-03T12:00:00+00:00" in res.output
    assert "covering cells: c1" in res.output
    assert "gold/incident_context lists 2 phone(s)" in res.output
    assert {r["phone"] for r in json.loads((tmp_path / "lake.json").read_text())} == want
    # the incident's point and time with the CDR and cells given as files: the same dump
    res = runner.invoke(app, ["tower-dump", str(path), str(cells_file), "--incident", "INC-1", "--lake", lake.root,
                              "--before", "1d", "--after", "1d", "--json", str(tmp_path / "files.json")])
    assert res.exit_code == 0, res.output
    assert {r["phone"] for r in json.loads((tmp_path / "files.json").read_text())} == want
    # a narrower window keeps fewer phones
    res = runner.invoke(app, ["tower-dump", "--incident", "INC-1", "--lake", lake.root, "--before", "2h", "--after", "2h",
                              "--json", str(tmp_path / "narrow.json")])
    assert res.exit_code == 0, res.output
    narrow = {r["phone"] for r in json.loads((tmp_path / "narrow.json").read_text())}
    assert narrow == expected_dump(cdr, "c1", INCIDENT_TIME, dt.timedelta(hours=2), dt.timedelta(hours=2)) and narrow < want


def test_tower_dump_of_an_incident_no_cell_covers(lake, tmp_path):
    res = runner.invoke(app, ["tower-dump", "--incident", "INC-FAR", "--lake", lake.root, "--json", str(tmp_path / "far.json")])
    assert res.exit_code == 0, res.output
    assert "covering cells: none" in res.output and json.loads((tmp_path / "far.json").read_text()) == []


@pytest.mark.parametrize("args,message", [
    (["--incident", "INC-404"], "incident 'INC-404' is not in silver/incidents"),
    (["--incident", "INC-NOWHERE"], "has no location"),
    (["--incident", "INC-1", "--lon", "0.0"], "not both"),
    (["--lon", "0.0", "--lat", "0.0"], "give --incident ID, or all of --lon, --lat and --time"),
])
def test_tower_dump_errors_name_the_problem(lake, args, message):
    res = runner.invoke(app, ["tower-dump", *args, "--lake", lake.root])
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_tower_dump_of_an_incident_without_incidents_table(tmp_path):
    res = runner.invoke(app, ["tower-dump", "--incident", "INC-1", "--lake", str(tmp_path)])
    assert res.exit_code == 2 and "no silver/incidents" in res.output, res.output


def test_tower_dump_needs_both_paths_or_neither(cdr_file, lake):
    path, _ = cdr_file
    res = runner.invoke(app, ["tower-dump", str(path), "--incident", "INC-1", "--lake", lake.root])
    assert res.exit_code == 2 and "give both CDR_PATH and CELLS_PATH" in res.output, res.output


# -- co-location on hand-placed sectors ------------------------------------------------------

def test_colocation_command(tmp_path):
    # c1 faces north from (0, 0); c4 ~556 m east faces west and overlaps c1; c3 is ~11 km away
    cells = pa.table({
        "cell_id": ["c1", "c3", "c4"], "site_id": ["S1", "S3", "S4"],
        "lon": [0.0, 0.1, 0.005], "lat": [0.0, 0.0, 0.0],
        "geometry": [shapely.to_wkb(sector_polygon(lon, 0.0, az, 120, 1000)) for lon, az in ((0.0, 0.0), (0.1, 0.0), (0.005, 270.0))],
    })
    t = dt.datetime(2024, 1, 2, 10, tzinfo=UTC)
    rows = [  # (caller, cell, minutes after 10:00)
        ("A", "c1", 0),
        ("B", "c1", 5),   # same cell, 5 min later
        ("E", "c4", 4),   # overlapping sector
        ("C", "c3", 2),   # far away
        ("D", "c1", 60),  # same cell, an hour later
    ]
    cdr = pa.table({
        "event_id": [f"e{i}" for i in range(len(rows))],
        "caller": [r[0] for r in rows], "callee": ["Z"] * len(rows),
        "start_time": pa.array([t + dt.timedelta(minutes=r[2]) for r in rows], pa.timestamp("us", tz="UTC")),
        "kind": ["voice"] * len(rows), "direction": ["out"] * len(rows), "cell_id": [r[1] for r in rows],
    })
    pq.write_table(cdr, tmp_path / "cdr.parquet")
    pq.write_table(cells, tmp_path / "cells.parquet")
    base = ["colocation", str(tmp_path / "cdr.parquet"), str(tmp_path / "cells.parquet"), "A", "--window", "15min"]

    def met(mode: str) -> set[tuple[str, str]]:
        out = tmp_path / f"{mode}.json"
        res = runner.invoke(app, [*base, "--mode", mode, "--json", str(out)])
        assert res.exit_code == 0, res.output
        assert "co-location" in res.output
        return {(r["phone_a"], r["phone_b"]) for r in json.loads(out.read_text())}

    assert met("same_cell") == {("A", "B")}
    assert met("overlap") == {("A", "B"), ("A", "E")}
    res = runner.invoke(app, [*base, "--mode", "same_street"])
    assert res.exit_code == 2 and "mode" in res.output, res.output


# -- link charts and timelines on the lakehouse's networks ------------------------------------

@pytest.fixture(scope="module")
def networks(cdr_file, lake):
    """The small lakehouse with the weekly call networks of its CDRs (what call_edges and call_network write)."""
    from jobs.links.edges import aggregate_edges
    from jobs.links.graph import call_network

    _, cdr = cdr_file
    edges = aggregate_edges(cdr, period="week")
    comms, keys = call_network(edges, seed=0)
    for name, table in (("call_edges", edges), ("call_communities", comms), ("key_players", keys)):
        lake.overwrite("gold", name, table)
    return lake, edges, comms, keys


def _chart_data(path) -> dict:
    import re

    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r"id='cf-chart-data'>(.*?)</script>", text, re.S).group(1))


def test_chart_of_a_community(networks, tmp_path):
    lake, _, comms, _ = networks
    week = dt.datetime(2024, 1, 1, tzinfo=UTC)
    members = {r["phone"] for r in comms.to_pylist() if r["community"] == 1 and r["period"] == week}
    res = runner.invoke(app, ["chart", "--community", "1", "--week", "2024-01-03", "--lake", lake.root,
                              "--out", str(tmp_path / "c1.html")])
    assert res.exit_code == 0, res.output
    assert f"Community 1, week of 2024-01-01: {len(members)} phones" in res.output
    data = _chart_data(tmp_path / "c1.html")
    assert {n["id"] for n in data["nodes"]} == members
    assert all(re.fullmatch(r"P-[0-9A-Z]{5}", n["alias"]) for n in data["nodes"])


def test_chart_of_a_phone_by_alias_with_the_default_path(networks, tmp_path):
    from jobs.links.aliases import phone_alias

    lake, edges, _, _ = networks
    phone = edges["caller"][0].as_py()
    alias = phone_alias(phone)
    res = runner.invoke(app, ["chart", "--phone", alias.lower(), "--hops", "1", "--week", "2024-01-01",
                              "--lake", lake.root], env={"CRIMEFUSION_HOME": str(tmp_path)})
    assert res.exit_code == 0, res.output
    path = tmp_path / "reports" / "links" / "selections" / f"{alias}_1hops_2024-01-01.html"
    assert f"wrote {path}" in res.output and f"One-hop network of {alias}" in res.output
    data = _chart_data(path)
    contacts = {r["callee"] for r in edges.to_pylist() if r["caller"] == phone and r["period"].day == 1} | {
        r["caller"] for r in edges.to_pylist() if r["callee"] == phone and r["period"].day == 1}
    assert data["nodes"][0]["id"] == phone and {n["id"] for n in data["nodes"][1:]} == contacts


def test_chart_of_an_incident_tower_dump(cdr_file, networks, tmp_path):
    lake = networks[0]
    _, cdr = cdr_file
    want = expected_dump(cdr, "c1", INCIDENT_TIME, dt.timedelta(hours=24), dt.timedelta(hours=24))
    res = runner.invoke(app, ["chart", "--incident", "INC-1", "--window-h", "24", "--lake", lake.root,
                              "--out", str(tmp_path / "inc.html")])
    assert res.exit_code == 0, res.output
    assert "Tower dump of incident INC-1, week of 2024-01-01" in res.output
    data = _chart_data(tmp_path / "inc.html")
    assert {n["id"] for n in data["nodes"] if n["role"] == "scene"} == want
    page = (tmp_path / "inc.html").read_text()
    assert f"{len(want)} phones served by the 1 cells covering the incident" in page
    # a radius reaching c2's sector (its site is 1 degree of longitude, ~111 km, east) adds its phones
    res = runner.invoke(app, ["chart", "--incident", "INC-1", "--window-h", "24", "--radius-m", "120000",
                              "--lake", lake.root, "--out", str(tmp_path / "wide.html")])
    assert res.exit_code == 0, res.output
    wide = {n["id"] for n in _chart_data(tmp_path / "wide.html")["nodes"] if n["role"] == "scene"}
    assert wide > want and "served by the 2 cells within 120000 m of the incident" in (tmp_path / "wide.html").read_text()


@pytest.mark.parametrize("args,message", [
    ([], "give one selection: --community N, --phone ALIAS"),
    (["--community", "1", "--phone", "P-AAAAA"], "got --community and --phone"),
    (["--community", "1", "--hops", "2"], "--hops goes with --phone"),
    (["--phone", "P-AAAAA", "--window-h", "2"], "--window-h goes with --incident"),
    (["--incident", "INC-1", "--week", "2024-01-01"], "--week does not go with --incident"),
    (["--incident", "INC-1", "--window-h", "0"], "--window-h must be more than 0"),
    (["--incident", "INC-1", "--radius-m", "-5"], "--radius-m must be >= 0"),
    (["--incident", "INC-FAR"], "no phone was served by a cell covering incident INC-FAR"),
    (["--community", "42"], "community 42 is not in this week's network"),
    (["--community", "1", "--week", "1999-01-01"], "--week: week 1998-12-28 has no call network"),
    (["--phone", "P-ZZZZZ"], "no phone 'P-ZZZZZ' among the 24 phones"),
    (["--phone", "P-AAAAA", "--hops", "4"], ""),
])
def test_chart_errors_name_the_problem(networks, args, message):
    res = runner.invoke(app, ["chart", *args, "--lake", networks[0].root])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and message in res.output and len(res.output.strip().splitlines()) == 1


def test_chart_without_networks_is_a_failure_not_a_usage_error(tmp_path):
    res = runner.invoke(app, ["chart", "--community", "1", "--lake", str(tmp_path)])
    assert res.exit_code == 1 and "error: no gold/call_communities" in res.output, res.output


def test_timeline_of_two_phones(networks, tmp_path):
    from jobs.links.aliases import phone_alias

    lake, edges, _, _ = networks
    top = max(edges.to_pylist(), key=lambda r: r["n_events"])
    a, b = top["caller"], top["callee"]
    res = runner.invoke(app, ["timeline", phone_alias(a), b, "--lake", lake.root, "--json", str(tmp_path / "t.json")])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "t.json").read_text())
    n = sum(r["n_events"] for r in edges.to_pylist() if {r["caller"], r["callee"]} == {a, b})
    assert len(rows) == n and [r["start_time"] for r in rows] == sorted(r["start_time"] for r in rows)
    assert {r["caller_alias"] for r in rows} <= {phone_alias(a), phone_alias(b)}
    assert f"{phone_alias(a)} = {a}" in res.output and "America/Chicago" in res.output
    # the local time is the feed's: UTC-6 in January
    first = dt.datetime.fromisoformat(rows[0]["start_time"])
    assert dt.datetime.fromisoformat(rows[0]["local_time"]).utcoffset() == dt.timedelta(hours=-6)
    assert dt.datetime.fromisoformat(rows[0]["local_time"]) == first
    res = runner.invoke(app, ["timeline", a, a, "--lake", lake.root])
    assert res.exit_code == 2 and "are the same phone" in res.output
