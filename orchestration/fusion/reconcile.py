"""``events_reconcile``: running tallies of the event ids silver implies and of those ``gold/events`` holds.

Rule: each side's tally (:mod:`jobs.fusion.tally`) is kept in
``control/watermarks`` (consumer ``check/events_reconcile``) with the versions it
describes, in one append, so state and versions never disagree. A run adds the
signed tally of what each input's change feed recorded since (inserted rows add,
deleted rows subtract), so its cost follows the changes; without a tally, a feed
that cannot say, or (for CDRs) other cell sites, that side is recounted from its
table. Silver is read at the versions ``gold/events`` was last built from (its
watermarks), so a refine committing meanwhile is not a false alarm. The mention
events (origin ``osint_mentions``) are recounted from ``gold/osint_mentions``
and the posts' ids whenever either moved: that table is rewritten whole, so its
feed would name every row, and a few per post cost milliseconds. Equal
tallies mean equal multisets of ids (up to a 2**-64 chance): no event missing,
none twice, none extra. Nothing is written when no version moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.events import event_ids
from jobs.schemas import ID_FIELD
from orchestration.fusion.events_plan import CONSUMER
from orchestration.lakehouse import changes

RECONCILE_CONSUMER = "check/events_reconcile"
#: Origins the check reconciles and the silver columns that decide whether a row is an event.
RECONCILED = {"incidents": ["incident_id", "lon", "lat"], "transactions": ["txn_id", "lon", "lat"],
              "osint_posts": ["post_id", "lon", "lat"], "cdr_events": ["event_id", "cell_id"]}
#: The gold origin reconciled from its whole table, and the inputs its events depend on.
MENTIONS, MENTION_INPUTS = "osint_mentions", ("gold/osint_mentions", "silver/osint_posts")


@dataclass
class Reconciliation:
    """Per origin, the tally (:func:`jobs.fusion.tally.tally`) of the events silver implies and of those present."""

    expected: dict[str, tuple[int, int]]
    present: dict[str, tuple[int, int]]
    duplicates: int        # event ids seen more than once (full: in the table; incremental: among the changes)
    modes: dict[str, str]  # input -> full | incremental | unchanged

    @property
    def unique(self) -> bool:
        return self.duplicates == 0

    def reconciles(self, origin: str) -> bool:
        return self.expected.get(origin, (0, 0)) == self.present.get(origin, (0, 0))


def reconcile_events(lake) -> Reconciliation:
    """Tallies of the event ids located silver rows imply and of the ids ``gold/events`` holds, per origin.

    See the module docstring for the rule.
    """
    changes.enable_change_feed(lake, "gold", "events")
    origins = [o for o in RECONCILED if lake.exists("silver", o)
               and (o != "cdr_events" or lake.exists("silver", "cell_sites"))]
    with_mentions = "osint_posts" in origins and lake.exists("gold", MENTIONS)
    target = _target_versions(lake, origins + [MENTIONS] * with_mentions)
    state = changes.watermarks(lake, RECONCILE_CONSUMER)
    expected, modes = _expected_tallies(lake, origins, target, state)
    if with_mentions:
        expected[MENTIONS], modes["gold/osint_mentions"] = _mention_tally(lake, target, state)
        origins.append(MENTIONS)
    present, duplicates, modes["gold/events"] = _present_tallies(lake, origins, target, state)
    out = dict(target)
    for origin in origins:
        out.update(_tally_entries("silver", origin, expected[origin]))
    for origin in origins:
        out.update(_tally_entries("events", origin, present[origin]))
    changes.save_watermarks(lake, RECONCILE_CONSUMER, out)
    return Reconciliation(expected=expected, present=present, duplicates=duplicates, modes=modes)


def _target_versions(lake, origins: list[str]) -> dict[str, int]:
    """The versions a run reconciles: silver as ``gold/events`` was last built from it, events as they are."""
    built = changes.watermarks(lake, CONSUMER)
    keys = [f"{'gold' if o == MENTIONS else 'silver'}/{o}" for o in origins]
    target = {k: built.get(k, lake.version(*k.split("/", 1))) for k in keys}
    if "cdr_events" in origins:
        target["silver/cell_sites"] = built.get("silver/cell_sites", lake.version("silver", "cell_sites"))
    target["gold/events"] = lake.version("gold", "events")
    # a re-created table restarts its versions: its id tells it from the table the tallies describe
    target["gold/events#table"] = _table_id(lake, "gold", "events")
    return target


def _expected_tallies(lake, origins: list[str], target: dict[str, int],
                      state: dict[str, int]) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    """Per origin, the tally of the event ids silver implies at ``target``, and how each was obtained."""
    from jobs.fusion.events import located_mask
    from jobs.fusion.tally import change_signs, combine, tally

    cells = None
    if "cdr_events" in origins:
        sites = lake.read("silver", "cell_sites", columns=["cell_id", "lon", "lat"], version=target["silver/cell_sites"])
        cells = sites.filter(located_mask(sites))["cell_id"].combine_chunks()

    def event_keys(origin: str, rows: pa.Table) -> tuple[pa.Array, pa.Array]:
        ok = pc.is_in(rows["cell_id"], value_set=cells) if origin == "cdr_events" else located_mask(rows)
        ok = pc.fill_null(ok, False)
        return event_ids(origin, pc.filter(rows[ID_FIELD[origin]], ok)), ok

    expected, modes = {}, {}
    for origin in origins:
        key, mark = f"silver/{origin}", state.get(f"silver/{origin}")
        old = _stored_tally(state, "silver", origin)
        usable = old is not None and mark is not None and \
            (origin != "cdr_events" or state.get("silver/cell_sites") == target["silver/cell_sites"])
        feed = None
        if usable and mark == target[key]:
            expected[origin], modes[key] = old, "unchanged"
            continue
        if usable:
            feed = changes.changes(lake, "silver", origin, mark, target[key], columns=RECONCILED[origin])
        if feed is None:
            rows = lake.read("silver", origin, columns=RECONCILED[origin], version=target[key])
            expected[origin], modes[key] = tally(event_keys(origin, rows)[0]), "full"
        else:
            ids, ok = event_keys(origin, feed)
            signs = pc.filter(change_signs(feed["_change_type"]), ok).to_numpy(zero_copy_only=False)
            expected[origin], modes[key] = combine(old, tally(ids, signs)), "incremental"
    return expected, modes


def _mention_tally(lake, target: dict[str, int], state: dict[str, int]) -> tuple[tuple[int, int], str]:
    """The tally of the mention event ids ``gold/osint_mentions`` and the posts imply at ``target``; the mode."""
    from jobs.fusion.events import event_ids, mention_keys, resolved_places
    from jobs.fusion.tally import tally

    old = _stored_tally(state, "silver", MENTIONS)
    if old is not None and all(state.get(k) == target[k] for k in MENTION_INPUTS):
        return old, "unchanged"
    mentions = lake.read("gold", MENTIONS, columns=["post_id", "kind", "span_start", "span_end", "lon", "lat", "score"],
                         version=target["gold/osint_mentions"])
    posts = lake.read("silver", "osint_posts", columns=["post_id"], version=target["silver/osint_posts"])
    places, _ = resolved_places(mentions, posts["post_id"])
    return tally(event_ids(MENTIONS, mention_keys(places))), "full"


def _present_tallies(lake, origins: list[str], target: dict[str, int],
                     state: dict[str, int]) -> tuple[dict[str, tuple[int, int]], int, str]:
    """Per origin, the tally of the event ids ``gold/events`` holds at ``target``; duplicates seen; the mode."""
    from jobs.fusion.tally import change_signs, combine, tally

    mark = state.get("gold/events")
    old = {o: _stored_tally(state, "events", o) for o in origins}
    usable = mark is not None and all(v is not None for v in old.values()) \
        and state.get("gold/events#table") == target["gold/events#table"]
    if usable and mark == target["gold/events"]:
        return old, 0, "unchanged"
    feed = None
    if usable:
        feed = changes.changes(lake, "gold", "events", mark, target["gold/events"], columns=["event_id", "origin"])
    present = {}
    if feed is None:
        ev = lake.read("gold", "events", columns=["event_id", "origin"], version=target["gold/events"])
        duplicates = ev.num_rows - pc.count_distinct(ev["event_id"]).as_py()
        for origin in origins:
            present[origin] = tally(pc.filter(ev["event_id"], pc.equal(ev["origin"], origin)))
        return present, duplicates, "full"
    signs = change_signs(feed["_change_type"])
    net = pa.table({"event_id": feed["event_id"], "sign": signs}).group_by("event_id").aggregate([("sign", "sum")])
    duplicates = int(pc.sum(pc.greater(net["sign_sum"], 1)).as_py() or 0)
    for origin in origins:
        mine = pc.equal(feed["origin"], origin)
        present[origin] = combine(old[origin], tally(pc.filter(feed["event_id"], mine),
                                                     pc.filter(signs, mine).to_numpy(zero_copy_only=False)))
    return present, duplicates, "incremental"


def _table_id(lake, layer: str, name: str) -> int:
    """The table's Delta id (a UUID set when it is created) as a non-negative int64."""
    return int(lake.table(layer, name).metadata().id.replace("-", "")[:15], 16)


def _stored_tally(state: dict[str, int], side: str, origin: str) -> tuple[int, int] | None:
    n, d = state.get(f"tally/{side}/{origin}/n"), state.get(f"tally/{side}/{origin}/digest")
    return None if n is None or d is None else (n, d)


def _tally_entries(side: str, origin: str, value: tuple[int, int]) -> dict[str, int]:
    return {f"tally/{side}/{origin}/n": value[0], f"tally/{side}/{origin}/digest": value[1]}
