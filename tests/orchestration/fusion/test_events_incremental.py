"""Incremental ``gold/events``, ``incident_context``, ``entity_links`` and ``entities`` equal a full build.

A copy of the full run's silver tables changes in every way a night can change
them (a late file, a corrected receipt, withdrawn rows, a changed enrichment
row, new and withdrawn posts); the fusion assets then run incrementally, and
again from scratch (their derived tables and watermarks removed): the tables
must be identical. A night of new rows only (the merge paths) is compared
with a rebuild in a copy of the lake. ``events_reconcile`` follows the same
changes and must fail when ``gold/events`` is corrupted; a run where nothing
changed must commit nothing.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobs.fusion.events import build_events
from orchestration.fusion import assets as fusion_assets
from orchestration.fusion import checks as fusion_checks
from orchestration.fusion.reconcile import reconcile_events
from orchestration.lakehouse import changes
from orchestration.resources.lakehouse import LocalLakehouse, in_list
from orchestration.resources.reports import Reports

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SILVER = ("incidents", "cdr_events", "cell_sites", "transactions", "osint_posts", "incident_enrichment", "detections")


@pytest.fixture(scope="module")
def lake(full_run, tmp_path_factory):
    defs, _, result, base = full_run
    assert result.success
    root = tmp_path_factory.mktemp("events_incremental") / "lake"
    bronze = [("bronze", p.name) for p in (base / "lake" / "bronze").iterdir() if "person" in p.name]
    for layer, name in [("silver", s) for s in SILVER] + [("reference", "police_districts")] + bronze:
        if (base / "lake" / layer / name).exists():
            shutil.copytree(base / "lake" / layer / name, root / layer / name)
    return defs, LocalLakehouse(root=str(root))


FOLLOWERS = ("events", "incident_context", "entity_links", "entities")


def materialise_events(defs, lh, keys=("events",)):
    asset = [a for a in dg.load_assets_from_modules([fusion_assets]) if a.key.to_user_string() in keys]
    res = dg.materialize(asset, resources={**defs.resources, "lakehouse": lh}, run_config=QUIET,
                         instance=dg.DagsterInstance.ephemeral())
    assert res.success
    return {k: v.value for k, v in res.asset_materializations_for_node("events")[0].metadata.items()}


DERIVED = (("gold", "events"), ("gold", "entity_stats"), ("gold", "cdr_link_partials"),
           ("gold", "transaction_link_partials"), ("gold", "post_link_partials"), ("gold", "incident_context"),
           ("control", "watermarks"))


def snapshot(lh) -> dict[str, list[dict]]:
    out = {}
    for name, key in (("events", "event_id"), ("entity_links", None), ("entities", "entity_id"),
                      ("entity_stats", None), ("cdr_link_partials", None), ("transaction_link_partials", None),
                      ("post_link_partials", None), ("incident_context", None)):
        t = lh.read("gold", name)
        cols = [c for c in t.column_names]
        out[name] = sorted(t.to_pylist(), key=lambda r: tuple(str(r[c]) for c in ([key] if key else cols)))
    return out


def full_build(lh, sd) -> list[dict]:
    tables = {o: lh.read("silver", o) for o in ("incidents", "cdr_events", "transactions", "osint_posts", "detections")
              if lh.exists("silver", o)}
    boundaries = lh.read("reference", "police_districts", columns=["area_id", "geometry"])
    enrichment = lh.read("silver", "incident_enrichment") if lh.exists("silver", "incident_enrichment") else None
    out = build_events(tables, ctx=sd, boundaries=boundaries, cell_sites=lh.read("silver", "cell_sites"),
                       enrichment=enrichment)
    return rows(out)


def rows(table: pa.Table) -> list[dict]:
    return table.sort_by("event_id").to_pylist()


def test_incremental_events_follow_every_kind_of_change(lake, sd):
    defs, lh = lake
    first = materialise_events(defs, lh, FOLLOWERS)
    assert first["mode"] == "full"
    again = materialise_events(defs, lh)  # nothing changed
    assert again["mode"] == "incremental" and again["appended"] == 0
    v = lh.version("gold", "events")

    # a late file: 2,000 CDR rows of old weeks with new ids
    cdr = lh.read("silver", "cdr_events")
    late = cdr.slice(0, 2000)
    late = late.set_column(late.schema.get_field_index("event_id"), "event_id",
                           pc.binary_join_element_wise(late["event_id"], pa.scalar("late"), "-"))
    late = late.set_column(late.schema.get_field_index("ingest_id"), "ingest_id", pa.array(["late"] * 2000))
    lh.append("silver", "cdr_events", late)
    # a corrected receipt: some transactions replaced with other amounts, others gone
    txn = lh.read("silver", "transactions")
    receipt = txn["ingest_id"][0].as_py()
    mine = txn.filter(pc.equal(txn["ingest_id"], receipt))
    kept = mine.slice(0, mine.num_rows // 2)
    kept = kept.set_column(kept.schema.get_field_index("occurred_at"), "occurred_at",
                           pc.add(kept["occurred_at"], pa.scalar(dt.timedelta(hours=1))))
    lh.replace_where("silver", "transactions", kept, in_list("ingest_id", [receipt]))
    # posts: some withdrawn (those with mentions first), some new
    posts = lh.read("silver", "osint_posts")
    with_mentions = posts.filter(pc.fill_null(pc.greater(pc.list_value_length(posts["mentions"]), 0), False))
    assert with_mentions.num_rows >= 4
    lh.delete("silver", "osint_posts", in_list("post_id", with_mentions["post_id"].slice(0, 2).to_pylist()))
    lh.append("silver", "osint_posts", renamed(with_mentions.slice(2, 2), "post_id", "new"))
    # a withdrawn day: 300 incidents deleted; and an enrichment row changed
    inc = lh.read("silver", "incidents", columns=["incident_id"])
    lh.delete("silver", "incidents", in_list("incident_id", inc["incident_id"].slice(0, 300).to_pylist()))
    enr = lh.read("silver", "incident_enrichment")
    one = enr.slice(0, 1)
    if "offender_ids" in one.column_names:
        one = one.set_column(one.schema.get_field_index("offender_ids"), "offender_ids",
                             pa.array([["person:changed"]], one.schema.field("offender_ids").type))
    lh.replace_where("silver", "incident_enrichment", one, in_list("incident_id", [one["incident_id"][0].as_py()]))

    step = materialise_events(defs, lh, FOLLOWERS)
    assert step["mode"] == "incremental"
    assert step["appended"] >= 2000 and step["deleted_keys"] > 0
    assert rows(lh.read("gold", "events")) == full_build(lh, sd)
    assert lh.version("gold", "events") > v
    assert reconciles(lh)

    # the followers from scratch: their derived tables and watermarks gone
    incremental = snapshot(lh)
    for layer, name in DERIVED:
        shutil.rmtree(Path(lh.root_uri()) / layer / name)
    assert materialise_events(defs, lh, FOLLOWERS)["mode"] == "full"
    rebuilt = snapshot(lh)
    for name in incremental:
        assert incremental[name] == rebuilt[name], name
    assert reconciles(lh)

    # a night of new rows only (every follower merges): equal to a rebuild in a copy of the lake
    lh.append("silver", "cdr_events", renamed(cdr.slice(2000, 1000), "event_id", "new"))
    lh.append("silver", "transactions", renamed(txn.slice(0, 500), "txn_id", "new"))
    lh.append("silver", "osint_posts", renamed(with_mentions.slice(4, 20), "post_id", "new2"))
    step = materialise_events(defs, lh, FOLLOWERS)
    assert step["mode"] == "incremental" and step["deleted_keys"] == 0
    assert reconciles(lh)
    incremental = snapshot(lh)
    copy = LocalLakehouse(root=str(Path(lh.root_uri()).parent / "rebuilt"))
    shutil.copytree(lh.root_uri(), copy.root_uri())
    for layer, name in DERIVED:
        shutil.rmtree(Path(copy.root_uri()) / layer / name)
    assert materialise_events(defs, copy, FOLLOWERS)["mode"] == "full"
    rebuilt = snapshot(copy)
    for name in incremental:
        assert incremental[name] == rebuilt[name], name

    # the feed lost: a commit made while the change data feed was off forces a full build
    lh.table("silver", "osint_posts").alter.set_table_properties({changes.CHANGE_FEED: "false"})
    posts = lh.read("silver", "osint_posts", columns=["post_id"])
    lh.delete("silver", "osint_posts", in_list("post_id", posts["post_id"].slice(0, 10).to_pylist()))
    assert changes.changes(lh, "silver", "osint_posts", changes.watermarks(lh, "gold/events")["silver/osint_posts"]) is None
    rebuilt = materialise_events(defs, lh)
    assert rebuilt["mode"] == "full"
    assert rows(lh.read("gold", "events")) == full_build(lh, sd)


def renamed(table: pa.Table, key: str, tag: str) -> pa.Table:
    """The rows under new ids (``<id>-<tag>``) and a receipt of their own."""
    table = table.set_column(table.schema.get_field_index(key), key,
                             pc.binary_join_element_wise(table[key], pa.scalar(tag), "-"))
    if "ingest_id" in table.column_names:
        table = table.set_column(table.schema.get_field_index("ingest_id"), "ingest_id",
                                 pa.array([tag] * table.num_rows, table.schema.field("ingest_id").type))
    return table


def reconciles(lh) -> bool:
    r = reconcile_events(lh)
    return r.unique and all(r.reconciles(o) for o in r.expected)


def check(lh) -> dg.AssetCheckResult:
    return fusion_checks.events_reconcile(lakehouse=lh)


def test_events_reconcile_fails_when_events_are_duplicated_or_missing(lake):
    defs, lh = lake
    materialise_events(defs, lh)
    assert check(lh).passed
    tx = lh.read("gold", "events", filters=[("origin", "=", "transactions")]).slice(0, 2)
    one, other = tx["event_id"][0].as_py(), tx["event_id"][1].as_py()

    lh.append("gold", "events", tx.slice(0, 1))  # an event twice
    result = check(lh)
    assert not result.passed and result.metadata["modes"].value["gold/events"] == "incremental"
    lh.delete("gold", "events", in_list("event_id", [one]))  # now missing
    assert not check(lh).passed
    lh.append("gold", "events", tx.slice(0, 1))
    assert check(lh).passed
    # one missing and another twice: the counts agree, the ids do not
    lh.delete("gold", "events", in_list("event_id", [one]))
    lh.append("gold", "events", tx.slice(1, 1))
    result = check(lh)
    assert not result.passed
    assert "**no**" in result.metadata["reconcile"].value
    # with the check's tallies gone it recounts in full, and still fails, naming the duplicate
    lh.delete("control", "watermarks", "consumer = 'check/events_reconcile'")
    result = check(lh)
    assert not result.passed and result.metadata["duplicate_ids"].value == 1
    assert result.metadata["modes"].value["gold/events"] == "full"
    lh.delete("gold", "events", in_list("event_id", [other]))
    lh.append("gold", "events", tx)
    assert check(lh).passed


def test_a_run_with_nothing_new_commits_nothing(lake, tmp_path):
    defs, lh = lake
    reports = Reports(home=str(tmp_path / "home"))  # the map layers are exported afresh under this test's home
    keys = (*FOLLOWERS, "fusion_map_layers")
    assets = [a for a in dg.load_assets_from_modules([fusion_assets]) if a.key.to_user_string() in keys]
    checks = dg.load_asset_checks_from_modules([fusion_checks])

    def run():
        res = dg.materialize([*assets, *checks], resources={**defs.resources, "lakehouse": lh, "reports": reports},
                             run_config=QUIET, instance=dg.DagsterInstance.ephemeral())
        assert res.success
        evaluations = [e.asset_check_evaluation_data for e in res.all_events
                       if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert evaluations and all(e.passed for e in evaluations)
        return {f"{layer}/{p.name}": lh.version(layer, p.name) for layer in ("gold", "control", "silver")
                for p in (Path(lh.root_uri()) / layer).iterdir() if lh.exists(layer, p.name)}

    run()
    before = run()  # the first run may have caught up with earlier changes
    assert run() == before
