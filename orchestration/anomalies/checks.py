"""Checks of the anomaly assets: the ONNX parity gate of the entity models and complete entity scoring.

The warning on new critical spikes, ``spike_alerts_no_new_critical``, is a check spec of ``spike_alerts``
itself (its result is yielded with the materialisation): Dagster's partitioned asset checks are still a
preview feature.
"""

import dagster as dg
import pandas as pd

from models.anomalies.scoring import ENTITY_MODELS
from models.registry import CHALLENGER
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.tracking import MlflowTracking


@dg.asset_check(
    asset="entity_anomaly_model",
    name="entity_anomaly_model_onnx_parity",
    blocking=True,
    description=(
        "Parity gate: for each entity model, the ONNX graph registered as `challenger` (loaded back from "
        "MLflow) and the native detector logged with it score every row of the feature table; scores must "
        "agree within 1e-5 (relative and absolute) and contributions within 1e-4, but for at most 0.1 % of "
        "rows (float32 threshold ties) that change neither the flagged set nor the top 50. Passing moves `champion` "
        "to the challenger; failing keeps the champion and, being blocking, stops entity_anomalies."
    ),
)
def entity_anomaly_model_onnx_parity(lakehouse: Lakehouse, mlflow: MlflowTracking) -> dg.AssetCheckResult:
    from models.anomalies.champion import gate_challenger
    from models.registry import aliased

    mlflow.setup()
    uri = mlflow.tracking_uri
    rows, passed, checked = [], True, 0
    for spec in ENTITY_MODELS:
        challenger = aliased(uri, spec.model_name, CHALLENGER)
        if challenger is None or not lakehouse.exists("gold", spec.table):
            continue
        p = gate_challenger(uri, challenger, lakehouse.read("gold", spec.table))  # promotes it when parity holds
        checked += 1
        passed &= p["passed"]
        decision = f"v{challenger.version} promoted" if p["passed"] else "kept"
        rows.append(f"| {spec.model_name} | v{challenger.version} | {p['rows']:,} | {p['rows_mismatched']} | "
                    f"{p['max_abs_diff_score']:.1e} | {p['max_abs_diff_contributions']:.1e} | "
                    f"{'yes' if p['same_flagged'] else 'no'} | {p['top_k_overlap']:.2f} | "
                    f"{'yes' if p['passed'] else '**no**'} | {decision} |")
    table = ("| model | challenger | rows | rows off | max abs diff score | max abs diff contributions | "
             "same flagged | top-50 overlap | parity | champion |\n|---|---|---|---|---|---|---|---|---|---|\n"
             + "\n".join(rows))
    if not checked:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"reason": "no challenger model with a feature table to check"})
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"parity": dg.MetadataValue.md(table), "models_checked": checked})


@dg.asset_check(
    asset="entity_anomalies",
    name="entity_anomalies_complete",
    description="Every row of each feature table was scored once, with a finite score and ranks 1..n per entity type.",
)
def entity_anomalies_complete(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    scored = lakehouse.read("gold", "entity_anomalies", columns=["entity", "entity_type", "score", "rank"]).to_pandas()
    problems = []
    for spec in ENTITY_MODELS:
        rows = scored[scored["entity_type"] == spec.entity_type]
        if rows.empty:
            continue
        n = lakehouse.count("gold", spec.table)
        if len(rows) != n or rows["entity"].nunique() != n:
            problems.append(f"{spec.entity_type}: {len(rows):,} scored rows for {n:,} entities")
        if not pd.Series(rows["score"]).map(lambda v: v == v and abs(v) != float("inf")).all():
            problems.append(f"{spec.entity_type}: non-finite scores")
        if sorted(rows["rank"]) != list(range(1, len(rows) + 1)):
            problems.append(f"{spec.entity_type}: ranks are not 1..{len(rows)}")
    return dg.AssetCheckResult(passed=not problems,
                               metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "None")})
