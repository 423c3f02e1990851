"""Blocking checks on every silver feed table: its Great Expectations suite and row reconciliation."""

from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pyarrow.compute as pc

from orchestration.ingest.assets import FEEDS
from orchestration.ingest.boundaries import layer_name
from jobs.schemas import ID_FIELD
from orchestration.ingest.pipeline import bronze_table, rejects_table
from orchestration.lakehouse import changes
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog
from quality import canonical
from quality.incidents import COLUMNS as INCIDENT_COLUMNS
from quality.incidents import check_incidents


def study_area_bboxes(lakehouse: Lakehouse, sources: SourceCatalog) -> dict[str, tuple[float, float, float, float]]:
    """Per incident source: bounds of its study-area layer, widened by its ingestion tolerance."""
    import shapely

    boundaries = lakehouse.read("reference", "police_districts")
    out = {}
    for spec in sources.specs("incidents"):
        if spec.study_area is None:
            continue
        layer = boundaries.filter(pc.equal(boundaries["layer"], layer_name(spec)))
        if not layer.num_rows:
            continue
        xmin, ymin, xmax, ymax = shapely.total_bounds(shapely.from_wkb(layer["geometry"].to_numpy(zero_copy_only=False)))
        tol = spec.study_area.tolerance_m
        dlat = tol / 111_320.0
        dlon = tol / (111_320.0 * np.cos(np.radians(max(abs(ymin), abs(ymax)))))
        out[spec.name] = (xmin - dlon, ymin - dlat, xmax + dlon, ymax + dlat)
    return out


def build_feed_checks(tables: list[str]) -> list[dg.AssetChecksDefinition]:
    checks = []
    for table in tables:
        checks.append(_quality_check(table))
        checks.append(_reconcile_check(table))
    return checks


def _quality_check(table: str) -> dg.AssetChecksDefinition:
    if table == "incidents":
        description = ("Great Expectations suite: ids present and unique; occurred_at not in the future nor before "
                       "1990; lon/lat inside each source's study area; categories from the canonical taxonomy. "
                       "Blocking: a failure stops every downstream asset.")
    else:
        description = (f"Great Expectations suite for {table}: required fields present, unique id, timestamps "
                       f"not in the future nor before 1990, valid coordinates, allowed categorical values. "
                       f"Blocking: a failure stops every downstream asset.")

    description += (" Incremental: validates the rows added or replaced since the last passing run (the table's "
                    "change data feed), the whole table the first time.")

    @dg.asset_check(asset=table, name=f"{table}_quality", blocking=True, description=description)
    def quality(lakehouse: Lakehouse, sources: SourceCatalog) -> dg.AssetCheckResult:
        now = datetime.now(timezone.utc)
        consumer = f"check/{table}_quality"
        columns = INCIDENT_COLUMNS if table == "incidents" else canonical.columns_for(table)
        rows, version, complete = changes.new_rows(lakehouse, "silver", table, consumer, ID_FIELD[table], columns)
        df = rows.to_pandas()
        if table == "incidents":
            report = check_incidents(df, bboxes=study_area_bboxes(lakehouse, sources), now=now)
        else:
            report = canonical.check_table(table, df, now=now)
        if report.success:  # a failed batch is validated again next time
            changes.save_watermarks(lakehouse, consumer, {f"silver/{table}": version})
        return dg.AssetCheckResult(
            passed=report.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows": dg.MetadataValue.int(report.rows),
                "scope": dg.MetadataValue.text("whole table" if complete else "rows changed since the last pass"),
                "silver_version": dg.MetadataValue.int(version),
                "failed_expectations": dg.MetadataValue.int(len(report.failed)),
                "report": dg.MetadataValue.md(report.to_markdown()),
            },
        )

    return quality


def _reconcile_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=table,
        name=f"{table}_reconcile",
        blocking=True,
        description="Nothing lost: for every source, bronze rows = silver rows + quarantined rows.",
    )
    def reconcile(lakehouse: Lakehouse, sources: SourceCatalog) -> dg.AssetCheckResult:
        rows, passed = [], True
        silver = lakehouse.read("silver", table, columns=["source"])
        specs = sources.specs(table)
        rejects_name = rejects_table(specs[0])
        rejects = lakehouse.read("quarantine", rejects_name, columns=["source"]) if lakehouse.exists("quarantine", rejects_name) else None
        for spec in specs:
            if not lakehouse.exists("bronze", bronze_table(spec)):
                continue
            n_in = lakehouse.count("bronze", bronze_table(spec))
            n_ok = int(pc.sum(pc.equal(silver["source"], spec.name)).as_py() or 0)
            n_q = int(pc.sum(pc.equal(rejects["source"], spec.name)).as_py() or 0) if rejects is not None else 0
            ok = n_in == n_ok + n_q
            passed &= ok
            rows.append(f"| {spec.name} | {n_in:,} | {n_ok:,} | {n_q:,} | {'yes' if ok else '**no**'} |")
        table_md = "| source | bronze rows | accepted | quarantined | reconciles |\n|---|---|---|---|---|\n" + "\n".join(rows)
        return dg.AssetCheckResult(passed=passed, metadata={"reconciliation": dg.MetadataValue.md(table_md)})

    return reconcile


__all__ = ["FEEDS", "build_feed_checks", "study_area_bboxes"]
