"""Link chart pages on the bundled demo's network: aliases, legend, link kinds, timelines, offline."""

from __future__ import annotations

import json
import re
from importlib import resources

import pyarrow.compute as pc
import pytest

from jobs.links.chartpage import (CYTOSCAPE_VERSION, OTHER_COLOUR, PALETTE, chart_html, chart_payload, cytoscape_js,
                                  window_label)
from jobs.links.reports import write_chart, write_link_charts
from jobs.links.selections import community_selection, ego_selection
from tests.jobs.links import bundled


def _data(page: str) -> dict:
    return json.loads(re.search(r"<script type='application/json' id='cf-chart-data'>(.*?)</script>", page, re.S).group(1))


@pytest.fixture(scope="module")
def net():
    return bundled.week_network()


@pytest.fixture(scope="module")
def hub(net):
    return net.key_players.sort_by([("pagerank", "descending")])["phone"][0].as_py()


def test_cytoscape_and_its_licence_ship_in_the_package():
    static = resources.files("jobs.links").joinpath("static")
    assert "Permission is hereby granted, free of charge" in static.joinpath("cytoscape", "LICENSE").read_text()
    assert f'.version="{CYTOSCAPE_VERSION}"' in cytoscape_js()
    assert static.joinpath("linkchart.js").is_file() and static.joinpath("linkchart.css").is_file()


def test_ego_chart_payload(net, hub):
    sel = ego_selection(net.pairs, hub, hops=2, max_nodes=150)
    data = chart_payload(sel, net.pairs, communities=net.communities, key_players=net.key_players, events=net.events,
                         aliases=net.aliases, timezone=net.timezone, window=(net.week, net.end))
    nodes, edges = data["nodes"], data["edges"]
    assert [n["id"] for n in nodes] == list(sel.phones)
    # labels are the short aliases, the same as every other chart of the lake gives these phones
    assert [n["alias"] for n in nodes] == [net.aliases[p] for p in sel.phones]
    assert nodes[0]["role"] == "ego" and nodes[0]["shape"] == "star"
    # a legend row for each coloured community, distinct colours, and the rest grey and counted as "other"
    lg = data["legend"]
    comms = {n["k"] for n in nodes}
    assert len(comms) > len(PALETTE)
    coloured = [c["colour"] for c in lg["communities"]]
    assert len(coloured) == len(PALETTE) == len(set(coloured))
    assert lg["other"]["n"] == len(comms) - len(PALETTE)
    assert lg["other"]["phones"] == sum(n["c"] == OTHER_COLOUR for n in nodes)
    here = [c["here"] for c in lg["communities"]]
    assert here == sorted(here, reverse=True) and min(here) >= max(
        sum(n["k"] == k for n in nodes) for k in comms - {c["k"] for c in lg["communities"]})
    # link kinds from the week's voice and SMS counts, with the legend's counts
    kinds = {k["kind"]: k["n"] for k in lg["kinds"]}
    assert set(kinds) == {"voice", "sms", "both"} and sum(kinds.values()) == len(edges)
    for e in edges:
        assert e["kind"] == ("both" if e["voice"] and e["sms"] else "voice" if e["voice"] else "sms")
        assert e["ab"] + e["ba"] == e["n"] == e["voice"] + e["sms"]
    # every link's timeline holds exactly the calls and SMS its count sums (the same once-per-call rule)
    assert all(len(data["events"].get(str(j), [])) == e["n"] for j, e in enumerate(edges))
    first = data["events"]["0"][0]
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Dec|Jan) \d\d:\d\d:\d\d", first[1])
    # the week read in Chicago: Sunday 18:00 to Sunday 18:00, one tick per local midnight
    assert data["window"]["label"] == "Sun 24 Dec 18:00 to Sun 31 Dec 18:00 (America/Chicago)"
    assert [d[1] for d in data["window"]["days"]] == ["Mon 25 Dec", "Tue 26 Dec", "Wed 27 Dec", "Thu 28 Dec",
                                                      "Fri 29 Dec", "Sat 30 Dec", "Sun 31 Dec"]
    assert sum(n["key"] for n in nodes) == lg["key_players"] > 0


