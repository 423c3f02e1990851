"""``named-in-post`` links: a post's author -> the handles, phones and accounts its text names, with the same
entity ids as the CDRs, transactions and person records, so a poster reaches the person behind a number."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.entities import entities, entity_links, named_in_post_partials
from jobs.fusion.schemas import ENTITY_LINKS
from jobs.ingest.pseudonymise import DEMO_KEY, pseudonymise
from jobs.osint.gazetteer import GAZETTEER
from jobs.osint.mentions import extract_mentions

UTC = pa.timestamp("us", tz="UTC")
PHONE, ACCOUNT = "+1 (312) 555-0142", "ES91 2100 0418 4502 0005 1332"


def pseudo(raw: str, kind: str) -> str:
    return pseudonymise(pa.array([raw]), key=DEMO_KEY, kind=kind)[0].as_py()


def posts(rows: list[tuple[str, str, str, list | None]]) -> pa.Table:
    """(post id, raw author, text, raw structured mentions) -> silver-like posts, identifiers pseudonymised."""
    return pa.table({
        "post_id": [r[0] for r in rows], "author": [pseudo(r[1], "handle") for r in rows], "text": [r[2] for r in rows],
        "posted_at": pa.array([datetime(2017, 12, 6, 15 + i, tzinfo=timezone.utc) for i in range(len(rows))], UTC),
        "mentions": pa.array([[pseudo(m, "handle") for m in r[3]] if r[3] else None for r in rows],
                             pa.list_(pa.string()))})


def mentions_of(p: pa.Table) -> pa.Table:
    return extract_mentions(p, GAZETTEER.empty_table(), tz="America/Chicago", key=DEMO_KEY)


POSTS = posts([
    ("p1", "alice", f"need it? call {PHONE} or ask @bob, pay to {ACCOUNT}. I'm @alice, again {PHONE}", ["bob"]),
    ("p2", "alice", "still on: 312.555.0142 tonight", None),
    ("p3", "carol", "quiet friday", None),
])


def links_of(link_type: str, links: pa.Table) -> dict[tuple[str, str], dict]:
    return {(r["src"], r["dst"]): r for r in links.filter(pc.equal(links["link_type"], link_type)).to_pylist()}


def test_author_links_to_what_the_text_names():
    m = mentions_of(POSTS)
    alice, bob = "handle:" + pseudo("alice", "handle"), "handle:" + pseudo("bob", "handle")
    phone, account = "phone:" + pseudo(PHONE, "phone"), "account:" + pseudo(ACCOUNT, "account")
    parts = named_in_post_partials(m, POSTS.select(["post_id", "author"]))
    assert set(parts["link_type"].to_pylist()) == {"named-in-post"}
    got = {(r["src"], r["dst"]): (r["n_evidence"], r["sample"]) for r in parts.to_pylist()}
    # p1 names the phone twice (one post), p2 again in another spelling; naming oneself is no link
    assert got == {(alice, phone): (2, "p1"), (alice, account): (1, "p1"), (alice, bob): (1, "p1")}
    links = entity_links(posts=POSTS, mentions=m)
    named = links_of("named-in-post", links)
    first, last = named[(alice, phone)]["first_seen"], named[(alice, phone)]["last_seen"]
    assert (first.hour, last.hour) == (15, 16) and named[(alice, phone)]["evidence"] == "osint post text n=2 e.g. p1"
    structured = links_of("mentioned", links)[(alice, bob)]
    assert 0 < named[(alice, bob)]["confidence"] < structured["confidence"]  # text extraction is weaker evidence


def test_a_poster_reaches_the_person_behind_a_named_phone():
    persons = pa.table({"person_id": ["P1", "P2"], "name": ["n1", "n2"],
                        "date_of_birth": pa.array([None, None], pa.date32()),
                        "phones": [[pseudo("3125550142", "phone")], [pseudo("+1 773 555 0199", "phone")]],
                        "accounts": [None, [pseudo(ACCOUNT, "account")]]})
    cdr = pa.table({"event_id": ["e1"], "caller": [pseudo("+13125550142", "phone")],
                    "callee": [pseudo("7735550100", "phone")], "kind": ["voice"],
                    "start_time": pa.array([datetime(2017, 12, 6, 12, tzinfo=timezone.utc)], UTC)})
    links = entity_links(cdr=cdr, persons=persons, posts=POSTS, mentions=mentions_of(POSTS))
    alice = "handle:" + pseudo("alice", "handle")
    reach = reachable(links, alice)
    assert {"person:P1", "person:P2"} <= reach  # through the named phone and the named account
    assert "phone:" + pseudo("7735550100", "phone") in reach  # and on to whom that phone called
    assert "handle:" + pseudo("carol", "handle") not in reach
    ent = entities(pa.table({"event_id": pa.array([], pa.string()), "origin": pa.array([], pa.string()),
                             "occurred_at": pa.array([], UTC), "entity_ids": pa.array([], pa.list_(pa.string()))}),
                   links, persons=persons)
    clusters = dict(zip(ent["entity_id"].to_pylist(), ent["cluster_id"].to_pylist()))
    assert clusters[alice] == alice and clusters["person:P1"] == "person:P1"  # a link, not an identity


def reachable(links: pa.Table, start: str) -> set[str]:
    """Entities joined to ``start`` by links of any type, either direction."""
    adj: dict[str, set[str]] = {}
    for a, b in zip(links["src"].to_pylist(), links["dst"].to_pylist()):
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    seen, todo = {start}, deque([start])
    while todo:
        for n in adj.get(todo.popleft(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_no_identifiers_no_links():
    quiet = posts([("p3", "carol", "quiet friday at 9pm", None)])
    assert named_in_post_partials(mentions_of(quiet), quiet).num_rows == 0
    assert entity_links(posts=quiet, mentions=mentions_of(quiet)).equals(ENTITY_LINKS.empty_table())
    stray = mentions_of(POSTS)  # mentions of posts the posts table no longer holds
    assert named_in_post_partials(stray, quiet.select(["post_id", "author"])).num_rows == 0
