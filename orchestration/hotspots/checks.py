"""The champion gate: the best method serves, baselines included.

The new model, the champion and every baseline are scored on the same weeks:
complete weeks of data on or after the learned models' training cut-offs
(``hotspot_model`` holds its last ``backtest_weeks`` weeks out of training for
this), with the config the ``hotspot_model`` materialisation ran with (source,
model name, weeks). The verdict is :func:`models.hotspots.gate.decide`'s.
"""


import dagster as dg

from orchestration.hotspots.inputs import HotspotConfig, forecast_source, study_inputs
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking

MODEL_KEY = dg.AssetKey("hotspot_model")


def model_config(instance: dg.DagsterInstance) -> HotspotConfig | None:
    """The config of ``hotspot_model``'s latest materialisation (the run this check follows), or ``None``."""
    event = instance.get_latest_materialization_event(MODEL_KEY)
    meta = event.asset_materialization.metadata if event is not None and event.asset_materialization else {}
    return HotspotConfig(**meta["config"].value) if "config" in meta else None


def out_of_sample(lakehouse: Lakehouse, sources: SourceCatalog, tracking_uri: str, config: HotspotConfig,
                  versions: dict, coverage: float = 0.01) -> tuple[list, dict[str, list[float]], dict[str, str],
                                                                dict[str, list[float]], dict[str, str],
                                                                dict[str, str]]:
    """Weekly PAI of registered versions (``{role: version}``) and of every baseline, on the weeks none of the
    learned versions trained on, each week scored from incidents before its start.

    Returns ``(weeks, PAI per role, trained_to per learned role, PAI per baseline, method per role, roles left
    out with the reason)``.
    """
    from jobs.grid.cell_features import data_origin
    from models.hotspots.baselines import BASELINES
    from models.hotspots.gate import gate_weeks, period_pai, trained_to
    from models.hotspots.serving import BaselineScorer, load_hotspot_scorer
    from models.registry import run_params

    incidents, cells, _, tz = study_inputs(lakehouse, sources, config)
    scorers = {role: load_hotspot_scorer(tracking_uri, v) for role, v in versions.items()}
    # a learned version whose periods run on another clock (trained before the study area's time zone was
    # declared) cannot be scored on the same weeks: it is left out of the comparison, and the reason kept
    stale = {role: s[0].spec.feature_params.timezone for role, s in scorers.items()
             if s[2] == "learned" and s[0].spec.feature_params.timezone != tz}
    scorers = {role: s for role, s in scorers.items() if role not in stale}
    methods = {role: s[2] for role, s in scorers.items()}
    # a registered baseline trained on nothing: only learned versions bound the weeks
    cutoffs = {role: trained_to(run_params(tracking_uri, v)) for role, v in versions.items()
               if methods.get(role) == "learned"}
    weeks = gate_weeks(cutoffs.values(), data_origin(incidents, timezone=tz), config.backtest_weeks, tz)

    def cells_at(resolution: int):
        return cells if resolution == config.resolution else \
            study_inputs(lakehouse, sources, config, resolution=resolution)[1]

    pai = {role: period_pai(s[0], incidents, cells_at(s[0].resolution), weeks, coverage, timezone=tz)
           for role, s in scorers.items()}
    base = {name: period_pai(BaselineScorer(name, resolution=config.resolution), incidents, cells, weeks, coverage,
                             timezone=tz) for name in BASELINES}
    skipped = {role: f"its weeks run on {zone} time, the study area's on {tz} time: not comparable"
               for role, zone in stale.items()}
    return weeks, pai, {role: str(c.date()) for role, c in cutoffs.items()}, base, methods, skipped


