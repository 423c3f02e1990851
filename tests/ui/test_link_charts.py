"""Link charts in a real browser (Debian's Chromium through Playwright), from ``file://``, on the bundled data.

What an analyst must see: the selection and its week in local dates in the title; every phone drawn and
labelled with its short alias, the pseudonym on hover; a legend naming each community colour (the rest
grouped as "other" and counted) and each link kind; on clicking a link, the time-ordered calls and SMS of
its two phones in Chicago time; on clicking a phone, its alias, pseudonym and community. And nothing
else: no console error, no request leaving ``file://``. Screenshots go to ``test-artifacts/ui/``
(``link-chart-ego.png``, ``link-chart-tower-dump.png``, ``link-charts-index.png``). With
``CRIMEFUSION_UPDATE_DOCS_IMG=1`` and the demo's lakehouse under ``./lake`` (``crimefusion run``),
:func:`test_readme_picture` draws the README's chart with ``crimefusion links chart`` and replaces
``docs/img/link_chart.png`` with it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil

import pytest

from jobs.links.chartpage import PALETTE
from jobs.links.colocation import tower_dump
from jobs.links.reports import write_chart, write_link_charts
from jobs.links.selections import ego_selection, tower_dump_selection
from jobs.links.timeline import duration_label, pair_timeline, time_label
from tests.jobs.links import bundled
from tests.ui.test_asset_graph import ARTIFACTS, ROOT
from tests.ui.test_maps import Watched

pytestmark = pytest.mark.slow
DOCS_IMG = ROOT / "docs" / "img" / "link_chart.png"
WEEK_TEXT = "week of Mon 25 Dec 2017 – Sun 31 Dec 2017 (America/Chicago)"


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    """The asset's folder for the demo's latest complete week, a smaller ego chart (the README's), and the
    tower dump of the incident where the generator planted the most group members."""
    out = tmp_path_factory.mktemp("links")
    net = bundled.week_network()
    index, _, rows = write_link_charts(out, net, top_communities=2, top_phones=1)
    hub = net.key_players.sort_by([("pagerank", "descending")])["phone"][0].as_py()
    ego = write_chart(out / "ego_small.html", net,
                      ego_selection(net.pairs, hub, hops=2, max_nodes=60, name=net.aliases[hub]))
    inc = bundled.planted_incident()
    _, tables = bundled.world()
    week = dt.datetime(2017, 12, 4, tzinfo=dt.timezone.utc)
    inc_net = bundled.week_network(week)
    dump = tower_dump(tables["cdr_events"], tables["cell_sites"], lon=inc["lon"], lat=inc["lat"], time=inc["time"],
                      before="1h", after="1h", radius_m=300)
    sel = tower_dump_selection(inc_net.pairs, dump, label=f"Tower dump of incident {inc['incident_id']}")
    dump_page = write_chart(out / "dump.html", inc_net, sel)
    return {"index": index, "rows": rows, "net": net, "hub": hub, "ego": ego, "dump": dump_page, "dump_sel": sel,
            "dump_net": inc_net, "incident": inc}


def _container(page) -> dict:
    return page.locator("#cf-graph").bounding_box()


def _node_point(page, i: int) -> tuple[float, float]:
    box = _container(page)
    p = page.evaluate(f"(() => {{ const r = cfChart.getElementById('n{i}').renderedPosition(); return [r.x, r.y]; }})()")
    return box["x"] + p[0], box["y"] + p[1]


def _free_edge(page) -> tuple[int, float, float]:
    """The link with most calls and SMS whose midpoint lies clear of every phone (so a click hits the link)."""
    j, x, y = page.evaluate("""(() => {
      const nodes = cfChart.nodes().map(n => n.renderedBoundingBox());
      const D = JSON.parse(document.getElementById('cf-chart-data').textContent);
      const order = D.edges.map((e, j) => j).sort((a, b) => D.edges[b].n - D.edges[a].n);
      for (const j of order) {
        const m = cfChart.getElementById('e' + j).renderedMidpoint();
        if (nodes.every(b => m.x < b.x1 - 6 || m.x > b.x2 + 6 || m.y < b.y1 - 6 || m.y > b.y2 + 6)) return [j, m.x, m.y];
      }
      return [-1, 0, 0];
    })()""")
    assert j >= 0, "every link's midpoint is under a phone"
    box = _container(page)
    return j, box["x"] + x, box["y"] + y


def test_ego_chart(browser, charts):
    net, hub = charts["net"], charts["hub"]
    alias = net.aliases[hub]
    w = Watched(browser, width=1400, height=1050)
    page = w.open(charts["ego"])
    assert page.locator("h1").inner_text() == f"Two-hop network of {alias}, {WEEK_TEXT}"
    assert alias == "P-DD6NF"  # the demo's most central phone, as the README names it

    # drawn: a canvas filling the graph region, every phone inside it, labelled with its alias
    assert page.locator("#cf-graph canvas").count() >= 1
    box = _container(page)
    assert box["width"] > 800 and box["height"] > 400
    data = page.evaluate("JSON.parse(document.getElementById('cf-chart-data').textContent)")
    labels = page.evaluate("cfChart.nodes().map(n => n.style('label'))")
    assert labels == [n["alias"] for n in data["nodes"]] and all(re.fullmatch(r"P-[0-9A-Z]{5}", a) for a in labels)
    assert labels[0] == alias
    inside = page.evaluate("""(() => { const w = cfChart.width(), h = cfChart.height();
      return cfChart.nodes().every(n => { const b = n.renderedBoundingBox();
        return b.x1 >= 0 && b.y1 >= 0 && b.x2 <= w && b.y2 <= h; }); })()""")
    assert inside, "every phone is within the chart at first sight"

    # legend: ten coloured communities by name, the rest grouped and counted, three link kinds
    legend = page.locator(".cf-legend")
    assert legend.is_visible()
    rows = legend.locator(".cf-community")
    assert rows.count() == len(PALETTE)
    assert re.fullmatch(r"Community \d+ \d+ of \d+ phones", rows.first.inner_text())
    other = legend.locator(".cf-other").inner_text()
    n_comms = len({n["k"] for n in data["nodes"]})
    assert f"{n_comms - len(PALETTE)} other communities" in other and f"only the {len(PALETTE)} communities" in other
    kinds = legend.locator(".cf-kind").all_inner_texts()
    assert [re.sub(r" \d+$", "", k) for k in kinds] == ["Calls only", "SMS only", "Calls and SMS"]
    assert "Key player" in legend.inner_text() and "The phone asked for" in legend.inner_text()

    # hover: the full pseudonym
    x, y = _node_point(page, 0)
    page.mouse.move(x, y)
    tip = page.locator("#cf-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text().splitlines()[:2] == [alias, hub]

    # click a link: its calls and SMS, oldest first, in Chicago time
    j, x, y = _free_edge(page)
    page.mouse.click(x, y)
    edge = data["edges"][j]
    a, b = data["nodes"][edge["a"]], data["nodes"][edge["b"]]
    title = page.locator("#cf-timeline h2")
    title.wait_for()
    assert title.inner_text() == f"Timeline: {a['alias']} ↔ {b['alias']}"
    want = pair_timeline(bundled.world()[1]["cdr_events"], a["id"], b["id"], timezone=bundled.TZ,
                         start=net.week, end=net.end).to_pylist()
    table = page.locator("#cf-timeline table tbody tr")
    assert table.count() == len(want) == edge["n"] > 1
    first = table.first.locator("td").all_inner_texts()
    assert first[1] == time_label(want[0]["start_time"], bundled.TZ)
    assert first[2:4] == [net.aliases[want[0]["caller"]], net.aliases[want[0]["callee"]]]
    assert first[4] == ("call" if want[0]["kind"] == "voice" else "SMS")
    if want[0]["kind"] == "voice":
        assert first[5] == duration_label(want[0]["duration_s"])
    voice = sum(r["kind"] == "voice" for r in want)
    assert page.locator("#cf-timeline .cf-summary").inner_text().startswith(
        f"{voice} call{'s' if voice != 1 else ''}, {len(want) - voice} SMS")
    assert page.locator("#cf-timeline svg.cf-strip line.cf-tick").count() == len(want)
    assert page.locator("#cf-tip").is_hidden()  # a click puts the tooltip away
    page.mouse.move(2, 2)
    page.screenshot(path=str(ARTIFACTS / "link-chart-ego.png"), full_page=True)

    # search by alias: the phone is selected and its details shown
    page.fill("#cf-search", b["alias"].lower())
    assert page.locator("#cf-details .cf-alias").inner_text() == b["alias"]
    assert page.locator("#cf-details .cf-pseudonym").inner_text() == b["id"]
    assert not w.errors, w.errors
    assert not w.outside(), f"requests outside file://: {w.outside()}"


def test_tower_dump_chart(browser, charts):
    sel, inc, net = charts["dump_sel"], charts["incident"], charts["dump_net"]
    w = Watched(browser)
    page = w.open(charts["dump"])
    assert page.locator("h1").inner_text().startswith(f"Tower dump of incident {inc['incident_id']}, week of Mon 4 Dec 2017")
    scene = [p for p in sel.phones if sel.roles[p] == "scene"]
    planted = set(inc["phones"])
    assert len(planted & set(scene)) >= 4  # the generator's planted group members were near the incident
    role = page.locator(".cf-role[data-role='scene']").inner_text()
    assert role == f"Seen near the incident {len(scene)}"
    shapes = page.evaluate("cfChart.nodes().map(n => n.style('shape'))")
    assert shapes.count("diamond") == len(scene)
    # click a planted phone: its alias, pseudonym and community in the side panel
    i = next(k for k, p in enumerate(sel.phones) if p in planted)
    x, y = _node_point(page, i)
    page.mouse.click(x, y)
    details = page.locator("#cf-details")
    assert details.locator(".cf-alias").inner_text() == net.aliases[sel.phones[i]]
    assert details.locator(".cf-pseudonym").inner_text() == sel.phones[i]
    assert "seen near the incident" in details.inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "link-chart-tower-dump.png"), full_page=True)
    assert not w.errors, w.errors
    assert not w.outside(), f"requests outside file://: {w.outside()}"


def test_index_leads_to_the_charts(browser, charts):
    w = Watched(browser, width=1200, height=800)
    page = w.open(charts["index"])
    assert page.locator("h1").inner_text() == f"Link charts, {WEEK_TEXT}"
    links = page.locator("table.cf-index-table a")
    assert links.all_inner_texts()[-1] == "P-DD6NF, 2 hops" and links.count() == len(charts["rows"])
    page.screenshot(path=str(ARTIFACTS / "link-charts-index.png"), full_page=True)
    links.first.click()
    page.wait_for_selector("body[data-ready='1'] #cf-graph canvas")
    assert page.locator("h1").inner_text().startswith("Community ")
    assert not w.errors, w.errors
    assert not w.outside(), f"requests outside file://: {w.outside()}"


README_INCIDENT = "chicago_aggravated_assaults:f89776947799cc2e"  # where the generator planted five group members


@pytest.mark.skipif(os.environ.get("CRIMEFUSION_UPDATE_DOCS_IMG") != "1", reason="updates docs/img only when asked")
def test_readme_picture(browser, tmp_path):
    from typer.testing import CliRunner

    from orchestration.cli.links import app

    lake = ROOT / "lake"
    if not (lake / "gold" / "call_communities").is_dir():
        pytest.skip("no demo lakehouse under ./lake: crimefusion run builds it")
    path = tmp_path / "readme.html"
    res = CliRunner().invoke(app, ["chart", "--incident", README_INCIDENT, "--radius-m", "300", "--window-h", "1",
                                   "--lake", str(lake), "--out", str(path)])
    assert res.exit_code == 0, res.output
    w = Watched(browser, width=1400, height=1000)
    page = w.open(path)
    j, x, y = _free_edge(page)
    page.mouse.click(x, y)
    page.locator("#cf-timeline table").wait_for()
    page.mouse.move(2, 2)
    page.screenshot(path=str(ARTIFACTS / "link-chart-readme.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": 1180})
    assert not w.errors, w.errors
    assert not w.outside(), f"requests outside file://: {w.outside()}"
    shutil.copyfile(ARTIFACTS / "link-chart-readme.png", DOCS_IMG)
