/* crimefusion link chart (jobs/links/chartpage.py): draws #cf-chart-data with Cytoscape.js.
 * Positions come from the data (computed in Python, seeded); this script draws, and handles
 * hover, search, the details panel and a link's timeline. All text goes in through textContent. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("cf-chart-data").textContent);
  var side = document.getElementById("cf-details");
  var tl = document.getElementById("cf-timeline");
  var tip = document.getElementById("cf-tip");
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function fmtDur(s) {
    if (!s || s <= 0) { return "\u2013"; }
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    var two = function (v) { return (v < 10 ? "0" : "") + v; };
    return h ? h + ":" + two(m) + ":" + two(x) : m + ":" + two(x);
  }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  var elements = [];
  D.nodes.forEach(function (n, i) {
    elements.push({
      group: "nodes",
      data: { id: "n" + i, i: i, alias: n.alias, colour: n.c, size: n.s, shape: n.shape },
      position: { x: n.x, y: n.y },
      classes: (n.key ? "key " : "") + "role-" + n.role
    });
  });
  D.edges.forEach(function (e, j) {
    var k = D.kinds[e.kind];
    elements.push({
      group: "edges",
      data: {
        id: "e" + j, j: j, source: "n" + e.a, target: "n" + e.b, colour: k.colour, lstyle: k.style, width: e.w,
        tgt: e.ab > 0 ? "triangle" : "none", src: e.ba > 0 ? "triangle" : "none"
      }
    });
  });

  var cy = cytoscape({
    container: document.getElementById("cf-graph"),
    elements: elements,
    layout: { name: "preset", fit: true, padding: 40 },
    minZoom: 0.05,
    maxZoom: 6,
    boxSelectionEnabled: false,
    style: [
      { selector: "node", style: {
        "background-color": "data(colour)", "width": "data(size)", "height": "data(size)", "shape": "data(shape)",
        "label": "data(alias)", "font-size": 15, "font-family": "system-ui, sans-serif", "color": "#1a1a1a",
        "text-valign": "bottom", "text-margin-y": 3, "text-outline-color": "#fff", "text-outline-width": 2,
        "border-width": 1, "border-color": "#555", "min-zoomed-font-size": 7 } },
      { selector: "node.key", style: { "border-width": 4, "border-color": "#111" } },
      { selector: "node.role-ego", style: { "font-weight": "bold", "font-size": 19, "border-width": 3, "border-color": "#111" } },
      { selector: "node.role-hop2, node.role-hop3", style: { "background-opacity": 0.55, "border-opacity": 0.5 } },
      { selector: "edge", style: {
        "width": "data(width)", "line-color": "data(colour)", "line-style": "data(lstyle)", "curve-style": "bezier",
        "target-arrow-shape": "data(tgt)", "source-arrow-shape": "data(src)", "target-arrow-color": "data(colour)",
        "source-arrow-color": "data(colour)", "arrow-scale": 0.9, "opacity": 0.75 } },
      { selector: "node:selected", style: { "border-width": 5, "border-color": "#1f4fd1" } },
      { selector: "edge:selected", style: { "line-color": "#1f4fd1", "target-arrow-color": "#1f4fd1",
        "source-arrow-color": "#1f4fd1", "opacity": 1, "z-index": 10, "width": 7, "line-style": "solid" } },
      { selector: ".cf-faded", style: { "opacity": 0.22 } }
    ]
  });
  // a small selection fitted to the window would be drawn huge: no closer than 1:1 at first sight
  function fitView() {
    cy.fit(undefined, 40);
    if (cy.zoom() > 1) { cy.zoom(1); cy.center(); }
  }
  fitView();
  window.cfChart = cy;

  // -- hover: alias, pseudonym, community ------------------------------------------------------
  function showTip(evt, lines) {
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    var box = cy.container().getBoundingClientRect();
    var p = evt.renderedPosition || { x: 0, y: 0 };
    tip.style.left = (box.left + window.scrollX + p.x + 14) + "px";
    tip.style.top = (box.top + window.scrollY + p.y + 14) + "px";
  }
  function nodeLines(n) {
    var out = [n.alias, n.id];
    out.push(n.k >= 0 ? "community " + n.k : "no community this week");
    if (n.a.rank !== null && n.a.rank !== undefined) { out.push("rank " + n.a.rank + " in its community"); }
    return out;
  }
  function edgeLines(e) {
    var a = D.nodes[e.a], b = D.nodes[e.b];
    var out = [a.alias + " \u2194 " + b.alias];
    if (e.voice !== undefined) { out.push(plural(e.voice, "call", "calls") + ", " + plural(e.sms, "SMS", "SMS")); }
    else { out.push(plural(e.n, "call or SMS", "calls and SMS")); }
    out.push("click for the timeline");
    return out;
  }
  cy.on("mouseover", "node", function (evt) { showTip(evt, nodeLines(D.nodes[evt.target.data("i")])); });
  cy.on("mouseover", "edge", function (evt) { showTip(evt, edgeLines(D.edges[evt.target.data("j")])); });
  cy.on("mouseout", "node, edge", function () { tip.hidden = true; });
  cy.on("pan zoom", function () { tip.hidden = true; });

  // -- details of a phone -----------------------------------------------------------------------
  function clearFade() { cy.elements().removeClass("cf-faded"); }
  function fadeAround(node) {
    var keep = node.closedNeighborhood();
    cy.elements().addClass("cf-faded");
    keep.removeClass("cf-faded");
  }
  function resetPanel(panel, heading, hint) {
    panel.textContent = "";
    panel.appendChild(el("h2", null, heading));
    if (hint) { panel.appendChild(el("p", "cf-hint", hint)); }
  }
  function row(table, key, value) {
    var tr = el("tr");
    tr.appendChild(el("th", null, key));
    tr.appendChild(el("td", null, value));
    table.appendChild(tr);
  }
  function showNode(i) {
    var n = D.nodes[i];
    resetPanel(side, "Details");
    var head = el("p", "cf-alias", n.alias);
    side.appendChild(head);
    side.appendChild(el("p", "cf-pseudonym", n.id));
    var t = el("table", "cf-attrs");
    var role = document.querySelector(".cf-role[data-role='" + n.role + "']");
    if (role) { row(t, "role", role.textContent.replace(/\s*\d+$/, "")); }
    row(t, "community", n.k >= 0 ? String(n.k) : "none this week");
    if (n.a.rank !== null) { row(t, "rank in community", String(n.a.rank) + (n.key ? " (key player)" : "")); }
    if (n.a.pagerank !== null) { row(t, "PageRank", n.a.pagerank.toFixed(5)); }
    if (n.a.degree !== null) { row(t, "contacts in the week", String(n.a.degree)); }
    row(t, "links in this chart", String(n.a.links_here));
    side.appendChild(t);
    var links = cy.getElementById("n" + i).connectedEdges().map(function (e) { return D.edges[e.data("j")]; });
    links.sort(function (x, y) { return y.n - x.n; });
    if (links.length) {
      side.appendChild(el("p", "cf-hint", "Links (click one for its timeline):"));
      var ul = el("ul", "cf-links");
      links.slice(0, 30).forEach(function (e) {
        var other = D.nodes[e.a === i ? e.b : e.a];
        var li = el("li");
        var a = el("a", null, other.alias);
        a.href = "#";
        a.addEventListener("click", function (ev) { ev.preventDefault(); selectEdge(D.edges.indexOf(e)); });
        li.appendChild(a);
        li.appendChild(document.createTextNode(" " + plural(e.n, "call or SMS", "calls and SMS")));
        ul.appendChild(li);
      });
      side.appendChild(ul);
    }
  }

  // -- timeline of a link ---------------------------------------------------------------------
  function showTimeline(j) {
    var e = D.edges[j], a = D.nodes[e.a], b = D.nodes[e.b];
    var ev = D.events[String(j)] || [];
    resetPanel(tl, "Timeline: " + a.alias + " \u2194 " + b.alias);
    tl.querySelector("h2").className = "cf-timeline-title";
    var talk = ev.reduce(function (s, x) { return s + (x[2] === "v" ? x[3] : 0); }, 0);
    var nv = ev.filter(function (x) { return x[2] === "v"; }).length, ns = ev.length - nv;
    var sum = plural(nv, "call", "calls") + ", " + plural(ns, "SMS", "SMS") + ", talk time " + fmtDur(talk);
    if (D.window) { sum += "; " + D.window.label; }
    tl.appendChild(el("p", "cf-summary", sum));
    tl.appendChild(el("p", "cf-pseudonyms", a.alias + " = " + a.id + "    " + b.alias + " = " + b.id));
    if (!ev.length) {
      tl.appendChild(el("p", "cf-hint", "No call or SMS of this link in the chart's data (the chart sums " +
        plural(e.n, "event", "events") + ")."));
      return;
    }
    if (D.window) { tl.appendChild(strip(ev, D.window)); }
    var table = el("table", "cf-table cf-timeline-table");
    var thead = el("thead"), hr = el("tr");
    ["#", "local time (" + D.timezone + ")", "from", "to", "kind", "duration"].forEach(function (h) { hr.appendChild(el("th", null, h)); });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = el("tbody");
    ev.forEach(function (x, k) {
      var tr = el("tr", x[2] === "v" ? "cf-ev-voice" : "cf-ev-sms");
      var from = x[4] > 0 ? a : b, to = x[4] > 0 ? b : a;
      [String(k + 1), x[1], from.alias, to.alias, x[2] === "v" ? "call" : "SMS", x[2] === "v" ? fmtDur(x[3]) : "\u2013"]
        .forEach(function (v) { tr.appendChild(el("td", null, v)); });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    tl.appendChild(table);
  }
  function strip(ev, w) {
    var W = 1000, H = 74, L = 60, R = 10, span = Math.max(1, w.end - w.start);
    var x = function (t) { return L + (W - L - R) * (t - w.start) / span; };
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "cf-strip");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "calls and SMS over the chart's week");
    function add(tag, attrs, text) {
      var n = document.createElementNS(SVG, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
      if (text) { n.textContent = text; }
      svg.appendChild(n);
      return n;
    }
    add("text", { x: 4, y: 22, "class": "cf-lane" }, "calls");
    add("text", { x: 4, y: 46, "class": "cf-lane" }, "SMS");
    add("line", { x1: L, y1: 54, x2: W - R, y2: 54, stroke: "#999" });
    w.days.forEach(function (d) {
      add("line", { x1: x(d[0]), y1: 6, x2: x(d[0]), y2: 58, stroke: "#ddd" });
      add("text", { x: x(d[0]) + 3, y: 70, "class": "cf-day" }, d[1]);
    });
    ev.forEach(function (e) {
      var y = e[2] === "v" ? 10 : 34;
      add("line", { x1: x(e[0]), y1: y, x2: x(e[0]), y2: y + 16, stroke: e[2] === "v" ? D.kinds.voice.colour : D.kinds.sms.colour,
        "stroke-width": 2, "class": "cf-tick" }).appendChild(document.createElementNS(SVG, "title")).textContent =
        e[1] + (e[2] === "v" ? " call " + fmtDur(e[3]) : " SMS");
    });
    return svg;
  }

  function selectEdge(j) {
    cy.elements().unselect();
    var edge = cy.getElementById("e" + j);
    edge.select();
    clearFade();
    edge.connectedNodes().select();
    showTimeline(j);
  }
  function selectNode(i, centre) {
    cy.elements().unselect();
    var node = cy.getElementById("n" + i);
    node.select();
    fadeAround(node);
    if (centre) { cy.center(node); }
    showNode(i);
  }

  cy.on("tap", "node", function (evt) { tip.hidden = true; selectNode(evt.target.data("i"), false); });
  cy.on("tap", "edge", function (evt) { tip.hidden = true; selectEdge(evt.target.data("j")); });
  cy.on("tap", function (evt) {
    if (evt.target === cy) {
      clearFade();
      cy.elements().unselect();
      resetPanel(side, "Details", "Click a phone or a link.");
    }
  });

  var search = document.getElementById("cf-search");
  search.addEventListener("input", function () {
    var q = search.value.trim().toUpperCase();
    if (!q) { clearFade(); return; }
    var bare = q.indexOf("P-") === 0 ? q : "P-" + q;
    for (var i = 0; i < D.nodes.length; i++) {
      var n = D.nodes[i];
      if (n.alias.indexOf(bare) === 0 || (q.length >= 4 && n.id.toUpperCase().indexOf(q) === 0)) {
        selectNode(i, true);
        return;
      }
    }
  });
  document.getElementById("cf-reset").addEventListener("click", function () {
    clearFade();
    cy.elements().unselect();
    search.value = "";
    fitView();
    resetPanel(side, "Details", "Click a phone or a link.");
  });
  window.cfSelectEdge = selectEdge;
  window.cfSelectNode = selectNode;
  document.body.setAttribute("data-ready", "1");
})();
