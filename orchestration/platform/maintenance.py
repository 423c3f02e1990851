"""Lakehouse maintenance: compact small files, vacuum removed ones, restore a past version.

Every Delta table collects small files (each ingest, MERGE and replace commits
new ones) and keeps the files that later commits removed, so that time travel
can read old versions. ``optimize`` rewrites small files into larger ones (a new
commit, same rows); ``vacuum`` deletes files no version younger than the
retention still needs; ``restore`` makes a past version the current one (a new
commit: history is kept). Run them from ``infra/maintenance.py`` (cron, a
Kubernetes CronJob) or call the functions.

Vacuum is what ends time travel: after ``vacuum(retention_hours=168)`` versions
older than a week can no longer be read. Forecasts record the table versions
they read (DESIGN.md), so keep the retention longer than the reproducibility you
promise. Retentions under 168 hours are refused unless ``force=True`` (a
concurrent reader or writer may still need those files).

Notes
-----
delta-rs ``DeltaTable.optimize.compact``, ``DeltaTable.vacuum``,
``DeltaTable.restore`` and ``DeltaTable.create_checkpoint``
(https://delta-io.github.io/delta-rs/); the Delta protocol's retention rules.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime

from orchestration.platform.lake import lakehouse_from_settings, list_tables
from orchestration.resources.lakehouse import Lakehouse

#: Delta Lake's default ``deletedFileRetentionDuration`` (7 days).
DEFAULT_RETENTION_HOURS = 168


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance step did to one table."""

    table: str
    action: str
    version_before: int
    version_after: int
    files_removed: int
    files_added: int
    rows: int
    detail: dict

    def to_dict(self) -> dict:
        return asdict(self)


