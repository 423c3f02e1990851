"""What a link chart shows: a selection of phones out of a week's call network, not the whole network.

An analyst starts from something they know: a community (``call_communities``), the phones seen
near an incident (a tower dump), or one phone and its contacts to two hops (an ego network). Each
function here takes the network's undirected pairs (:func:`phone_pairs`) and returns a
:class:`Selection`: the phones, the part each plays, and a note when a cap on the chart's size
left phones out (and which were kept).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.inputs import require_columns

__all__ = ["ROLES", "Selection", "community_selection", "ego_selection", "phone_pairs", "tower_dump_selection"]

#: What a phone is in its chart, in the words of the legend.
ROLES = {
    "ego": "the phone asked for",
    "scene": "seen near the incident",
    "contact": "common contact of phones seen near the incident",
    "hop1": "direct contact",
    "hop2": "contact of a contact",
    "hop3": "three hops away",
    "member": "community member",
}
_COUNTS = ("n_events", "n_voice", "n_sms", "total_duration_s")


@dataclass(frozen=True)
class Selection:
    """Phones a chart shows, in a fixed order, with each one's role (a key of :data:`ROLES`).

    ``kind`` is ``community``, ``ego`` or ``tower_dump``; ``notes`` are lines for the reader (what a
    size cap left out); ``focus`` is the phone an ego network is built around.
    """

    kind: str
    label: str
    phones: tuple[str, ...]
    roles: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    focus: str | None = None

    def __post_init__(self):
        if len(set(self.phones)) != len(self.phones):
            raise ValueError(f"selection {self.label!r} lists a phone twice")
        unknown = set(self.roles.values()) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {sorted(ROLES)}")


def phone_pairs(edges: pa.Table) -> pd.DataFrame:
    """Undirected pairs of a call-edges table (``CALL_EDGES``, one or more periods summed).

    Returns one row per pair ``a < b`` with the summed ``n_events``, ``n_voice``, ``n_sms`` and
    ``total_duration_s``, the events each way (``a_to_b``, ``b_to_a``) and the first and last contact
    when the edges carry them; sorted by ``a``, ``b``.
    """
    require_columns(edges, ["caller", "callee", "n_events"], "edges")
    cols = [c for c in ("caller", "callee", *_COUNTS, "first_contact", "last_contact") if c in edges.column_names]
    e = edges.select(cols).to_pandas()
    e = e[e["caller"] != e["callee"]]
    forward = e["caller"] < e["callee"]
    e = e.assign(a=np.where(forward, e["caller"], e["callee"]), b=np.where(forward, e["callee"], e["caller"]),
                 a_to_b=np.where(forward, e["n_events"], 0), b_to_a=np.where(forward, 0, e["n_events"]))
    agg = {c: "sum" for c in (*_COUNTS, "a_to_b", "b_to_a") if c in e.columns}
    if "first_contact" in e.columns:
        agg.update(first_contact="min", last_contact="max")
    out = e.groupby(["a", "b"], sort=True).agg(agg).reset_index()
    return out


def _strength(pairs: pd.DataFrame) -> pd.Series:
    both = pd.concat([pairs[["a", "n_events"]].set_axis(["phone", "n"], axis=1),
                      pairs[["b", "n_events"]].set_axis(["phone", "n"], axis=1)])
    return both.groupby("phone")["n"].sum()


def _adjacency(pairs: pd.DataFrame) -> dict[str, dict[str, int]]:
    adj: dict[str, dict[str, int]] = defaultdict(dict)
    for a, b, n in zip(pairs["a"], pairs["b"], pairs["n_events"]):
        adj[a][b] = int(n)
        adj[b][a] = int(n)
    return adj


def community_selection(communities: pa.Table, community: int, pairs: pd.DataFrame, *,
                        max_nodes: int = 200) -> Selection:
    """The members of one community (a ``call_communities`` table of one period).

    Above ``max_nodes`` members, the ones with the most calls and SMS are kept.
    """
    require_columns(communities, ["phone", "community"], "communities")
    _check_max(max_nodes)
    ids = sorted(pc.unique(communities["community"]).to_pylist())
    members = communities.filter(pc.equal(communities["community"], int(community)))["phone"].to_pylist()
    if not members:
        span = f"{ids[0]} to {ids[-1]}" if ids else "none"
        raise ValueError(f"community {community} is not in this week's network (communities: {span})")
    strength = _strength(pairs)
    members = sorted(set(members), key=lambda p: (-int(strength.get(p, 0)), p))
    notes = ()
    if len(members) > max_nodes:
        notes = (f"{max_nodes} of the community's {len(members)} phones shown: those with the most calls and SMS "
                 f"(raise max nodes to see all).",)
        members = members[:max_nodes]
    return Selection("community", f"Community {community}", tuple(members), {p: "member" for p in members}, notes)


def ego_selection(pairs: pd.DataFrame, phone: str, *, hops: int = 2, max_nodes: int = 150,
                  name: str | None = None) -> Selection:
    """``phone`` and every phone within ``hops`` contacts of it (its ego network).

    Parameters
    ----------
    pairs
        :func:`phone_pairs` of the network.
    phone
        The ego.
    hops
        1 to 3.
    max_nodes
        Above this, the nearer rings are kept whole while they fit, and of the first ring that does not
        fit, the phones with most links into the kept phones (then most calls and SMS with them).
    name
        How the notes call the ego (its alias); default the pseudonym.

    Notes
    -----
    Breadth-first search on the undirected contact graph; the ego network of social network analysis
    (Wasserman & Faust 1994, ch. 2), an i2 Analyst's Notebook "expand" of ``hops`` levels.
    """
    if not 1 <= int(hops) <= 3:
        raise ValueError(f"hops must be 1, 2 or 3, got {hops}")
    _check_max(max_nodes)
    adj = _adjacency(pairs)
    name = name or phone
    if phone not in adj:
        raise ValueError(f"phone {name} made no call or SMS in this week's network")
    rings, seen = [[phone]], {phone}
    for _ in range(int(hops)):
        nxt = sorted({q for p in rings[-1] for q in adj[p]} - seen)
        rings.append(nxt)
        seen |= set(nxt)
    kept = [phone]
    roles = {phone: "ego"}
    notes: list[str] = []
    for h, ring in enumerate(rings[1:], 1):
        budget = max_nodes - len(kept)
        if len(ring) > budget:
            inside = set(kept)
            links = {q: sum(1 for p in adj[q] if p in inside) for q in ring}
            weight = {q: sum(n for p, n in adj[q].items() if p in inside) for q in ring}
            ring = sorted(ring, key=lambda q: (-links[q], -weight[q], q))[:max(budget, 0)]
            kept += ring
            roles.update({q: f"hop{h}" for q in ring})
            notes.append(f"{len(kept)} of the {len(seen)} phones within {hops} hop{'s' if hops > 1 else ''} of {name} "
                         f"shown: {len(seen) - len(kept)} at {h} hop{'s' if h > 1 else ''} or more left out (kept: "
                         "most links to the nearer phones).")
            break
        kept += ring
        roles.update({q: f"hop{h}" for q in ring})
    label = f"{'One' if hops == 1 else 'Two' if hops == 2 else 'Three'}-hop network of {name}"
    return Selection("ego", label, tuple(kept), roles, tuple(notes), focus=phone)


def tower_dump_selection(pairs: pd.DataFrame, dump: pa.Table | Sequence[str], *, label: str,
                         max_nodes: int = 150, min_shared: int = 2) -> Selection:
    """The phones of a tower dump and the phones in contact with at least ``min_shared`` of them.

    Parameters
    ----------
    pairs
        :func:`phone_pairs` of the network the links are drawn from.
    dump
        :func:`jobs.links.colocation.tower_dump`'s table (``phone``, ``n_events``) or a list of phones.
    label
        The chart's name of the incident (``Tower dump of incident ...``).
    max_nodes
        Above it the dump's phones with the most events near the incident are kept first, then the
        common contacts linked to the most dump phones.
    min_shared
        Dump phones a contact must have called or texted to be shown; contacts of one dump phone only
        would bury the dump under each phone's whole address book.
    """
    _check_max(max_nodes)
    if isinstance(dump, pa.Table):
        require_columns(dump, ["phone"], "dump")
        events = dump["n_events"].to_pylist() if "n_events" in dump.column_names else [0] * dump.num_rows
        ranked = sorted(zip(dump["phone"].to_pylist(), events), key=lambda r: (-(r[1] or 0), r[0]))
        phones = list(dict.fromkeys(p for p, _ in ranked))
    else:
        if isinstance(dump, str):
            raise TypeError("dump must be a tower-dump table or a list of phones, not one string")
        phones = list(dict.fromkeys(dump))
    notes: list[str] = []
    if len(phones) > max_nodes:
        notes.append(f"{max_nodes} of the {len(phones)} phones seen near the incident shown: those with the most events there.")
        phones = phones[:max_nodes]
    inside = set(phones)
    adj = _adjacency(pairs)
    shared = {q: sum(1 for p in nbrs if p in inside) for q, nbrs in adj.items() if q not in inside}
    contacts = sorted((q for q, k in shared.items() if k >= min_shared),
                      key=lambda q: (-shared[q], -sum(n for p, n in adj[q].items() if p in inside), q))
    budget = max_nodes - len(phones)
    if len(contacts) > budget:
        notes.append(f"{max(budget, 0)} of {len(contacts)} common contacts shown: those linked to the most phones "
                     "seen near the incident.")
        contacts = contacts[:max(budget, 0)]
    roles = {p: "scene" for p in phones} | {q: "contact" for q in contacts}
    return Selection("tower_dump", label, tuple(phones + contacts), roles, tuple(notes))


def _check_max(max_nodes: int) -> None:
    if int(max_nodes) < 2:
        raise ValueError(f"max_nodes must be at least 2, got {max_nodes}")
