"""Blocking checks on silver incidents: the Great Expectations suite and row reconciliation."""


from datetime import datetime, timezone

import dagster as dg
import pyarrow.compute as pc

from orchestration.ingest.pipeline import bronze_table
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog
from quality.incidents import COLUMNS, check_incidents

REJECTS_TABLE = "incidents_rejects"


def study_area_bbox(lakehouse: Lakehouse, sources: SourceCatalog) -> tuple[float, float, float, float]:
    """Union bounds of every study area, widened by the largest ingestion tolerance."""
    import numpy as np
    import shapely

    boundaries = lakehouse.read("reference", "police_districts")
    geoms = shapely.from_wkb(boundaries["geometry"].to_numpy(zero_copy_only=False))
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    tol_m = max((s.study_area.tolerance_m for s in sources.specs("incidents") if s.study_area), default=0.0)
    dlat = tol_m / 111_320.0
    dlon = tol_m / (111_320.0 * np.cos(np.radians(max(abs(ymin), abs(ymax)))))
    return (xmin - dlon, ymin - dlat, xmax + dlon, ymax + dlat)


@dg.asset_check(
    asset="incidents",
    name="incidents_quality",
    blocking=True,
    description=(
        "Great Expectations suite: ids present and unique; occurred_at not in the future nor before "
        "1990; lon/lat inside the study area; categories from the canonical taxonomy. "
        "Blocking: a failure stops every downstream asset."
    ),
)
def incidents_quality(lakehouse: Lakehouse, sources: SourceCatalog) -> dg.AssetCheckResult:
    df = lakehouse.read("silver", "incidents", columns=COLUMNS).to_pandas()
    report = check_incidents(df, bbox=study_area_bbox(lakehouse, sources), now=datetime.now(timezone.utc))
    return dg.AssetCheckResult(
        passed=report.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows": dg.MetadataValue.int(report.rows),
            "failed_expectations": dg.MetadataValue.int(len(report.failed)),
            "report": dg.MetadataValue.md(report.to_markdown()),
        },
    )


@dg.asset_check(
    asset="incidents",
    name="incidents_reconcile",
    blocking=True,
    description="Nothing lost: for every source, bronze rows = silver incidents + quarantined rows.",
)
def incidents_reconcile(lakehouse: Lakehouse, sources: SourceCatalog) -> dg.AssetCheckResult:
    rows = []
    passed = True
    silver = lakehouse.read("silver", "incidents", columns=["source"])
    rejects = lakehouse.read("quarantine", REJECTS_TABLE, columns=["source"]) if lakehouse.exists("quarantine", REJECTS_TABLE) else None
    for spec in sources.specs("incidents"):
        if not lakehouse.exists("bronze", bronze_table(spec)):
            continue
        n_in = lakehouse.count("bronze", bronze_table(spec))
        n_ok = int(pc.sum(pc.equal(silver["source"], spec.name)).as_py() or 0)
        n_q = int(pc.sum(pc.equal(rejects["source"], spec.name)).as_py() or 0) if rejects is not None else 0
        ok = n_in == n_ok + n_q
        passed &= ok
        rows.append(f"| {spec.name} | {n_in:,} | {n_ok:,} | {n_q:,} | {'yes' if ok else '**no**'} |")
    table = "| source | bronze rows | accepted | quarantined | reconciles |\n|---|---|---|---|---|\n" + "\n".join(rows)
    return dg.AssetCheckResult(passed=passed, metadata={"reconciliation": dg.MetadataValue.md(table)})
