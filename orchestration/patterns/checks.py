"""Checks on the pattern tables: internal consistency and coverage."""

from __future__ import annotations

import dagster as dg
import pyarrow.compute as pc

from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports


@dg.asset_check(
    asset="near_repeat",
    name="near_repeat_pairs_reconcile",
    blocking=True,
    description="Every pair is counted once: per source and category the observed counts sum to n(n-1)/2.",
)
def near_repeat_pairs_reconcile(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    t = lakehouse.read("gold", "near_repeat", columns=["source", "category", "observed", "n_events", "n_pairs"])
    sums = t.group_by(["source", "category"]).aggregate(
        [("observed", "sum"), ("n_pairs", "max"), ("n_events", "max")])
    rows, passed = [], True
    for r in sums.to_pylist():
        n = r["n_events_max"]
        ok = r["observed_sum"] == r["n_pairs_max"] == n * (n - 1) // 2
        passed &= ok
        rows.append(f"| {r['source']} | {r['category']} | {n:,} | {r['observed_sum']:,} | {r['n_pairs_max']:,} | "
                    f"{'yes' if ok else '**no**'} |")
    table = "| source | category | events | sum observed | n_pairs | reconciles |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    return dg.AssetCheckResult(passed=passed and sums.num_rows > 0, metadata={"pairs": dg.MetadataValue.md(table)})


@dg.asset_check(
    asset="hotspots_gi",
    name="hotspots_gi_covers_study_area",
    blocking=True,
    description=("Every H3 cell of the police-district polygons has exactly one Gi* row, and the counts add "
                 "up to the incidents of the window that fall inside the study area."),
)
def hotspots_gi_covers_study_area(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    from jobs.geo.points import h3_parent
    from jobs.patterns.gi_star import study_area_cells

    t = lakehouse.read("gold", "hotspots_gi", columns=["layer", "h3", "count", "resolution", "window_start", "window_end"])
    boundaries = lakehouse.read("reference", "police_districts")
    inc = lakehouse.read("silver", "incidents", columns=["occurred_at", "h3"])
    inc = inc.filter(pc.is_valid(inc["h3"]))
    rows, passed = [], t.num_rows > 0
    for layer in sorted(set(t["layer"].to_pylist())):
        part = t.filter(pc.equal(t["layer"], layer))
        resolution = int(part["resolution"][0].as_py())
        expected = set(study_area_cells(boundaries.filter(pc.equal(boundaries["layer"], layer)), resolution))
        cells = part["h3"].to_pylist()
        missing, extra, dupes = expected - set(cells), set(cells) - expected, len(cells) - len(set(cells))
        start, end = part["window_start"][0], part["window_end"][0]
        window = inc.filter(pc.and_(pc.greater(inc["occurred_at"], start), pc.less_equal(inc["occurred_at"], end)))
        inside = int(pc.sum(pc.is_in(h3_parent(window["h3"].combine_chunks(), resolution), pa_array(expected))).as_py() or 0)
        total = int(pc.sum(part["count"]).as_py() or 0)
        ok = not missing and not extra and dupes == 0 and total == inside
        passed &= ok
        rows.append(f"| {layer} | {len(expected):,} | {len(missing)} | {len(extra)} | {dupes} | {total:,} | {inside:,} | "
                    f"{'yes' if ok else '**no**'} |")
    table = ("| layer | study-area cells | missing | extra | duplicated | counted | incidents inside | ok |\n"
             "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    return dg.AssetCheckResult(passed=passed, metadata={"coverage": dg.MetadataValue.md(table)})


def pa_array(values):
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


@dg.asset_check(
    asset="crime_series",
    name="crime_series_linkage_auc",
    blocking=True,
    description=("The linkage model behind the series reached the documented held-out ROC AUC "
                 "(models.crime_series.linkage.MIN_HELDOUT_AUC) on synthetic series held out by series id."),
)
def crime_series_linkage_auc(lakehouse: Lakehouse, reports: Reports) -> dg.AssetCheckResult:
    from models.crime_series.linkage import MIN_HELDOUT_AUC
    from models.crime_series.store import REPORT_FILE, SERIES_MODELS, read_linkage_report

    report = read_linkage_report(reports.models(SERIES_MODELS))
    if report is None:
        path = reports.models(SERIES_MODELS) / REPORT_FILE
        return dg.AssetCheckResult(passed=False, metadata={"reason": dg.MetadataValue.text(f"{path} not found")})
    series = lakehouse.read("gold", "crime_series", columns=["confidence"])
    in_range = series.num_rows == 0 or (pc.min(series["confidence"]).as_py() >= 0 and pc.max(series["confidence"]).as_py() <= 1)
    return dg.AssetCheckResult(
        passed=bool(report["heldout_auc"] >= MIN_HELDOUT_AUC and in_range),
        metadata={"heldout_auc": dg.MetadataValue.float(float(report["heldout_auc"])),
                  "threshold": dg.MetadataValue.float(MIN_HELDOUT_AUC),
                  "report": dg.MetadataValue.json(report)},
    )


@dg.asset_check(
    asset="repeats",
    name="repeats_consistent",
    blocking=False,
    description="Each repeat lists n_incidents distinct incidents, at least 2, with first <= last and min gap <= median gap.",
)
def repeats_consistent(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    t = lakehouse.read("gold", "repeats")
    bad = 0
    for r in t.select(["n_incidents", "incident_ids", "first_at", "last_at", "min_gap_days", "median_gap_days"]).to_pylist():
        ok = (r["n_incidents"] >= 2 and len(set(r["incident_ids"])) == r["n_incidents"] == len(r["incident_ids"])
              and r["first_at"] <= r["last_at"] and 0 <= r["min_gap_days"] <= r["median_gap_days"])
        bad += not ok
    return dg.AssetCheckResult(passed=bad == 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"rows": dg.MetadataValue.int(t.num_rows), "inconsistent": dg.MetadataValue.int(bad)})
