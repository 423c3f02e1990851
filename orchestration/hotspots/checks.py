"""The champion gate: a new hotspot model replaces the champion only when its backtest beats it."""


import dagster as dg
import numpy as np
import pandas as pd

from orchestration.hotspots.assets import HotspotConfig, backtest_pai, study_inputs
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking


def champion_pai(lakehouse: Lakehouse, sources: SourceCatalog, tracking_uri: str, champion, weeks: list,
                 coverage: float = 0.01, config: HotspotConfig | None = None) -> float:
    """Mean PAI at ``coverage`` of the champion's ONNX model over ``weeks``, each scored from earlier incidents."""
    from jobs.grid.cell_features import period_grid, resolve_cells, resolve_events
    from models.evaluation.metrics import hotspot_metrics
    from models.hotspots.serving import OnnxHotspotScorer, load_hotspot_model

    config = config or HotspotConfig()
    incidents, cells, _, _ = study_inputs(lakehouse, sources, config)
    onnx_model, spec, _ = load_hotspot_model(tracking_uri, champion)
    starts = [pd.Timestamp(w) for w in weeks]
    S = OnnxHotspotScorer(onnx_model, spec).predict_many(incidents, cells, starts)
    grid = resolve_cells(cells)
    ev = resolve_events(incidents, grid)
    pg = period_grid("W")
    p = pg.index_of(ev.t_ns)
    pais = []
    for k, s in enumerate(starts):
        y = np.bincount(ev.cell[p == pg.index_of(np.array([s.value]))[0]], minlength=len(grid)).astype(float)
        m = hotspot_metrics(S[k], y, grid.area_km2, (coverage,), tie_key=grid.index)
        pais.append(float(m["pai"].iloc[0]))
    return float(np.nanmean(pais))


@dg.asset_check(
    asset="hotspot_model",
    name="beats_champion",
    blocking=True,
    description=(
        "Champion gate: passes, and moves the `champion` alias to the new version, when the new model's "
        "backtest PAI at 1 % of the area beats the current champion's on the same weeks (the champion's ONNX "
        "model rescored on them), or when there is no champion yet, or when the new model is identical to it "
        "(same graph). Otherwise fails with ERROR, so the alias stays and downstream steps of the run stop."
    ),
)
def beats_champion(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog,
                   mlflow: MlflowTracking) -> dg.AssetCheckResult:
    from models.registry import CHALLENGER, CHAMPION, aliased, graph_digest, load_onnx, set_alias

    config = HotspotConfig()
    mlflow.setup()
    ml = mlflow.tracking_uri
    challenger = aliased(ml, config.model_name, CHALLENGER)
    if challenger is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"reason": f"no version of {config.model_name} has alias {CHALLENGER}"})
    new_pai, weeks = backtest_pai(lakehouse, "learned", 0.01)
    meta = {"challenger_version": challenger.version, "challenger_pai_1pct": new_pai,
            "weeks": f"{weeks[0].date()} .. {weeks[-1].date()} ({len(weeks)})"}
    champion = aliased(ml, config.model_name, CHAMPION)
    if champion is None:
        set_alias(ml, challenger, CHAMPION)
        return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "no champion yet: promoted"})
    meta["champion_version"] = champion.version
    if champion.version == challenger.version:
        return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "already champion"})
    if graph_digest(load_onnx(ml, champion)[0]) == graph_digest(load_onnx(ml, challenger)[0]):
        return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "identical to the champion: alias kept"})
    old_pai = champion_pai(lakehouse, sources, ml, champion, weeks, 0.01, config)
    meta["champion_pai_1pct"] = old_pai
    if new_pai > old_pai:
        set_alias(ml, challenger, CHAMPION)
        return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "better: promoted"})
    context.log.warning(f"challenger v{challenger.version} PAI@1% {new_pai:.3f} <= champion v{champion.version} "
                        f"{old_pai:.3f}: champion kept")
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={**meta, "decision": "not better: champion kept"})
