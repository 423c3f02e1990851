"""The champion gate: a new hotspot model replaces the champion only when it beats it out of sample.

Both registered models are scored by the same code (their ONNX graph over
features rebuilt with their own feature spec) on the same weeks: complete weeks
of data on or after both models' training cut-offs (``hotspot_model`` holds its
last ``backtest_weeks`` weeks out of training for this), with the config the
``hotspot_model`` materialisation ran with (source, model name, weeks).
"""


import dagster as dg
import numpy as np

from orchestration.hotspots.assets import HotspotConfig, study_inputs
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking

MODEL_KEY = dg.AssetKey("hotspot_model")


def model_config(instance: dg.DagsterInstance) -> HotspotConfig | None:
    """The config of ``hotspot_model``'s latest materialisation (the run this check follows), or ``None``."""
    event = instance.get_latest_materialization_event(MODEL_KEY)
    meta = event.asset_materialization.metadata if event is not None and event.asset_materialization else {}
    return HotspotConfig(**meta["config"].value) if "config" in meta else None


def out_of_sample(lakehouse: Lakehouse, sources: SourceCatalog, tracking_uri: str, config: HotspotConfig,
                  versions: dict, coverage: float = 0.01) -> tuple[list, dict[str, float], dict[str, str]]:
    """``(weeks, mean PAI per role, trained_to per role)`` of registered versions (``{role: version}``) on the
    weeks none of them trained on, each scored from incidents before the week's start."""
    from jobs.grid.cell_features import data_origin
    from models.hotspots.gate import gate_weeks, mean_pai, trained_to, weekly_pai
    from models.hotspots.serving import load_hotspot_model
    from models.registry import run_params

    cutoffs = {role: trained_to(run_params(tracking_uri, v)) for role, v in versions.items()}
    incidents, cells, _, _ = study_inputs(lakehouse, sources, config)
    weeks = gate_weeks(cutoffs.values(), data_origin(incidents), config.backtest_weeks)
    pai = {}
    for role, version in versions.items():
        onnx_model, spec, _ = load_hotspot_model(tracking_uri, version)
        at = cells if spec.resolution == config.resolution else \
            study_inputs(lakehouse, sources, config, resolution=spec.resolution)[1]
        pai[role] = mean_pai(weekly_pai(onnx_model, spec, incidents, at, weeks, coverage))
    return weeks, pai, {role: str(c.date()) for role, c in cutoffs.items()}


@dg.asset_check(
    asset="hotspot_model",
    name="beats_champion",
    blocking=True,
    description=(
        "Champion gate: scores the new model (alias `challenger`) and the current champion, both as registered "
        "ONNX models, on the same weeks out of sample for both (complete weeks on or after both models' "
        "`trained_to`, at most `backtest_weeks`), with hotspot_model's own config. Passes, and moves the "
        "`champion` alias, when the new model's mean PAI at 1 % of the area is higher, or when there is no "
        "champion yet, or when the new model is identical to it (same graph). Otherwise (not better, or no week "
        "to compare on) fails with ERROR, so the alias stays and downstream steps of the run stop."
    ),
)
def beats_champion(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog,
                   mlflow: MlflowTracking) -> dg.AssetCheckResult:
    from models.registry import CHALLENGER, CHAMPION, aliased, graph_digest, load_onnx, set_alias

    def fail(meta: dict, reason: str) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={**meta, "decision": reason})

    config = model_config(context.instance)
    if config is None:
        return fail({}, "hotspot_model has no materialisation that recorded its config: materialise it first")
    mlflow.setup()
    ml = mlflow.tracking_uri
    challenger = aliased(ml, config.model_name, CHALLENGER)
    if challenger is None:
        return fail({"model_name": config.model_name}, f"no version of {config.model_name} has alias {CHALLENGER}")
    meta = {"model_name": config.model_name, "source": config.source, "challenger_version": challenger.version}
    champion = aliased(ml, config.model_name, CHAMPION)
    if champion is not None:
        meta["champion_version"] = champion.version
        if champion.version == challenger.version:
            return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "already champion"})
        if graph_digest(load_onnx(ml, champion)[0]) == graph_digest(load_onnx(ml, challenger)[0]):
            return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "identical to the champion: "
                                                                                 "alias kept"})
    versions = {"challenger": challenger, **({"champion": champion} if champion is not None else {})}
    weeks, pai, cutoffs = out_of_sample(lakehouse, sources, ml, config, versions)
    meta.update({f"{role}_trained_to": c for role, c in cutoffs.items()})
    meta.update({f"{role}_pai_1pct": v for role, v in pai.items()})
    meta["weeks"] = f"{weeks[0].date()} .. {weeks[-1].date()} ({len(weeks)})" if weeks else "none"
    if champion is None:
        set_alias(ml, challenger, CHAMPION)
        return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "no champion yet: promoted"})
    if not weeks:
        return fail(meta, "no complete week after both models' training: champion kept")
    if not np.isfinite(pai["challenger"]) or not pai["challenger"] > pai["champion"]:
        context.log.warning(f"challenger v{challenger.version} PAI@1% {pai['challenger']:.3f} <= champion "
                            f"v{champion.version} {pai['champion']:.3f} on {meta['weeks']}: champion kept")
        return fail(meta, "not better: champion kept")
    set_alias(ml, challenger, CHAMPION)
    return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "better: promoted"})
