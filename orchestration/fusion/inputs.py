"""What the fusion assets read: silver tables that may not exist yet, district boundaries, input versions,
and the raw person names that only bronze holds (fuzzy ``same-as`` links)."""

from __future__ import annotations

import pyarrow as pa


def silver(lakehouse, name: str, columns: list[str] | None = None) -> pa.Table | None:
    """``silver/<name>`` (those ``columns``), or ``None`` when the table does not exist yet."""
    return lakehouse.read("silver", name, columns=columns) if lakehouse.exists("silver", name) else None


def boundaries(lakehouse) -> pa.Table | None:
    """The police district polygons (``area_id``, ``geometry``), or ``None`` without a boundary layer."""
    if not lakehouse.exists("reference", "police_districts"):
        return None
    return lakehouse.read("reference", "police_districts", columns=["area_id", "geometry"])


def named_identifiers(lakehouse) -> tuple[pa.Table | None, pa.Table | None]:
    """The identifier rows of ``gold/osint_mentions`` and the authors of ``silver/osint_posts`` (``named-in-post``
    links), or ``(None, None)`` without either table (a lake with no posts)."""
    if not (lakehouse.exists("gold", "osint_mentions") and lakehouse.exists("silver", "osint_posts")):
        return None, None
    mentions = lakehouse.read("gold", "osint_mentions", columns=["post_id", "posted_at", "kind", "subkind", "value"],
                              filters=[("kind", "=", "identifier")])
    return mentions, lakehouse.read("silver", "osint_posts", columns=["post_id", "author"])


def table_versions(lakehouse, tables: list[tuple[str, str]]) -> dict[str, int]:
    """``{"layer/name": version}`` of the tables that exist (the inputs a derived table was built from)."""
    return {f"{layer}/{name}": lakehouse.version(layer, name) for layer, name in tables if lakehouse.exists(layer, name)}


def person_bronze(sources) -> list[tuple[str, str]]:
    """``("bronze", table)`` of every feed with a ``persons`` spec."""
    from orchestration.ingest.pipeline import bronze_table

    return [("bronze", bronze_table(spec)) for spec in sources.specs("persons")]


def fuzzy_name_links(lakehouse, sources, threshold: float, known_ids: set[str]) -> tuple[pa.Table, int]:
    """``same-as`` links from fuzzy raw-name matching on every bronze table of a ``persons`` spec.

    Raw names are read in bronze only; the links carry person ids and scores. Pairs whose
    ids are not in silver ``persons`` (rejected rows) are dropped. Returns the links and
    the number of bronze rows read.
    """
    from jobs.fusion.names import fuzzy_person_matches, fuzzy_same_as_links
    from orchestration.ingest.pipeline import bronze_table

    matches, rows_read = [], 0
    for spec in sources.specs("persons"):
        name_f, dob_f = spec.fields.get("name"), spec.fields.get("date_of_birth")
        id_cols = spec.id.columns or []
        if name_f is None or dob_f is None or not name_f.column or not dob_f.column or len(id_cols) != 1:
            continue
        table = bronze_table(spec)
        if not lakehouse.exists("bronze", table):
            continue
        raw = lakehouse.read("bronze", table, columns=[id_cols[0], name_f.column, dob_f.column])
        rows_read += raw.num_rows
        fmt = dob_f.format if dob_f.format and dob_f.format != "iso8601" else "%Y-%m-%d"
        matches.append(fuzzy_person_matches(raw, threshold=threshold, id_column=id_cols[0], name_column=name_f.column,
                                            dob_column=dob_f.column, dob_format=fmt))
    return fuzzy_same_as_links(matches, known_ids), rows_read
