"""A DuckDB file for BI tools (Superset, DBeaver, the DuckDB CLI): views over the lakehouse's Delta tables.

:func:`build_duckdb` writes ``lake.duckdb`` with one schema per layer
(``bronze``, ``silver``, ``gold``...) holding a view per Delta table
(``delta_scan``: the table's current snapshot, never the folder as plain
Parquet), then the curated views of ``infra/bi/views.sql`` (schema ``bi``) whose
tables exist. Views read the live tables, so the file stays small and current;
``copy=True`` stores a snapshot of every table instead, for tools that cannot
load extensions.

DuckDB 2.0 cannot download extensions offline; ``duckdb==1.5.5`` with the
``duckdb-extension-delta`` / ``-spatial`` 1.5.5 wheels from PyPI works, loading
each extension by its full path (DESIGN.md). A reader of the file needs the
``delta`` extension loaded too (:func:`connect`, or ``INSTALL '<path>'`` once
and then ``LOAD delta``).

Notes
-----
DuckDB ``delta_scan`` (duckdb/duckdb-delta, on delta-kernel-rs) and the spatial
extension's ``ST_GeomFromWKB``.
"""

from __future__ import annotations

import re
from pathlib import Path

from typing import TYPE_CHECKING

from orchestration.settings import PROJECT_ROOT

if TYPE_CHECKING:  # the resource module imports Dagster: `crimefusion ask` connects without it
    from orchestration.resources.lakehouse import Lakehouse

VIEWS_SQL = PROJECT_ROOT / "infra" / "bi" / "views.sql"
EXTENSIONS = ("delta", "spatial")


class ExtensionUnavailable(RuntimeError):
    """A DuckDB extension's wheel is not installed for this DuckDB version."""


def extension_path(name: str) -> Path:
    """The ``<name>.duckdb_extension`` file of the ``duckdb-extension-<name>`` wheel matching DuckDB's version."""
    import importlib.util

    import duckdb

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionUnavailable(
            f"DuckDB extension {name!r} is not installed: pip install duckdb-extension-{name}=={duckdb.__version__}")
    path = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}" / \
        f"{name}.duckdb_extension"
    if not path.is_file():
        raise ExtensionUnavailable(f"{path} is missing: duckdb-extension-{name} does not match duckdb "
                                   f"{duckdb.__version__} (pin both to the same version)")
    return path


def connect(database: str | Path = ":memory:", *, read_only: bool = False, extensions: tuple[str, ...] = EXTENSIONS):
    """A DuckDB connection with the extensions loaded by full path (no download)."""
    import duckdb

    paths = [extension_path(e) for e in extensions]
    con = duckdb.connect(str(database), read_only=read_only)
    for p in paths:
        con.execute(f"LOAD '{p}'")
    return con


def _s3_secret(con, lakehouse: Lakehouse) -> None:
    """Object-store credentials for delta_scan on s3:// tables (a temporary secret: never written to the file)."""
    opts = lakehouse.storage_options() or {}
    parts = ["TYPE s3", f"REGION '{opts.get('AWS_REGION', 'us-east-1')}'"]
    if opts.get("AWS_ACCESS_KEY_ID"):
        parts += [f"KEY_ID '{opts['AWS_ACCESS_KEY_ID']}'", f"SECRET '{opts.get('AWS_SECRET_ACCESS_KEY', '')}'"]
    endpoint = opts.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        parts += [f"ENDPOINT '{host}'", "URL_STYLE 'path'", f"USE_SSL {'false' if scheme == 'http' else 'true'}"]
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET crimefusion_lake ({', '.join(parts)})")


def curated_views(sql: str) -> list[tuple[set[str], str]]:
    """Split ``views.sql`` into statements, each with the tables its ``-- requires:`` line names."""
    out = []
    for chunk in re.split(r";\s*(?:\n|$)", sql):
        body = chunk.strip()
        if not re.search(r"\bCREATE\b", body, flags=re.IGNORECASE):
            continue
        needs = set()
        for line in body.splitlines():
            m = re.match(r"\s*--\s*requires:\s*(.+)", line)
            if m:
                needs |= {t.strip() for t in m.group(1).split(",") if t.strip()}
        out.append((needs, body))
    return out


def build_duckdb(lakehouse: Lakehouse, database: str | Path, *, views_sql: Path | None = VIEWS_SQL,
                 copy: bool = False) -> dict[str, list[str]]:
    """Write ``database`` with a view (or, with ``copy``, a table) per Delta table, then the curated views.

    Returns ``{"tables": [...], "curated": [...], "skipped": [...]}`` (curated views
    whose required tables do not exist yet are skipped, not errors).
    """
    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    tmp = database.with_suffix(database.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    con = connect(tmp)
    try:
        if lakehouse.root_uri().startswith("s3://"):
            _s3_secret(con, lakehouse)
        from orchestration.platform.lake import list_tables

        tables = list_tables(lakehouse)
        names = []
        for layer, name in tables:
            uri = lakehouse.uri(layer, name).replace("'", "''")
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
            kind = "TABLE" if copy else "VIEW"
            con.execute(f'CREATE OR REPLACE {kind} "{layer}"."{name}" AS SELECT * FROM delta_scan(\'{uri}\')')
            names.append(f"{layer}.{name}")
        curated, skipped = [], []
        if views_sql is not None:
            con.execute("CREATE SCHEMA IF NOT EXISTS bi")
            for needs, statement in curated_views(Path(views_sql).read_text()):
                view = re.search(r"VIEW\s+([\w.\"]+)", statement, flags=re.IGNORECASE)
                label = view.group(1) if view else statement.splitlines()[0]
                if needs - set(names):
                    skipped.append(f"{label} (needs {', '.join(sorted(needs - set(names)))})")
                    continue
                con.execute(statement)
                curated.append(label)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.replace(database)
    return {"tables": names, "curated": curated, "skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from orchestration.platform.lake import lakehouse_from_settings

    parser = argparse.ArgumentParser(prog="infra/bi/build_duckdb.py",
                                     description="Write a DuckDB file with views over the lakehouse's Delta tables.")
    parser.add_argument("--out", default="lake.duckdb", help="DuckDB file to write (default lake.duckdb)")
    parser.add_argument("--views", default=str(VIEWS_SQL), help="curated views SQL (default infra/bi/views.sql)")
    parser.add_argument("--copy", action="store_true", help="store table snapshots instead of views")
    args = parser.parse_args(argv)
    result = build_duckdb(lakehouse_from_settings(), args.out, views_sql=Path(args.views), copy=args.copy)
    print(json.dumps(result, indent=2))
    return 0
