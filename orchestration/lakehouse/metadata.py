"""Dagster metadata for lakehouse tables: schema, row count, Delta version, preview."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from orchestration.resources.lakehouse import WriteResult


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """A Dagster column schema from an Arrow schema (shown in the asset's Columns tab).

    A column's description is its field's ``description`` metadata
    (``pa.field(..., metadata={"description": ...})`` in the canonical schemas).
    """
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=f.name, type=str(f.type), description=field_description(f),
                           constraints=dg.TableColumnConstraints(nullable=f.nullable))
            for f in schema
        ]
    )


def field_description(field: pa.Field) -> str | None:
    """The ``description`` metadata of an Arrow field, or None."""
    text = (field.metadata or {}).get(b"description")
    return text.decode() if text else None


def lake_table(layer: str, name: str, schema: pa.Schema | None = None) -> dict:
    """Definition metadata of an asset that writes the lakehouse table ``<layer>/<name>``.

    ``dagster/table_name`` names the table as the BI views and Spark do
    (``silver.incidents``); the asset's group is its layer
    (``tests/orchestration/test_lineage.py`` holds them together). With the
    table's Arrow schema, ``dagster/column_schema`` lists its columns with
    their descriptions before the first run (a materialisation repeats the
    columns it wrote, :func:`table_metadata`).
    """
    meta: dict = {"dagster/table_name": f"{layer}.{name}"}
    if schema is not None:
        meta["dagster/column_schema"] = column_schema(schema)
    return meta


def preview_markdown(table: pa.Table, rows: int = 5, max_width: int = 40) -> str:
    """The first rows as a Markdown table; binary columns (WKB) shown by size."""
    head = table.slice(0, rows)
    names = head.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in head.to_pylist():
        cells = []
        for n in names:
            v = row[n]
            if isinstance(v, bytes):
                v = f"<{len(v)} bytes>"
            text = "" if v is None else str(v)
            cells.append(text[:max_width].replace("|", "/").replace("\n", " "))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_metadata(result: WriteResult, sample: pa.Table | None = None) -> dict:
    """Everything the UI shows for a written table."""
    meta = result.metadata()
    if sample is not None:
        meta["dagster/column_schema"] = column_schema(sample.schema)
        meta["preview"] = dg.MetadataValue.md(preview_markdown(sample))
    return meta


def head(lakehouse, layer: str, name: str, rows: int = 5) -> pa.Table | None:
    """A few rows of a table for the UI's preview, from its first data file (never the whole table)."""
    if not lakehouse.exists(layer, name):
        return None
    return lakehouse.table(layer, name).to_pyarrow_dataset().head(rows)


def column_range(lakehouse, layer: str, name: str, column: str) -> tuple:
    """``(min, max)`` of a column, from the Delta log's file statistics when every file has them (no data read).

    ``(None, None)`` for an empty table.
    """
    import pyarrow.compute as pc

    table = lakehouse.table(layer, name)
    actions = pa.table(table.get_add_actions(flatten=True))
    lo, hi = f"min.{column}", f"max.{column}"
    if actions.num_rows and lo in actions.column_names and hi in actions.column_names \
            and actions[lo].null_count == 0 and actions[hi].null_count == 0:
        return pc.min(actions[lo]).as_py(), pc.max(actions[hi]).as_py()
    col = table.to_pyarrow_table(columns=[column])[column]
    if not len(col) or col.null_count == len(col):
        return None, None
    span = pc.min_max(col).as_py()
    return span["min"], span["max"]
