"""Delta writes the incremental fusion tables share: merge partials in, replace the rows of changed keys.

Every write is idempotent but :func:`merge_add` (counts add), whose commit carries
an applied marker instead (:func:`orchestration.lakehouse.changes.applied_marker`).
A replace deletes first and appends second, so a run killed in between leaves the
keys missing, never doubled, and the next run (same watermark) writes them again.
"""

from __future__ import annotations

import pyarrow as pa


def merge_add(lake, name: str, partial: pa.Table, keys: list[str], *, count: str, sample: str | None = None,
              applied: dict[str, str]) -> None:
    """MERGE mergeable partials into a gold table: counts add, first is the least, last the greatest.

    Adding is not idempotent, so the commit carries ``applied``
    (:func:`~orchestration.lakehouse.changes.applied_marker`): a run killed
    before its watermark moves does not add the same changes again.
    """
    from deltalake.transaction import CommitProperties

    from jobs.delta_io import plain_types

    if not partial.num_rows:
        return
    partial = plain_types(partial)
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    update = {
        count: f"t.{count} + s.{count}",
        "first_us": "CASE WHEN t.first_us IS NULL OR s.first_us < t.first_us THEN s.first_us ELSE t.first_us END",
        "last_us": "CASE WHEN t.last_us IS NULL OR s.last_us > t.last_us THEN s.last_us ELSE t.last_us END",
    }
    if sample:
        update[sample] = f"CASE WHEN s.{sample} < t.{sample} THEN s.{sample} ELSE t.{sample} END"
    (lake.table("gold", name).merge(partial, predicate=on, source_alias="s", target_alias="t",
                                    commit_properties=CommitProperties(custom_metadata=applied))
     .when_matched_update(update).when_not_matched_insert_all().execute())


def delete_matching(lake, layer: str, name: str, key: str, values: pa.Array) -> None:
    """Delete the rows of ``layer/name`` whose ``key`` is one of ``values`` (a MERGE, one commit)."""
    doomed = pa.table({key: values})
    (lake.table(layer, name).merge(doomed, predicate=f"t.{key} = s.{key}", source_alias="s", target_alias="t")
     .when_matched_delete().execute())


def replace_keys(lake, name: str, key: str, values: pa.Array, fresh: pa.Table) -> None:
    """Delete the rows of gold ``name`` whose ``key`` is one of ``values``, then append ``fresh``."""
    if len(values):
        delete_matching(lake, "gold", name, key, values.cast(pa.string()))
    if fresh.num_rows:
        lake.append("gold", name, fresh)


def replace_pairs(lake, refs: pa.Array, fresh: pa.Table, *, table: str = "cdr_link_partials",
                  sides: tuple[str, ...] = ("src", "dst")) -> None:
    """Drop every partial touching one of ``refs`` (on ``sides``), then append the recomputed ones."""
    if len(refs):
        doomed = pa.table({"ref": refs.cast(pa.string())})
        for side in sides:
            (lake.table("gold", table).merge(doomed, predicate=f"t.{side} = s.ref", source_alias="s",
                                             target_alias="t").when_matched_delete().execute())
    if fresh.num_rows:
        lake.append("gold", table, fresh)


def replace_incident_rows(lake, incident_ids: list[str], fresh: pa.Table) -> None:
    """Delete the context rows of ``incident_ids``, then append ``fresh`` (their rebuilt rows)."""
    if incident_ids:
        delete_matching(lake, "gold", "incident_context", "incident_id", pa.array(incident_ids, pa.string()))
    if fresh.num_rows:
        lake.append("gold", "incident_context", fresh)
