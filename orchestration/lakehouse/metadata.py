"""Dagster metadata for lakehouse tables: schema, row count, Delta version, preview."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from orchestration.resources.lakehouse import WriteResult


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """A Dagster column schema from an Arrow schema (shown in the asset's Columns tab)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=f.name, type=str(f.type), constraints=dg.TableColumnConstraints(nullable=f.nullable))
            for f in schema
        ]
    )


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
