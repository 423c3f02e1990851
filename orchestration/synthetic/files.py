"""Write the synthetic feeds as an agency would hand them over: files in the landing folder.

Each feed gets the format a real export of its kind often has, so the demo
exercises every reader: CDRs as gzipped CSV, transactions as semicolon CSV
with decimal commas, cell sites as Parquet with WKT sectors, OSINT posts,
cameras and persons as JSON Lines, case details as Parquet. The specs in
``specs/synthetic/`` describe these files.
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

#: feed name (SynthFeeds.feeds()) -> (source spec name, file name)
LAYOUT = {
    "cdr_events": ("synthetic_cdr", "cdr_events.csv.gz"),
    "transactions": ("synthetic_transactions", "transactions.csv"),
    "cell_sites": ("synthetic_cell_sites", "cell_sites.parquet"),
    "osint_posts": ("synthetic_osint", "osint_posts.jsonl"),
    "cameras": ("synthetic_cameras", "cameras.jsonl"),
    "persons": ("synthetic_persons", "persons.jsonl"),
    "incident_enrichment": ("synthetic_incident_enrichment", "incident_enrichment.parquet"),
}

#: Truth columns holding identifiers, pseudonymised with the same key and kind as silver so they join.
TRUTH_IDENTIFIERS = {
    "msisdn": "phone", "owner_msisdn": "phone", "imsi": "imsi", "imei": "imei",
    "account": "account", "from_account": "account", "to_account": "account",
}


def write_feed(name: str, table: pa.Table, folder: Path) -> Path:
    """Write one feed table into ``folder`` in its landing format; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LAYOUT[name][1]
    tmp = path.with_name(path.name + ".part")
    if name == "cdr_events":
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3, mtime=0) as fh:
            pcsv.write_csv(table, fh)  # mtime=0: the same feed gives the same bytes
    elif name == "transactions":
        text = table.drop_columns(["merchant"]) if "merchant" in table.column_names else table
        cols = {}
        for f in text.schema:
            col = text[f.name]
            if pa.types.is_floating(f.type):  # European export: decimal comma
                col = pc.replace_substring(pc.cast(pc.round(col, 6), pa.string()), ".", ",")
            cols[f.name] = col
        pcsv.write_csv(pa.table(cols), tmp, pcsv.WriteOptions(delimiter=";"))
    elif name == "cell_sites":
        import shapely

        wkt = shapely.to_wkt(shapely.from_wkb(table["sector_wkb"].to_numpy(zero_copy_only=False)), rounding_precision=7)
        pq.write_table(table.drop_columns(["sector_wkb"]).append_column("sector_wkt", pa.array(wkt, pa.string())), tmp)
    elif name in ("osint_posts", "cameras", "persons"):
        with tmp.open("w", encoding="utf-8") as fh:
            for row in table.to_pylist():
                fh.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")
    else:
        pq.write_table(table, tmp)
    tmp.replace(path)  # atomic: a sensor never sees a half-written file
    return path


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def pseudonymise_truth(table: pa.Table, key: bytes | None) -> pa.Table:
    """Replace identifier columns of a truth table with the silver pseudonyms."""
    if key is None:
        return table
    from jobs.ingest.pseudonymise import pseudonymise

    for column, kind in TRUTH_IDENTIFIERS.items():
        if column in table.column_names:
            i = table.column_names.index(column)
            table = table.set_column(i, column, pseudonymise(table[column], key=key, kind=kind))
    return table
