"""Selections a link chart starts from: a community, an ego network, a tower dump; on graphs drawn by hand."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jobs.links.selections import Selection, community_selection, ego_selection, phone_pairs, tower_dump_selection
from jobs.schemas import UTC_TS

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

# A - B - C - D - E  (a path), B - F, and X - Y apart
#         |
#         G (C's second contact)
LINKS = [("A", "B", 3), ("B", "A", 2), ("B", "C", 1), ("C", "D", 4), ("D", "E", 1), ("B", "F", 2), ("C", "G", 1),
         ("X", "Y", 5)]


def edges(links=LINKS) -> pa.Table:
    return pa.table({
        "period": pa.array([T0] * len(links), UTC_TS),
        "caller": [a for a, _, _ in links], "callee": [b for _, b, _ in links],
        "n_events": [n for *_, n in links], "n_voice": [n for *_, n in links], "n_sms": [0] * len(links),
        "total_duration_s": [60 * n for *_, n in links],
        "first_contact": pa.array([T0] * len(links), UTC_TS), "last_contact": pa.array([T0] * len(links), UTC_TS),
    })


@pytest.fixture(scope="module")
def pairs():
    return phone_pairs(edges())


def test_pairs_join_both_directions(pairs):
    ab = pairs[(pairs["a"] == "A") & (pairs["b"] == "B")].iloc[0]
    assert (ab["n_events"], ab["a_to_b"], ab["b_to_a"], ab["total_duration_s"]) == (5, 3, 2, 300)
    assert len(pairs) == len(LINKS) - 1  # A->B and B->A are one pair
    assert (pairs["a"] < pairs["b"]).all()


@pytest.mark.parametrize("phone,hops,want,roles", [
    ("A", 1, ["A", "B"], {"A": "ego", "B": "hop1"}),
    ("A", 2, ["A", "B", "C", "F"], {"C": "hop2", "F": "hop2"}),
    ("A", 3, ["A", "B", "C", "F", "D", "G"], {"D": "hop3", "G": "hop3"}),
    ("C", 1, ["C", "B", "D", "G"], {"C": "ego", "B": "hop1", "D": "hop1", "G": "hop1"}),
    ("X", 2, ["X", "Y"], {"Y": "hop1"}),
])
def test_ego_network(pairs, phone, hops, want, roles):
    sel = ego_selection(pairs, phone, hops=hops)
    assert list(sel.phones) == want and sel.kind == "ego" and sel.focus == phone
    assert all(sel.roles[p] == r for p, r in roles.items())
    assert sel.notes == ()


def test_ego_network_over_the_cap_keeps_the_nearer_ring_and_says_so(pairs):
    # A's two hops are B (1) and C, F (2); room for 3 phones: A, B and one of C (2 events with kept phones:
    # B-C 1) or F (B-F 2): F has more calls with the kept phones
    sel = ego_selection(pairs, "A", hops=2, max_nodes=3, name="P-AAAAA")
    assert list(sel.phones) == ["A", "B", "F"]
    assert sel.notes == ("3 of the 4 phones within 2 hops of P-AAAAA shown: 1 at 2 hops or more left out "
                         "(kept: most links to the nearer phones).",)


@pytest.mark.parametrize("kwargs,message", [
    ({"phone": "Z"}, "phone Z made no call or SMS"),
    ({"phone": "A", "hops": 0}, "hops must be 1, 2 or 3"),
    ({"phone": "A", "hops": 4}, "hops must be 1, 2 or 3"),
    ({"phone": "A", "max_nodes": 1}, "max_nodes must be at least 2"),
])
def test_ego_network_errors(pairs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ego_selection(pairs, **kwargs)


def test_community(pairs):
    comms = pa.table({"phone": ["A", "B", "C", "D", "X"], "community": [0, 0, 0, 1, 2]})
    sel = community_selection(comms, 0, pairs)
    # most calls and SMS first: B (3+2+1+2 = 8), A (5), C (1+4+1 = 6) -> B, C, A
    assert list(sel.phones) == ["B", "C", "A"] and set(sel.roles.values()) == {"member"}
    assert sel.label == "Community 0" and sel.notes == ()
    capped = community_selection(comms, 0, pairs, max_nodes=2)
    assert list(capped.phones) == ["B", "C"] and "2 of the community's 3 phones shown" in capped.notes[0]
    with pytest.raises(ValueError, match=r"community 7 is not in this week's network \(communities: 0 to 2\)"):
        community_selection(comms, 7, pairs)


def test_tower_dump_adds_contacts_shared_by_two_dump_phones(pairs):
    dump = pa.table({"phone": ["C", "A"], "n_events": [1, 4]})
    sel = tower_dump_selection(pairs, dump, label="Tower dump of incident I-1")
    # A and C both talk to B; D, G only to C; F only to B (not a dump phone)
    assert list(sel.phones) == ["A", "C", "B"]  # dump phones by events near the incident, then contacts
    assert sel.roles == {"A": "scene", "C": "scene", "B": "contact"}
    assert sel.kind == "tower_dump" and sel.label == "Tower dump of incident I-1"
    assert list(tower_dump_selection(pairs, ["A", "C"], label="x", min_shared=1).phones) == ["A", "C", "B", "D", "G"]
    capped = tower_dump_selection(pairs, dump, label="x", max_nodes=2)
    assert list(capped.phones) == ["A", "C"] and "0 of 1 common contacts shown" in capped.notes[0]
    lonely = tower_dump_selection(pairs, ["Q"], label="x")  # a phone with no link at all is still shown
    assert list(lonely.phones) == ["Q"]
    with pytest.raises(TypeError):
        tower_dump_selection(pairs, "A", label="x")


def test_selection_checks_itself():
    with pytest.raises(ValueError, match="lists a phone twice"):
        Selection("community", "c", ("A", "A"))
    with pytest.raises(ValueError, match="unknown role"):
        Selection("community", "c", ("A",), {"A": "boss"})
