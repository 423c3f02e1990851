"""What an incremental refine must look at besides the new receipts: the ids they share with silver, the
receipts holding ``duplicate_id`` rejects of an id, and the silver rows that win ids over them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from jobs.ingest.records import ParseState, row_ids
from jobs.ingest.spec import SourceSpec
from orchestration.ingest.bronze_reader import bronze_batches
from orchestration.ingest.tables import rejects_table
from orchestration.resources.lakehouse import Lakehouse


def held_by(lake: Lakehouse, spec: SourceSpec, id_field: str, ingest_ids: list[str]) -> set[str]:
    """Ids of the silver rows these receipts hold (their files found by the Delta log's statistics)."""
    if not ingest_ids or not lake.exists("silver", spec.table):
        return set()
    rows = lake.read("silver", spec.table, columns=[id_field],
                     filters=[("source", "=", spec.name), ("ingest_id", "in", ingest_ids)])
    return set(rows[id_field].to_pylist())


def collisions(lake: Lakehouse, spec: SourceSpec, id_field: str, ingest_ids: list[str],
                landed: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Ids of these receipts' rows that silver already holds: ``({id: first receipt}, {id: silver's receipt})``.

    The one read that grows with silver: a scan of its id column, filtered to the receipts' ids as it goes,
    so only the colliding rows are materialised.
    """
    if not lake.exists("silver", spec.table):
        return {}, {}
    import pyarrow.dataset as pads

    state, parts = ParseState(), []
    for bronze in bronze_batches(lake, spec, ingest_ids, landed, columns=id_columns(spec)):
        parts.append(pa.table({"id": pa.array(row_ids(bronze, spec, state), pa.string()),
                               "receipt": bronze["ingest_id"].combine_chunks()}))
    if not parts:
        return {}, {}
    mine = pa.concat_tables(parts)
    ds = lake.table("silver", spec.table).to_pyarrow_dataset()
    held = ds.to_table(columns=[id_field, "ingest_id"],
                       filter=(pads.field("source") == spec.name) & pads.field(id_field).isin(pc.unique(mine["id"])))
    if not held.num_rows:
        return {}, {}
    holders = dict(zip(held[id_field].to_pylist(), held["ingest_id"].to_pylist()))
    hits = mine.filter(pc.is_in(mine["id"], value_set=held[id_field].combine_chunks()))
    first: dict[str, str] = {}
    for k, receipt in zip(hits["id"].to_pylist(), hits["receipt"].to_pylist()):  # refresh order: first wins
        first.setdefault(k, receipt)
    return first, holders


def id_columns(spec: SourceSpec) -> list[str] | None:
    """The bronze columns a row's id is made of (``None``: every column, for ids made from the content)."""
    if spec.id.from_content:
        return None
    return list(dict.fromkeys([*spec.id.columns, "ingest_id", "source_row"]))


def duplicate_losers(lake: Lakehouse, spec: SourceSpec) -> dict[str, set[str]] | None:
    """``{id: receipts}`` holding a ``duplicate_id`` reject of the id (``None`` when the table cannot say)."""
    name = rejects_table(spec)
    if not lake.exists("quarantine", name):
        return {}
    if "record_id" not in pa.schema(lake.table("quarantine", name).schema().to_arrow()).names:
        return None  # written before rejects named their id: which receipts lost an id is unknown
    rows = lake.read("quarantine", name, columns=["record_id", "ingest_id"],
                     filters=[("source", "=", spec.name), ("rule", "=", "duplicate_id")])
    out: dict[str, set[str]] = {}
    for k, i in zip(rows["record_id"].to_pylist(), rows["ingest_id"].to_pylist()):
        out.setdefault(k, set()).add(i)
    return out


def prior_rows(lake: Lakehouse, spec: SourceSpec, id_field: str, ids: set[str]) -> dict[str, tuple[int, str]]:
    rows = lake.read("silver", spec.table, columns=[id_field, "source_row", "source_file"],
                     filters=[("source", "=", spec.name), (id_field, "in", sorted(ids))])
    return {k: (r, f) for k, r, f in zip(rows[id_field].to_pylist(), rows["source_row"].to_pylist(),
                                          rows["source_file"].to_pylist())}
