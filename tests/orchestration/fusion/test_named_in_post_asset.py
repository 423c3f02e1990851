"""``gold/entity_links`` reads ``gold/osint_mentions`` on a tiny lake: a post's author is linked to the phone and
account its text names, and through them to the person records holding them; a run with nothing new writes
nothing, a new post naming the phone adds its evidence, and a lake without OSINT mentions builds as before."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from jobs.fusion.entities import entity_links
from jobs.ingest.pseudonymise import DEMO_KEY, pseudonymise
from orchestration.fusion import assets as fusion_assets
from orchestration.osint import assets as osint_assets
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.sources import SourceCatalog

SPEC = Path(__file__).resolve().parents[3] / "specs" / "synthetic" / "osint.yaml"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
UTC = pa.timestamp("us", tz="UTC")


def pseudo(raw: str, kind: str) -> str:
    return pseudonymise(pa.array([raw]), key=DEMO_KEY, kind=kind)[0].as_py()


def posts(ids: list[int], texts: list[str], mentions: list) -> pa.Table:
    n = len(ids)
    return pa.table({
        "post_id": [f"synthetic_osint:{i}" for i in ids], "source": ["synthetic_osint"] * n,
        "author": [pseudo(f"author{i}", "handle") for i in ids], "text": texts,
        "posted_at": pa.array([datetime(2017, 12, 6, 15 + i) for i in ids], UTC),
        "lon": pa.array([None] * n, pa.float64()), "lat": pa.array([None] * n, pa.float64()),
        "place_name": pa.array([None] * n, pa.string()),
        "mentions": pa.array([[pseudo(m, "handle") for m in ms] if ms else None for ms in mentions],
                             pa.list_(pa.string()))})


def tiny_lake(root: Path) -> LocalLakehouse:
    lake = LocalLakehouse(root=str(root))
    lake.overwrite("silver", "osint_posts", posts(
        [1, 2], ["selling, text 312-555-0142, pay into acct # 4410 2231 887", "Finally Friday @author1"],
        [None, ["author1"]]))
    lake.overwrite("reference", "police_districts", pa.table({
        "layer": ["police_districts"], "area_id": ["14"], "name": ["14"],
        "geometry": [shapely.to_wkb(shapely.box(-87.8, 41.85, -87.6, 41.95))]}))
    lake.overwrite("silver", "incidents", pa.table({
        "incident_id": ["c:1"], "occurred_at": pa.array([datetime(2017, 12, 7, 3)], UTC),
        "lon": [-87.676], "lat": [41.897], "category": ["battery"], "source": ["c"]}))
    lake.overwrite("silver", "persons", pa.table({
        "person_id": ["P1", "P2"], "name": [pseudo("Ann Lee", "raw"), pseudo("Bo Diaz", "raw")],
        "date_of_birth": pa.array([None, None], pa.date32()),
        "phones": [[pseudo("+1 312 555 0142", "phone")], None],
        "accounts": [None, [pseudo("4410-2231-887", "account")]]}))
    return lake


#: One Dagster instance for the whole module: osint_mentions skips a run whose inputs did not move only when its
#: last materialisation is in the instance.
INSTANCE = dg.DagsterInstance.ephemeral()


def run(lake: LocalLakehouse, tmp_path: Path, keys=("osint_mentions", "entity_links")) -> dict:
    sources = SourceCatalog(spec_paths=[str(SPEC)], landing=str(tmp_path / "landing"), data_roots=[])
    assets = [a for a in [*dg.load_assets_from_modules([osint_assets]), *dg.load_assets_from_modules([fusion_assets])]
              if a.key.to_user_string() in keys]
    result = dg.materialize(assets, resources={"lakehouse": lake, "sources": sources, "pseudonymiser": Pseudonymiser(),
                                               "compute": Compute()}, run_config=QUIET,
                            instance=INSTANCE)
    assert result.success
    return {k: v.value for k, v in result.asset_materializations_for_node("entity_links")[0].metadata.items()}


def named(lake: LocalLakehouse) -> dict[tuple[str, str], int]:
    t = lake.read("gold", "entity_links")
    t = t.filter(pc.equal(t["link_type"], "named-in-post"))
    return {(r["src"], r["dst"]): r["n_evidence"] for r in t.to_pylist()}


def from_scratch(lake: LocalLakehouse, with_mentions: bool = True) -> list[dict]:
    """The links the kernel builds from the lake's tables in one go."""
    return entity_links(persons=lake.read("silver", "persons"), posts=lake.read("silver", "osint_posts"),
                        mentions=lake.read("gold", "osint_mentions") if with_mentions else None).to_pylist()


def test_entity_links_follow_the_mentions(tmp_path):
    lake = tiny_lake(tmp_path / "lake")
    author, other = ("handle:" + pseudo(f"author{i}", "handle") for i in (1, 2))
    phone, account = "phone:" + pseudo("3125550142", "phone"), "account:" + pseudo("4410 2231 887", "account")
    assert run(lake, tmp_path)["mode"] == "rebuilt"
    # post 2's text names author 1's handle, as its structured mentions do
    assert named(lake) == {(author, phone): 1, (author, account): 1, (other, author): 1}
    links = lake.read("gold", "entity_links").to_pylist()
    uses = {(r["dst"], r["src"]) for r in links if r["link_type"] == "uses"}
    assert {(phone, "person:P1"), (account, "person:P2")} <= uses  # the poster reaches both persons
    assert links == from_scratch(lake)
    versions = (lake.version("gold", "osint_mentions"), lake.version("gold", "entity_links"))

    again = run(lake, tmp_path)  # nothing new: nothing written
    assert again["mode"] == "unchanged"
    assert (lake.version("gold", "osint_mentions"), lake.version("gold", "entity_links")) == versions

    lake.append("silver", "osint_posts", posts([3], ["still got it, (312) 555 0142"], [None]))
    new = run(lake, tmp_path)
    assert new["mode"] == "rebuilt" and new["links_per_type"]["named-in-post"] == 4
    assert named(lake) == {(author, phone): 1, (author, account): 1, (other, author): 1,
                           ("handle:" + pseudo("author3", "handle"), phone): 1}
    assert lake.read("gold", "entity_links").to_pylist() == from_scratch(lake)
    assert run(lake, tmp_path)["mode"] == "unchanged"


def test_entity_links_without_osint_mentions(tmp_path):
    lake = tiny_lake(tmp_path / "lake")
    first = run(lake, tmp_path, keys=("entity_links",))  # no gold/osint_mentions: the links of before
    assert first["mode"] == "rebuilt" and "named-in-post" not in first["links_per_type"]
    assert first["links_per_type"]["mentioned"] == 1
    assert lake.read("gold", "entity_links").to_pylist() == from_scratch(lake, with_mentions=False)
    assert run(lake, tmp_path)["mode"] == "rebuilt"  # the mentions appear: their links are added
    assert len(named(lake)) == 3