def optimize_table(lakehouse: Lakehouse, layer: str, name: str, *, target_size: int | None = None,
                   checkpoint: bool = True) -> MaintenanceResult:
    """Compact the table's small files into files of about ``target_size`` bytes (delta-rs default 100 MiB).

    With ``checkpoint`` a Delta checkpoint is written afterwards, so readers do
    not replay every JSON commit.
    """
    table = lakehouse.table(layer, name)
    before = table.version()
    metrics = table.optimize.compact(target_size=target_size)
    table = lakehouse.table(layer, name)
    if checkpoint:
        table.create_checkpoint()
    return MaintenanceResult(
        table=f"{layer}/{name}", action="optimize", version_before=before, version_after=table.version(),
        files_removed=int(metrics.get("numFilesRemoved", 0)), files_added=int(metrics.get("numFilesAdded", 0)),
        rows=table.count(), detail={k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
    )


def vacuum_table(lakehouse: Lakehouse, layer: str, name: str, *, retention_hours: int = DEFAULT_RETENTION_HOURS,
                 dry_run: bool = True, force: bool = False) -> MaintenanceResult:
    """Delete data files that no table version within ``retention_hours`` references.

    ``dry_run`` (the default) only lists them. A retention under 168 hours needs
    ``force=True``: versions older than the retention stop being readable.
    """
    if retention_hours < 0:
        raise ValueError(f"retention_hours must be >= 0, got {retention_hours}")
    if retention_hours < DEFAULT_RETENTION_HOURS and not force:
        raise ValueError(
            f"vacuum of {layer}/{name} with a retention of {retention_hours} h (< {DEFAULT_RETENTION_HOURS} h) "
            f"can break concurrent readers and time travel; pass force=True (--force) if that is intended"
        )
    table = lakehouse.table(layer, name)
    before = table.version()
    removed = table.vacuum(retention_hours=retention_hours, dry_run=dry_run,
                           enforce_retention_duration=retention_hours >= DEFAULT_RETENTION_HOURS)
    table = lakehouse.table(layer, name)
    return MaintenanceResult(
        table=f"{layer}/{name}", action="vacuum (dry run)" if dry_run else "vacuum", version_before=before,
        version_after=table.version(), files_removed=0 if dry_run else len(removed), files_added=0,
        rows=table.count(), detail={"files": sorted(removed)[:50], "candidates": len(removed)},
    )


def restore_table(lakehouse: Lakehouse, layer: str, name: str, *, version: int | None = None,
                  timestamp: datetime | str | None = None) -> MaintenanceResult:
    """Make ``version`` (or the version current at ``timestamp``) the table's current state, as a new commit."""
    if (version is None) == (timestamp is None):
        raise ValueError("restore needs exactly one of version or timestamp")
    table = lakehouse.table(layer, name)
    before = table.version()
    target = version if version is not None else (
        datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else timestamp)
    metrics = table.restore(target)
    table = lakehouse.table(layer, name)
    return MaintenanceResult(
        table=f"{layer}/{name}", action=f"restore to {target}", version_before=before, version_after=table.version(),
        files_removed=int(metrics.get("numRemovedFile", 0)), files_added=int(metrics.get("numRestoredFile", 0)),
        rows=table.count(), detail=dict(metrics),
    )


def _selected(lakehouse: Lakehouse, tables: list[str] | None) -> list[tuple[str, str]]:
    available = list_tables(lakehouse)
    if not tables:
        return available
    wanted = []
    for t in tables:
        layer, _, name = t.partition("/")
        if (layer, name) not in available:
            raise ValueError(f"no Delta table {t!r} under {lakehouse.root}; tables are: "
                             f"{', '.join(f'{a}/{b}' for a, b in available) or '(none)'}")
        wanted.append((layer, name))
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infra/maintenance.py",
        description="Lakehouse maintenance (settings from CRIMEFUSION_* variables, as the code location). "
                    "Tables are named layer/name, e.g. silver/incidents; none means every table.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the Delta tables with version and rows")
    opt = sub.add_parser("optimize", help="compact small files (and write a checkpoint)")
    opt.add_argument("tables", nargs="*")
    opt.add_argument("--target-size", type=int, default=None, help="bytes per file (default 100 MiB)")
    vac = sub.add_parser("vacuum", help="delete files older versions no longer need (dry run unless --apply)")
    vac.add_argument("tables", nargs="*")
    vac.add_argument("--retention-hours", type=int, default=DEFAULT_RETENTION_HOURS)
    vac.add_argument("--apply", action="store_true", help="delete (default: only list what would go)")
    vac.add_argument("--force", action="store_true", help=f"allow a retention under {DEFAULT_RETENTION_HOURS} h")
    res = sub.add_parser("restore", help="make a past version current (a new commit)")
    res.add_argument("table")
    group = res.add_mutually_exclusive_group(required=True)
    group.add_argument("--version", type=int)
    group.add_argument("--timestamp", help="ISO 8601, e.g. 2026-11-28T12:00:00+00:00")
    args = parser.parse_args(argv)

    lakehouse = lakehouse_from_settings()
    try:
        if args.command == "list":
            for layer, name in list_tables(lakehouse):
                t = lakehouse.table(layer, name)
                print(json.dumps({"table": f"{layer}/{name}", "version": t.version(), "rows": t.count()}))
        elif args.command == "optimize":
            for layer, name in _selected(lakehouse, args.tables):
                print(json.dumps(optimize_table(lakehouse, layer, name, target_size=args.target_size).to_dict(),
                                 default=str))
        elif args.command == "vacuum":
            for layer, name in _selected(lakehouse, args.tables):
                r = vacuum_table(lakehouse, layer, name, retention_hours=args.retention_hours,
                                 dry_run=not args.apply, force=args.force)
                print(json.dumps(r.to_dict(), default=str))
        else:
            (layer, name), = _selected(lakehouse, [args.table])
            print(json.dumps(restore_table(lakehouse, layer, name, version=args.version,
                                           timestamp=args.timestamp).to_dict(), default=str))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