def test_page_is_one_file_with_a_legend(net, tmp_path):
    sel = community_selection(net.communities, 3, net.pairs)
    path = write_chart(tmp_path / "c.html", net, sel)
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page, re.I)  # nothing loaded from elsewhere
    assert "sourceMappingURL" not in page and cytoscape_js() in page
    assert "<h1>Community 3, week of Mon 25 Dec 2017 – Sun 31 Dec 2017 (America/Chicago)</h1>" in page
    for text in ("Community 3 <span class='cf-legend-n'>", "Calls only", "SMS only", "Calls and SMS",
                 "Key player (top 3 of its community)", "Size: PageRank"):
        assert text in page, text
    assert "other communities" not in page  # one community: nothing grouped
    data = _data(page)
    assert {n["alias"] for n in data["nodes"]} == {net.aliases[p] for p in sel.phones}


def test_chart_without_communities_or_events():
    import pandas as pd

    from jobs.links.selections import Selection

    pairs = pd.DataFrame({"a": ["A"], "b": ["B"], "n_events": [2], "a_to_b": [2], "b_to_a": [0]})
    data = chart_payload(Selection("ego", "x", ("A", "B", "C"), {"A": "ego", "B": "hop1", "C": "hop1"}, focus="A"), pairs)
    assert [e["kind"] for e in data["edges"]] == ["contact"] and data["events"] == {}
    assert data["legend"]["communities"] == [] and data["legend"]["unassigned"] == 3
    assert len({(n["x"], n["y"]) for n in data["nodes"]}) == 3  # C (no link) does not sit on A or B
    page = chart_html(data, title="t <b>", subtitle="s & s")
    assert "<h1>t &lt;b&gt;</h1>" in page and "s &amp; s" in page and "Calls or SMS" in page


def test_window_label_in_utc():
    assert window_label("2018-01-01T00:00Z", "2018-01-08T00:00Z", "UTC") == "Mon 1 Jan 00:00 to Mon 8 Jan 00:00 (UTC)"


def test_link_charts_folder(net, tmp_path):
    (tmp_path / "network.html").write_text("old")  # an earlier version's whole-network view
    (tmp_path / "community_09.html").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    index, files, rows = write_link_charts(tmp_path, net, top_communities=2, top_phones=1, max_nodes=60)
    names = sorted(p.name for p in tmp_path.iterdir())
    sizes = net.communities.group_by("community").aggregate([("size", "max")]).sort_by([("size_max", "descending")])
    top = sizes["community"].to_pylist()[:2]
    hub = net.key_players.sort_by([("pagerank", "descending")])["phone"][0].as_py()
    want = sorted([f"community_{k:02d}.{ext}" for k in top for ext in ("html", "graphml", "gexf")]
                  + [f"ego_{net.aliases[hub]}.html", "index.html", "notes.txt"])
    assert names == want and index == tmp_path / "index.html"
    assert [r["chart"] for r in rows] == [f"community_{top[0]:02d}.html", f"community_{top[1]:02d}.html",
                                          f"ego_{net.aliases[hub]}.html"]
    assert all(r["phones"] <= 160 for r in rows) and rows[-1]["phones"] == 60  # the ego network was capped
    text = index.read_text()
    assert all(f"href='{r['chart']}'" in text for r in rows) and "crimefusion links chart --phone" in text
    graphml = (tmp_path / f"community_{top[0]:02d}.graphml").read_text()
    members = net.communities.filter(pc.equal(net.communities["community"], top[0]))["phone"].to_pylist()
    assert f'<data key="v_alias">{net.aliases[members[0]]}</data>' in graphml  # i2 and Gephi get the aliases too