@dg.asset_check(
    asset="hotspot_model",
    name="beats_champion",
    blocking=True,
    description=(
        "Champion gate: scores the new model (alias `challenger`), the current champion and every baseline (naive "
        "counts, KDE, prospective hotspotting, self-exciting grid) on the same weeks, out of sample for the "
        "models (complete weeks on or after the learned models' `trained_to`, at most `backtest_weeks`), with "
        "hotspot_model's own config. The method that serves after it: the challenger when it beats both the "
        "champion and the best baseline by more than the paired standard error of the weekly PAI@1% "
        "differences; else the best baseline when it beats the champion so (it is registered as a version "
        "with tag `method` and gets the `champion` alias: serving refits it each week); else the champion. "
        "Without a champion, the challenger or else the best baseline is promoted. Passes when the alias "
        "moves or the challenger already is (or is identical to) the champion; fails with WARN when the "
        "champion is kept (it goes on serving: the run's forecast still runs), with ERROR when the gate "
        "cannot run (no recorded config, no challenger), which stops downstream steps. The "
        "winner's version carries tags `won_by` and `gate_decision`, which the forecast's metadata and map "
        "title repeat."
    ),
)
def beats_champion(context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse, sources: SourceCatalog,
                   mlflow: MlflowTracking, reports: Reports) -> dg.AssetCheckResult:
    from models.hotspots.gate import decide, mean_pai
    from models.registry import CHALLENGER, CHAMPION, aliased, graph_digest, load_onnx, method_of

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
    meta = {"model_name": config.model_name, "source": forecast_source(sources, config.source).name,
            "challenger_version": challenger.version}
    champion = aliased(ml, config.model_name, CHAMPION)
    if champion is not None:
        meta["champion_version"] = champion.version
        meta["champion_method"] = method_of(ml, champion)
        if champion.version == challenger.version:
            return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "already champion"})
        if meta["champion_method"] == "learned" and \
                graph_digest(load_onnx(ml, champion)[0]) == graph_digest(load_onnx(ml, challenger)[0]):
            return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": "identical to the champion: "
                                                                                 "alias kept"})
    versions = {"challenger": challenger, **({"champion": champion} if champion is not None else {})}
    weeks, pai, cutoffs, base, methods, skipped = out_of_sample(lakehouse, sources, ml, config, versions)
    meta.update({f"{role}_left_out": why for role, why in skipped.items()})
    if "champion" in skipped:  # not comparable: decided as if there were no champion yet
        champion = None
    meta.update({f"{role}_trained_to": c for role, c in cutoffs.items()})
    means = {**{role: mean_pai(v) for role, v in pai.items()}, **{name: mean_pai(v) for name, v in base.items()}}
    meta.update({f"{role}_pai_1pct": means[role] for role in pai})
    meta["baselines_pai_1pct"] = dg.MetadataValue.json({k: round(means[k], 4) for k in base})
    meta["weeks"] = f"{weeks[0].date()} .. {weeks[-1].date()} ({len(weeks)})" if weeks else "none"
    if not weeks:
        if champion is None:  # nothing to compare on: the new model serves until a week allows a comparison
            return _promote(context, ml, config, challenger, "learned", meta, "no champion yet and no week to "
                            "compare on: promoted untested", "untested")
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={
            **meta, "decision": "no complete week after both models' training: champion kept"})
    decision = decide(pai, base, methods.get("champion"))
    won_by = decision.won_by(means)
    meta.update({"best_baseline": decision.best_baseline, "serving": decision.winner, "won_by": won_by})
    if not decision.promote:
        # a verdict, not a fault: the champion keeps serving, so the run's forecast goes on (WARN does not block)
        context.log.warning(f"challenger v{challenger.version}: {decision.reason}")
        meta["serving"] = f"champion ({methods.get('champion')})"
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={**meta, "decision": decision.reason})
    if decision.winner == "challenger":
        return _promote(context, ml, config, challenger, "learned", meta, decision.reason, won_by)
    from models.evaluation.backtest import summarise

    backtest = summarise(lakehouse.read("gold", "hotspot_backtest").to_pandas()) \
        if lakehouse.exists("gold", "hotspot_backtest") else None
    from orchestration.hotspots.sensitivity import recorded

    card = {"inputs": {"source": meta["source"], "summary": backtest, "grid": recorded(context.instance)},
            "folder": reports.folder("hotspots"),
            "timezone": forecast_source(sources, config.source).local_timezone}
    return _promote(context, ml, config, None, decision.winner, meta, decision.reason, won_by,
                    pai_1pct=means[decision.winner], card=card)


def _promote(context, ml: str, config: HotspotConfig, version, method: str, meta: dict, reason: str, won_by: str,
             pai_1pct: float | None = None, card: dict | None = None) -> dg.AssetCheckResult:
    """Point the champion alias at ``version``, or at a newly registered baseline ``method`` when ``version``
    is None; the winner carries the decision as tags."""
    from models.hotspots.serving import BaselineScorer
    from models.registry import CHAMPION, register_baseline, set_alias, set_version_tags
    from orchestration.hotspots.inputs import EXPERIMENT

    tags = {"gate_decision": reason[:5000], "won_by": won_by[:5000]}
    if version is None:
        params = {**BaselineScorer(method).forecaster().get_params(), "resolution": config.resolution, "freq": "W"}
        version = register_baseline(ml, name=config.model_name, method=method, params=params, experiment=EXPERIMENT,
                                    run_name=f"baseline {method} h3r{config.resolution} weekly (champion gate)",
                                    metrics={"gate_pai_1pct": pai_1pct}, tags=tags)
        if card is not None:  # a model card for the registered baseline, as for every registered version
            from models.cards import hotspot_card, publish_card

            publish_card(hotspot_card(name=config.model_name, version=version.version, method=method,
                                      params={**params, "timezone": card["timezone"]},
                                      resolution=config.resolution, gate=f"{reason}; {won_by}",
                                      **card["inputs"]), ml, version.run_id, card["folder"])
    else:
        set_version_tags(ml, version, tags)
    set_alias(ml, version, CHAMPION)
    context.log.info(f"{config.model_name} v{version.version} ({method}) is champion: {reason}; {won_by}")
    return dg.AssetCheckResult(passed=True, metadata={**meta, "decision": reason, "serving": method,
                                                      "champion_version_now": version.version})
