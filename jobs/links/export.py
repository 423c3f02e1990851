"""Exports of call networks: GraphML, GEXF and a self-contained interactive HTML view.

Every function returns a string; writing files is the caller's business.
Node attributes come from a communities table (``phone``, ``community``) and
a key-players table (centralities); edges are summed over periods.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import quoteattr

import igraph as ig
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.inputs import require_columns

_NODE_NUMERIC = ("size", "degree", "strength", "coreness", "betweenness", "eigenvector", "pagerank", "score", "rank")
_EDGE_NUMERIC = ("n_events", "n_voice", "n_sms", "total_duration_s")


def community_edges(edges: pa.Table, communities: pa.Table, community: int) -> pa.Table:
    """Edges whose both ends are in ``community`` (period-matched when both tables have periods)."""
    require_columns(communities, ["phone", "community"], "communities")
    members = communities.filter(pc.equal(communities.column("community"), community))
    phones = pc.unique(members.column("phone"))
    mask = pc.and_(pc.is_in(edges.column("caller"), value_set=phones), pc.is_in(edges.column("callee"), value_set=phones))
    if "period" in members.column_names and "period" in edges.column_names and members.num_rows:
        mask = pc.and_(mask, pc.is_in(edges.column("period"), value_set=pc.unique(members.column("period"))))
    return edges.filter(mask)


def investigation_edges(edges: pa.Table, phones: Sequence[str], *, include_contacts: bool = True) -> pa.Table:
    """Edges touching the investigated ``phones`` (``include_contacts``) or only among them."""
    if isinstance(phones, str):
        raise TypeError("phones must be a list of phone numbers, not one string")
    vs = pa.array(list(phones), pa.string())
    a = pc.is_in(edges.column("caller"), value_set=vs)
    b = pc.is_in(edges.column("callee"), value_set=vs)
    return edges.filter(pc.or_(a, b) if include_contacts else pc.and_(a, b))


def _frames(edges: pa.Table, communities: pa.Table | None, key_players: pa.Table | None,
            aliases: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    require_columns(edges, ["caller", "callee", "n_events"], "edges")
    e = edges.to_pandas()
    agg = {c: "sum" for c in _EDGE_NUMERIC if c in e.columns}
    if "first_contact" in e.columns:
        agg.update(first_contact="min", last_contact="max")
    e = e.groupby(["caller", "callee"], sort=True).agg(agg).reset_index()
    phones = sorted(set(e["caller"]) | set(e["callee"]))
    n = pd.DataFrame({"id": phones})
    if aliases is not None:  # the short name the charts show (jobs.links.aliases), for i2/Gephi labels
        n["alias"] = [aliases.get(p) for p in phones]
    for extra, name in ((communities, "communities"), (key_players, "key_players")):
        if extra is None:
            continue
        require_columns(extra, ["phone"], name)
        x = extra.to_pandas()
        if "period" in x.columns:
            x = x.sort_values("period").drop_duplicates("phone", keep="last")
        keep = [c for c in ("community", *_NODE_NUMERIC) if c in x.columns and c not in n.columns]
        n = n.merge(x[["phone", *keep]].rename(columns={"phone": "id"}), on="id", how="left")
    return n, e


def _attr_type(s: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(s) or (pd.api.types.is_float_dtype(s) and s.name in ("community", "size", "degree", "coreness", "rank")):
        return "long"
    if pd.api.types.is_float_dtype(s):
        return "double"
    return "string"


def _value(v, kind: str) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if kind == "long":
        return str(int(v))
    if kind == "double":
        return repr(float(v))
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v)


def to_graphml(edges: pa.Table, *, communities: pa.Table | None = None, key_players: pa.Table | None = None,
            aliases: Mapping[str, str] | None = None) -> str:
    """GraphML (directed) of a call network with community and centrality attributes (and ``alias``, the
    charts' short name of each phone, when ``aliases`` maps pseudonyms to aliases).

    Notes
    -----
    GraphML 1.0 (graphml.graphdrawing.org); readable by igraph, networkx,
    Gephi, Cytoscape and yEd.
    """
    nodes, e = _frames(edges, communities, key_players, aliases)
    ncols = [c for c in nodes.columns if c != "id"]
    ecols = [c for c in e.columns if c not in ("caller", "callee")]
    ntypes = {c: _attr_type(nodes[c]) for c in ncols}
    etypes = {c: _attr_type(e[c]) for c in ecols}
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
    ]
    for c in ncols:
        out.append(f'  <key id="v_{c}" for="node" attr.name="{c}" attr.type="{ntypes[c]}"/>')
    for c in ecols:
        out.append(f'  <key id="e_{c}" for="edge" attr.name="{c}" attr.type="{etypes[c]}"/>')
    out.append('  <graph id="call_network" edgedefault="directed">')
    for row in nodes.itertuples(index=False):
        d = row._asdict()
        data = "".join(
            f'<data key="v_{c}">{html.escape(v, quote=False)}</data>' for c in ncols if (v := _value(d[c], ntypes[c])) is not None
        )
        out.append(f"    <node id={quoteattr(d['id'])}>{data}</node>")
    for i, row in enumerate(e.itertuples(index=False)):
        d = row._asdict()
        data = "".join(
            f'<data key="e_{c}">{html.escape(v, quote=False)}</data>' for c in ecols if (v := _value(d[c], etypes[c])) is not None
        )
        out.append(f'    <edge id="e{i}" source={quoteattr(d["caller"])} target={quoteattr(d["callee"])}>{data}</edge>')
    out += ["  </graph>", "</graphml>", ""]
    return "\n".join(out)


def to_gexf(edges: pa.Table, *, communities: pa.Table | None = None, key_players: pa.Table | None = None,
            aliases: Mapping[str, str] | None = None) -> str:
    """GEXF 1.3 (directed, static) of a call network; ``weight`` is the event count; with ``aliases`` each
    node's label is its alias (and ``alias`` an attribute).

    Notes
    -----
    GEXF 1.3 schema (gexf.net), Gephi's native format.
    """
    nodes, e = _frames(edges, communities, key_players, aliases)
    ncols = [c for c in nodes.columns if c != "id"]
    ecols = [c for c in e.columns if c not in ("caller", "callee")]
    ntypes = {c: _attr_type(nodes[c]) for c in ncols}
    etypes = {c: _attr_type(e[c]) for c in ecols}
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gexf xmlns="http://gexf.net/1.3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://gexf.net/1.3 http://gexf.net/1.3/gexf.xsd" version="1.3">',
        '  <meta><creator>crimefusion</creator><description>call network</description></meta>',
        '  <graph mode="static" defaultedgetype="directed">',
        '    <attributes class="node">',
        *[f'      <attribute id="{i}" title="{c}" type="{ntypes[c]}"/>' for i, c in enumerate(ncols)],
        "    </attributes>",
        '    <attributes class="edge">',
        *[f'      <attribute id="{i}" title="{c}" type="{etypes[c]}"/>' for i, c in enumerate(ecols)],
        "    </attributes>",
        "    <nodes>",
    ]
    for row in nodes.itertuples(index=False):
        d = row._asdict()
        vals = "".join(
            f'<attvalue for="{i}" value={quoteattr(v)}/>' for i, c in enumerate(ncols) if (v := _value(d[c], ntypes[c])) is not None
        )
        out.append(f"      <node id={quoteattr(d['id'])} label={quoteattr(d.get('alias') or d['id'])}><attvalues>{vals}</attvalues></node>")
    out.append("    </nodes>")
    out.append("    <edges>")
    for i, row in enumerate(e.itertuples(index=False)):
        d = row._asdict()
        vals = "".join(
            f'<attvalue for="{j}" value={quoteattr(v)}/>' for j, c in enumerate(ecols) if (v := _value(d[c], etypes[c])) is not None
        )
        out.append(
            f'      <edge id="{i}" source={quoteattr(d["caller"])} target={quoteattr(d["callee"])} '
            f'weight="{float(d["n_events"])!r}"><attvalues>{vals}</attvalues></edge>'
        )
    out += ["    </edges>", "  </graph>", "</gexf>", ""]
    return "\n".join(out)


_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
]

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{margin:0;font:13px system-ui,sans-serif;background:#fafafa}
#bar{position:fixed;top:0;left:0;right:0;padding:6px 10px;background:#fff;border-bottom:1px solid #ddd;z-index:2}
#bar input{width:16em}
svg{position:fixed;top:36px;left:0;width:100vw;height:calc(100vh - 36px);cursor:grab}
line{stroke:#999;stroke-opacity:.45}
circle{stroke:#fff;stroke-width:.6}
.dim{opacity:.12}
.hit{stroke:#000;stroke-width:2}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;display:none;z-index:3;white-space:pre}
</style></head><body>
<div id="bar"><b>__TITLE__</b> &nbsp; <span id="stats"></span> &nbsp;
<input id="q" placeholder="find phone (prefix)"> <button id="reset">reset view</button>
<small>drag to pan, wheel to zoom, click a node to show its contacts</small></div>
<svg id="net" xmlns="http://www.w3.org/2000/svg"><g id="vp"><g id="E"></g><g id="N"></g></g></svg>
<div id="tip"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
(function(){
"use strict";
var D=JSON.parse(document.getElementById("data").textContent);
var NS="http://www.w3.org/2000/svg",svg=document.getElementById("net"),vp=document.getElementById("vp");
var E=document.getElementById("E"),N=document.getElementById("N"),tip=document.getElementById("tip");
document.getElementById("stats").textContent=D.nodes.length+" phones, "+D.edges.length+" links, "+D.n_communities+" communities"+(D.truncated?" (largest "+D.nodes.length+" shown)":"");
var nb=D.nodes.map(function(){return [];}),lines=[],circles=[];
D.edges.forEach(function(e){
  var a=D.nodes[e[0]],b=D.nodes[e[1]],l=document.createElementNS(NS,"line");
  l.setAttribute("x1",a.x);l.setAttribute("y1",a.y);l.setAttribute("x2",b.x);l.setAttribute("y2",b.y);
  l.setAttribute("stroke-width",Math.min(6,0.5+Math.log(1+e[2])));
  E.appendChild(l);lines.push(l);nb[e[0]].push(e[1]);nb[e[1]].push(e[0]);
});
D.nodes.forEach(function(n,i){
  var c=document.createElementNS(NS,"circle");
  c.setAttribute("cx",n.x);c.setAttribute("cy",n.y);c.setAttribute("r",n.r);c.setAttribute("fill",n.c);
  c.addEventListener("mousemove",function(ev){
    tip.style.display="block";tip.style.left=(ev.clientX+12)+"px";tip.style.top=(ev.clientY+12)+"px";
    tip.textContent=n.id+"\\ncommunity "+n.k+"\\n"+Object.keys(n.a).map(function(k){return k+": "+n.a[k];}).join("\\n");
  });
  c.addEventListener("mouseleave",function(){tip.style.display="none";});
  c.addEventListener("click",function(ev){ev.stopPropagation();focus(i);});
  N.appendChild(c);circles.push(c);
});
function focus(i){
  var keep={};keep[i]=1;nb[i].forEach(function(j){keep[j]=1;});
  circles.forEach(function(c,j){c.classList.toggle("dim",!keep[j]);c.classList.toggle("hit",j===i);});
  D.edges.forEach(function(e,j){lines[j].classList.toggle("dim",!(e[0]===i||e[1]===i));});
}
function clear(){circles.forEach(function(c){c.classList.remove("dim","hit");});lines.forEach(function(l){l.classList.remove("dim");});}
var s=1,tx=0,ty=0,drag=null;
function apply(){vp.setAttribute("transform","translate("+tx+","+ty+") scale("+s+")");}
function fit(){var w=svg.clientWidth||800,h=svg.clientHeight||600;s=Math.min(w,h)/1000;tx=(w-1000*s)/2;ty=(h-1000*s)/2;apply();}
svg.addEventListener("wheel",function(ev){ev.preventDefault();var r=svg.getBoundingClientRect(),mx=ev.clientX-r.left,my=ev.clientY-r.top;
  var f=ev.deltaY<0?1.15:1/1.15;tx=mx-(mx-tx)*f;ty=my-(my-ty)*f;s*=f;apply();},{passive:false});
svg.addEventListener("mousedown",function(ev){drag=[ev.clientX-tx,ev.clientY-ty];svg.style.cursor="grabbing";});
window.addEventListener("mousemove",function(ev){if(drag){tx=ev.clientX-drag[0];ty=ev.clientY-drag[1];apply();}});
window.addEventListener("mouseup",function(){drag=null;svg.style.cursor="grab";});
svg.addEventListener("click",clear);
document.getElementById("reset").addEventListener("click",function(){clear();fit();});
document.getElementById("q").addEventListener("input",function(ev){var q=ev.target.value.trim();if(!q){clear();return;}
  for(var i=0;i<D.nodes.length;i++){if(D.nodes[i].id.indexOf(q)===0){focus(i);return;}}});
fit();window.addEventListener("resize",fit);
})();
</script></body></html>
"""


def to_html(
    edges: pa.Table,
    *,
    communities: pa.Table | None = None,
    key_players: pa.Table | None = None,
    title: str = "Call network",
    size_by: str = "pagerank",
    max_nodes: int = 2000,
    seed: int = 0,
) -> str:
    """Self-contained interactive network view (no external scripts, works offline).

    Nodes are sized by ``size_by`` (a key-players column, default PageRank)
    and coloured by community; the layout is computed here with igraph's
    Fruchterman-Reingold (seeded), and the page's inline JavaScript only
    draws SVG and handles pan, zoom, tooltips, search and neighbour
    highlighting. Graphs larger than ``max_nodes`` keep their ``max_nodes``
    highest-strength phones.

    Notes
    -----
    Fruchterman & Reingold (1991), "Graph drawing by force-directed
    placement", Softw. Pract. Exp. 21(11).
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    nodes, e = _frames(edges, communities, key_players)
    truncated = False
    if len(nodes) > max_nodes:
        strength = pd.concat([e.groupby("caller")["n_events"].sum(), e.groupby("callee")["n_events"].sum()]).groupby(level=0).sum()
        keep = set(strength.sort_values(ascending=False, kind="stable").index[:max_nodes])
        nodes = nodes[nodes["id"].isin(keep)].reset_index(drop=True)
        e = e[e["caller"].isin(keep) & e["callee"].isin(keep)].reset_index(drop=True)
        truncated = True
    idx = {p: i for i, p in enumerate(nodes["id"])}
    g = ig.Graph(n=len(nodes), edges=[(idx[a], idx[b]) for a, b in zip(e["caller"], e["callee"])], directed=False)
    if len(nodes):
        rng = np.random.default_rng(seed)
        layout = g.layout_fruchterman_reingold(seed=rng.random((len(nodes), 2)).tolist(), niter=500)
        xy = np.asarray(layout.coords, dtype=float).reshape(-1, 2)
        span = np.ptp(xy, axis=0)
        span[span == 0] = 1.0
        xy = 40 + 920 * (xy - xy.min(axis=0)) / span
    else:
        xy = np.zeros((0, 2))
    if size_by in nodes.columns:
        v = nodes[size_by].fillna(0).to_numpy(dtype=float)
    else:
        v = np.asarray(g.degree(), dtype=float)
    v = np.sqrt(v / v.max()) if len(v) and v.max() > 0 else np.zeros(len(nodes))
    radius = 3 + 15 * v
    comm = nodes["community"].fillna(-1).astype(int).to_numpy() if "community" in nodes.columns else np.full(len(nodes), -1)
    attrs = [c for c in ("size", "degree", "strength", "coreness", "betweenness", "eigenvector", "pagerank", "rank") if c in nodes.columns]
    data = {
        "nodes": [
            {
                "id": str(nodes["id"].iat[i]),
                "x": round(float(xy[i, 0]), 2),
                "y": round(float(xy[i, 1]), 2),
                "r": round(float(radius[i]), 2),
                "k": int(comm[i]),
                "c": "#777777" if comm[i] < 0 else _PALETTE[comm[i] % len(_PALETTE)],
                "a": {c: (round(float(nodes[c].iat[i]), 5) if pd.notna(nodes[c].iat[i]) else None) for c in attrs},
            }
            for i in range(len(nodes))
        ],
        "edges": [[idx[a], idx[b], int(w)] for a, b, w in zip(e["caller"], e["callee"], e["n_events"])],
        "n_communities": int(len(set(comm[comm >= 0].tolist()))),
        "truncated": truncated,
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _HTML.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
