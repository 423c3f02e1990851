"""Hotspot forecasting assets: cell features, backtest, model (MLflow), weekly forecast, patrol plan.

Defaults are sized so that the whole group materialises in about 2-3 minutes on
2 cores (78 training weeks, a 6-week backtest); the full 2016-2017 backtest is
``benchmarks/forecast.py``'s job. Reports (PNG, HTML, GeoParquet) go to
``<CRIMEFUSION_HOME>/reports/hotspots/``.
"""


import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.hotspots.inputs import (EXPERIMENT, VALID_WEEKS, CellFeaturesConfig, HotspotConfig, forecast_source,
                                          gold_features, local_week_start, map_layers, period_span, study_inputs,
                                          week_key, week_rows, with_provenance)
from orchestration.hotspots.partitions import FORECAST_WEEKS
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.automation import ON_SCHEDULE_TAG, RETRAIN_TAG
from orchestration.platform.retries import MODEL_RETRY, STORAGE_RETRY

OWNERS = ["team:crime-analysis"]
#: The layer of the tables they write; the model goes to ``models`` (the domain shows as the tag
#: ``crimefusion/domain: hotspots``).
GROUP = "gold"
# -- assets ----------------------------------------------------------------------------

def build_cell_features(*, reads_events: bool) -> dg.AssetsDefinition:
    """The ``cell_features`` asset; ``reads_events`` when fusion is part of the deployment.

    With fusion loaded, gold ``events`` is a real dependency of the op (not only
    an edge in the lineage graph), so a run orders ``events`` first and a fresh
    lake's features carry the other feeds' activity on the first run. The
    domain's ``defs(feeds)`` decides (orchestration/hotspots/definitions.py).
    """
    return dg.asset(
        key="cell_features",
        retry_policy=STORAGE_RETRY,
        tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
        group_name=GROUP,
        metadata=lake_table("gold", "cell_features"),
        kinds={"delta", "h3"},
        owners=OWNERS,
        deps=["incidents", "police_districts", *(["events"] if reads_events else [])],
        description=CELL_FEATURES_DOC,
    )(skip_unchanged()(_cell_features))


CELL_FEATURES_DOC = (
        "Gold: one row per study-area H3 cell and week (the training window before the data's last week; "
        "config `period: day` gives daily rows instead): "
        "lagged and rolling counts, k-ring and kernel-smoothed counts, decayed long-run rates, near-repeat "
        "exposure, location-type mix, calendar, and (when gold events exists) lagged CDR activity, "
        "transaction volume, OSINT volume and camera detections per cell; `target` is the period's count. "
        "Every feature reads only records before the period's start. Default 78 weeks so `make run` stays fast."
)


def _cell_features(context: dg.AssetExecutionContext, config: CellFeaturesConfig, lakehouse: Lakehouse,
                  sources: SourceCatalog, compute: Compute) -> dg.MaterializeResult:
    from jobs.grid.activity import ACTIVITY_ORIGINS, activity_counts
    from jobs.grid.cell_features import cell_features as build
    from jobs.grid.cell_features import data_origin, resolve_params
    from jobs.grid.params import COMMIT_KEY
    from models.hotspots.learned import default_feature_params

    incidents, cells, _, tz = study_inputs(lakehouse, sources, config)
    origin = data_origin(incidents, timezone=tz)  # periods start at the study area's local boundaries
    freq, n_periods = ("W", config.train_weeks) if config.period == "week" else ("D", config.train_days)
    first, last = period_span(freq, tz, origin, n_periods)
    # the learned model's look-backs at this period, vocabularies and bandwidth fixed: stored with the rows
    params = resolve_params(default_feature_params(freq).replace(resolution=config.resolution, timezone=tz),
                            incidents, cells)
    stored = {COMMIT_KEY: params.to_json()}
    extra = None
    if lakehouse.exists("gold", "events"):
        # Other feeds' activity per cell and period; cell_features lags it (period p is first read by p + 1).
        ev = lakehouse.read("gold", "events", columns=["origin", "occurred_at", "h3"],
                            filters=[("origin", "in", list(ACTIVITY_ORIGINS))])
        extra = activity_counts(ev, resolution=config.resolution, freq=freq, timezone=tz)
        context.log.info("activity features from gold/events: " +
                         ", ".join(f"{k} {int(pc.sum(v['value']).as_py() or 0):,} events" for k, v in extra.items()))
    else:
        context.log.info("no gold/events yet: cell_features has no CDR/transaction/OSINT/camera activity columns")
    if compute.engine == "spark":
        # H3 parent groups with a halo ring, the same kernel per group (jobs/spark/cell_features.py)
        from jobs.spark.cell_features import spark_cell_features

        spark_cell_features(compute.spark(), incidents, cells, lakehouse.uri("gold", "cell_features"), params,
                            start=first, end=last, extra_counts=extra, partitions=compute.spark_partitions,
                            storage_options=lakehouse.storage_options(), commit_metadata=stored)
        result = lakehouse.describe("gold", "cell_features", lakehouse.count("gold", "cell_features"))
        table = lakehouse.read("gold", "cell_features").slice(0, 5)
    else:
        table = build(incidents, cells, params, start=first, end=last, extra_counts=extra)
        result = lakehouse.overwrite("gold", "cell_features", table, commit_metadata=stored)
    context.log.info(f"{result.rows_total:,} cell-{config.period}s ({cells.num_rows:,} cells x {n_periods} "
                     f"{config.period}s to {origin.tz_convert(tz).date()}), {table.num_columns} columns "
                     f"({compute.engine})")
    return dg.MaterializeResult(metadata={**table_metadata(result, table.select(table.column_names[:8])),
                                          "origin": dg.MetadataValue.text(str(origin.tz_convert(tz).date())),
                                          "period": dg.MetadataValue.text(config.period),
                                          "feature_params": dg.MetadataValue.json(params.to_dict()),
                                          "n_cells": dg.MetadataValue.int(cells.num_rows)})


#: Crime records alone; the hotspot domain's ``defs(feeds)`` swaps in the one that reads gold events.
cell_features = build_cell_features(reads_events=False)


@dg.asset(
    key="hotspot_backtest",
    retry_policy=STORAGE_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
    group_name=GROUP,
    metadata=lake_table("gold", "hotspot_backtest"),
    kinds={"delta", "lightgbm"},
    owners=OWNERS,
    deps=["cell_features"],
    description=(
        "Gold: rolling-origin backtest of the learned model and every baseline (naive counts, retrospective "
        "KDE, prospective hotspotting, self-exciting point process) on the same weeks just before the data's "
        "origin: hit rate, PAI, PEI, PEI* at 0.5/1/2/5 % of the area per method and week, the Poisson deviance "
        "of each method's expected counts (`deviance`), a PAI plot (reports/hotspots/backtest_pai.png) and a "
        "reliability plot (backtest_reliability.png). Default 6 weeks; the full 2016-2017 backtest is "
        "benchmarks/forecast.py."
    ),
)
@skip_unchanged()
def hotspot_backtest(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                     sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from jobs.grid.cell_features import data_origin
    from models.evaluation.backtest import plot_backtest, plot_reliability, rolling_origin_backtest
    from models.hotspots.baselines import BASELINES
    from models.hotspots.training import weekly_forecaster

    incidents, cells, _, tz = study_inputs(lakehouse, sources, config)
    origin = data_origin(incidents, timezone=tz)
    start, end = period_span("W", tz, origin, config.backtest_weeks)
    methods = {name: (lambda h, cls=cls: cls()) for name, cls in BASELINES.items()}
    methods["learned"] = lambda h: weekly_forecaster(config.train_weeks, config.burn_in_weeks, config.seed,
                                                     VALID_WEEKS, timezone=tz)
    res = rolling_origin_backtest(incidents, cells, methods, start=start, end=end, horizons=("W",), timezone=tz)
    periods = res.periods.copy()
    periods["period_start"] = pd.to_datetime(periods["period_start"], utc=True)
    periods["origin"] = origin
    table = pa.Table.from_pandas(periods, preserve_index=False)
    result = lakehouse.overwrite("gold", "hotspot_backtest", table)
    png = reports.folder("hotspots") / "backtest_pai.png"
    plot_backtest(res.summary, "pai").savefig(png, dpi=100)
    reliability_png = reports.folder("hotspots") / "backtest_reliability.png"
    plot_reliability(res.reliability).savefig(reliability_png, dpi=100)
    at1 = res.summary[res.summary["coverage"] == 0.01].set_index("method")
    lines = [f"| {m} | {r.pai_mean:.2f} ± {r.pai_se:.2f} | {100 * r.hit_rate_mean:.1f} % | "
             f"{r.deviance_mean:.4f} ± {r.deviance_se:.4f} |" for m, r in at1.iterrows()]
    context.log.info(f"backtest {start.tz_convert(tz).date()} .. {origin.tz_convert(tz).date()}: " +
                     ", ".join(f"{m} PAI@1% {r.pai_mean:.2f}" for m, r in at1.iterrows()))
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.drop_columns(["origin"])),
        "pai_at_1pct": dg.MetadataValue.md("| method | PAI@1% | hit rate | Poisson deviance per cell |\n"
                                           "|---|---|---|---|\n" + "\n".join(lines)),
        "plot": dg.MetadataValue.path(str(png)),
        "reliability_plot": dg.MetadataValue.path(str(reliability_png)),
        "weeks": dg.MetadataValue.int(int(res.summary["n_periods"].max())),
        "timings": dg.MetadataValue.text(res.timings.round(3).to_string(index=False)),
    })


@dg.asset(
    key="hotspot_model",
    retry_policy=MODEL_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
    group_name="models",  # an MLflow registered model, no lakehouse table
    kinds={"lightgbm", "onnx", "mlflow"},
    owners=OWNERS,
    deps=["cell_features", "hotspot_backtest"],
    description=(
        "LightGBM (Poisson, monotone trees stacking the baselines' signals) on gold cell_features, built with the "
        "feature parameters stored with the table, on its weeks before the last `backtest_weeks` (held out for "
        "the champion gate), with time-ordered validation (the last 8 training weeks choose the settings); "
        "exported to ONNX (parity-checked against LightGBM), logged to MLflow with params (`trained_to`: first "
        "week not trained on), the backtest table and plot, signature, input example and feature spec, and "
        "registered as `hotspot_lgbm` (alias `challenger`). The blocking check `beats_champion` moves `champion`."
    ),
)
# the version it registered (alias challenger): a lost registry retrains; a baseline the gate registers does not
@skip_unchanged(models=lambda kw: [(kw['config'].model_name, 'challenger')])
def hotspot_model(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                  mlflow: MlflowTracking, sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from models.cards import hotspot_card, publish_card
    from models.evaluation.backtest import plot_backtest, summarise
    from models.hotspots.explain import NATIVE_FILE, plot_importance
    from models.hotspots.serving import SPEC_FILE
    from models.hotspots.training import DESCRIPTION, train_hotspot_model
    from models.registry import CHALLENGER, graph_digest, log_onnx_model
    from orchestration.hotspots import sensitivity

    feats, params, features_version = gold_features(lakehouse)  # the rows and the parameters they were built with
    source = forecast_source(sources, config.source).name
    # the last backtest_weeks weeks are held out: the champion gate scores both models on weeks neither saw
    fitted = train_hotspot_model(feats, params, holdout_weeks=config.backtest_weeks, seed=config.seed,
                                 valid_weeks=VALID_WEEKS)
    model, origin, trained_to = fitted.model, fitted.origin, fitted.trained_to
    periods = lakehouse.read("gold", "hotspot_backtest").to_pandas()
    summary = summarise(periods)
    at1 = summary[np.isclose(summary["coverage"], 0.01)].set_index("method")["pai_mean"]
    pai_learned = float(at1.get("learned", np.nan))
    best_base = at1.drop("learned", errors="ignore")
    deviance = summary[np.isclose(summary["coverage"], 0.01)].set_index("method").get("deviance_mean", pd.Series())
    mlflow.experiment(EXPERIMENT)  # created with the artifact root, and MLflow set up
    X = feats.select(list(model.feature_names_)).slice(0, 5).to_pandas().to_numpy(np.float32)
    importance = fitted.importance(feats)  # mean |TreeSHAP| per feature on the last training weeks
    version = log_onnx_model(
        mlflow.tracking_uri, experiment=EXPERIMENT, name=config.model_name, onnx_model=fitted.onnx_model,
        run_name=fitted.run_name(config.model_name), description=DESCRIPTION,
        texts={SPEC_FILE: fitted.spec.to_json(), NATIVE_FILE: model.model_.booster_.model_to_string()},
        input_example=X, output_example=model.predict(X), alias=CHALLENGER,
        params={**fitted.run_params(), "train_weeks": config.train_weeks, "holdout_weeks": config.backtest_weeks,
                "seed": config.seed, "source": source,
                "cell_features_version": features_version,
                "hotspot_backtest_version": lakehouse.version("gold", "hotspot_backtest")},
        metrics={**{f"backtest_pai_1pct_{m}": v for m, v in at1.items()},
                 **{f"backtest_deviance_{m}": v for m, v in deviance.items()},
                 "onnx_max_abs_diff": fitted.parity.max_abs_diff},
        tables={"backtest_periods.csv": periods.drop(columns=["origin"]), "backtest_summary.csv": summary,
                "validation.csv": model.validation_,
                "feature_importance.csv": importance.rename("mean_abs_shap").rename_axis("feature").reset_index()},
        figures={"backtest_pai.png": plot_backtest(summary, "pai"),
                 "feature_importance.png": plot_importance(
                     importance, f"{config.model_name}: global importance (mean |TreeSHAP|), trained to "
                                 f"{trained_to.date()}")},
        tags={"method": "learned", "backtest_pai_1pct": f"{pai_learned:.6f}", "origin": str(origin.date()),
              "graph_sha256": graph_digest(fitted.onnx_model)},
    )
    grid = sensitivity.measure(lakehouse, sources, config)  # does the grid change which method wins? (card)
    card = publish_card(hotspot_card(name=config.model_name, version=version.version, method="learned", grid=grid,
                                     source=source,
                                     params={**fitted.run_params(), "train_weeks": config.train_weeks,
                                             "timezone": fitted.spec.feature_params.timezone,
                                             "cell_features_version": features_version,
                                             "hotspot_backtest_version": lakehouse.version("gold", "hotspot_backtest")},
                                     summary=summary, resolution=fitted.spec.resolution),
                        mlflow.tracking_uri, version.run_id, reports.folder("hotspots"))
    context.log.info(f"registered {version.uri} (run {version.run_id}), trained on weeks before {trained_to.date()}; "
                     f"backtest PAI@1% learned {pai_learned:.2f}, best baseline {best_base.idxmax()} "
                     f"{best_base.max():.2f}")
    return dg.MaterializeResult(metadata={
        "model_uri": dg.MetadataValue.text(version.uri),
        "model_card": dg.MetadataValue.path(str(card["card_html"])),
        "model_version": dg.MetadataValue.text(version.version),
        "run_id": dg.MetadataValue.text(version.run_id),
        "trained_to": dg.MetadataValue.text(str(trained_to.date())),
        "config": dg.MetadataValue.json(config.model_dump()),  # what the champion gate reads back
        "backtest_pai_1pct": dg.MetadataValue.float(pai_learned),
        "best_baseline": dg.MetadataValue.text(f"{best_base.idxmax()} {best_base.max():.2f}"),
        "best_params": dg.MetadataValue.json({**model.best_params_, "n_trees": int(model.best_iteration_)}),
        "n_features": dg.MetadataValue.int(len(model.feature_names_)),
        "onnx_parity_max_abs_diff": dg.MetadataValue.float(fitted.parity.max_abs_diff),
        **sensitivity.metadata(grid),  # the champion gate's check reads it back for a baseline's card
    })


@dg.asset(
    key="hotspot_forecast",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "hotspot_forecast"),
    kinds={"delta", "onnx", "geoparquet"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["hotspot_model"],
    description=(
        "Gold: the week's forecast per H3 cell by the champion `models:/hotspot_lgbm@champion` (the learned "
        "model on ONNX Runtime, or the baseline that won the champion gate, refitted), from incidents before the "
        "week's start: expected count, risk rank, cumulative share of the week's "
        "expected crime down to that rank, top-cell flag. Also a GeoParquet export (EPSG:4326), an offline "
        "HTML map and a PNG in reports/hotspots/. `method` names the serving method; `drivers` (learned model "
        "only) the cell's top three features by TreeSHAP, each as the factor it multiplies the expected count by "
        "(`roll_52 ×1.52`). Partitions: weeks from Monday 00:00 local time (the spec's `timezone`)."
    ),
)
@skip_unchanged(models=lambda kw: [(kw['config'].model_name, 'champion')])
def hotspot_forecast(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                     sources: SourceCatalog, mlflow: MlflowTracking, reports: Reports) -> dg.MaterializeResult:
    from models.hotspots.serving import forecast_table, load_hotspot_scorer, score_period
    from models.registry import CHAMPION, version_tags
    from orchestration.hotspots.maps import write_forecast_maps

    mlflow.setup()
    # the champion: a learned model or a baseline that won the gate
    scorer, version, method = load_hotspot_scorer(mlflow.tracking_uri, f"models:/{config.model_name}@{CHAMPION}")
    won_by = version_tags(mlflow.tracking_uri, version).get("won_by", "")
    # the cells the model was trained on: its feature spec's resolution
    read: dict = {}  # the Delta versions read: each row carries them
    incidents, cells, districts, tz = study_inputs(lakehouse, sources, config, resolution=scorer.resolution,
                                                   versions=read)
    week = local_week_start(context.partition_key, tz)
    expected, drivers = score_period(scorer, incidents, cells, week)
    table = forecast_table(cells, expected, week, config.top_share, version.version, drivers=drivers, method=method,
                           provenance={"model_name": version.name, **read})
    result = lakehouse.replace_where("gold", "hotspot_forecast", table, f"week = {sql_literal(week_key(week))}",
                                     evolve_schema=True)  # weeks written before `method`/`drivers` keep nulls
    key = week_key(week)
    layers, layer_note = map_layers(context, sources, config)
    paths = write_forecast_maps(table, districts, reports.folder("hotspots"), key, timezone=tz, tiles=reports.tiles,
                                layers=layers,
                                serving=f"Forecast by {method}, v{version.version}"
                                        f"{'; won the gate: ' + won_by if won_by else ''}")
    top = table.column("in_top_cells").to_numpy(zero_copy_only=False)
    share = float(table.column("expected_share").to_numpy()[top].max()) if top.any() else 0.0
    context.log.info(f"week {key}: {expected.sum():.1f} expected incidents; top {int(top.sum())} cells hold "
                     f"{100 * share:.1f} % of them")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "model_version": dg.MetadataValue.text(version.version),
        "method": dg.MetadataValue.text(method),
        "won_by": dg.MetadataValue.text(won_by or "not recorded"),
        "expected_total": dg.MetadataValue.float(float(expected.sum())),
        "top_cells": dg.MetadataValue.int(int(top.sum())),
        "share_expected_in_top_cells": dg.MetadataValue.float(share),
        **{name: dg.MetadataValue.path(str(path)) for name, path in paths.items()},
        "map_layers": dg.MetadataValue.text(layer_note),
        "incidents_version": dg.MetadataValue.int(lakehouse.version("silver", "incidents") or 0),
    })


@dg.asset(
    key="patrol_plan",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    metadata=lake_table("gold", "patrol_plan"),
    kinds={"delta"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["hotspot_forecast"],
    description=(
        "Gold: for each 8-hour shift of the week (06-14, 14-22, 22-06 local time), the top cells under the "
        "patrol capacity (`patrol_cells_per_shift`, default 10): the week's expected count split by each "
        "cell's shift profile of the past year (shrunk to the city profile); shifts are labelled with their "
        "local day and times (`Mon 1 Jan 06:00–14:00`). Also an offline HTML map with a shift selector and a "
        "table of each shift's cells, and a PNG (reports/hotspots/patrol_<week>.html, .png)."
    ),
)
@skip_unchanged(models=lambda kw: [(kw['config'].model_name, 'champion')])
def patrol_plan(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from jobs.grid.patrol import cells_by_shift, choose_shift_profile, describe_profile, mean_share_covered, shift_profile
    from jobs.grid.patrol import patrol_plan as plan
    from orchestration.hotspots.maps import write_patrol_maps

    key = context.partition_key
    # the forecast's cells (the served model's resolution), not the config's
    fc, forecast_version, resolution = week_rows(lakehouse, "hotspot_forecast", key)
    read: dict = {}
    incidents, cells, districts, tz = study_inputs(lakehouse, sources, config, resolution=resolution, versions=read)
    week = local_week_start(key, tz)
    pos = dict(zip(fc.column("h3").to_pylist(), fc.column("expected_count").to_numpy()))
    h3 = cells.column("h3").to_pylist()
    expected = np.array([pos.get(c, 0.0) for c in h3])
    # how each cell's week is split over its shifts: chosen on the 13 weeks before, at the patrols' coverage
    choice, tried = choose_shift_profile(incidents, cells, before=week, timezone=tz,
                                         coverage=min(1.0, config.patrol_cells_per_shift / max(1, len(h3))))
    profile = shift_profile(incidents, cells, before=week, timezone=tz,
                            **(choice or {"cycle": None}))
    context.log.info(f"shift profile: {describe_profile(choice, tried)}")
    table = plan(h3, expected, profile, week_start=key, capacity=config.patrol_cells_per_shift, timezone=tz)
    table = table.append_column("week", pa.array([key] * table.num_rows, pa.string()))
    served = {c: fc.column(c)[0].as_py() if c in fc.column_names else None
              for c in ("model_name", "model_version", "method")}
    provenance = {**served, "hotspot_forecast_version": forecast_version, **read}
    table = with_provenance(table, provenance)  # what made the plan: the forecast's model, every input's version
    result = lakehouse.replace_where("gold", "patrol_plan", table, f"week = {sql_literal(key)}", evolve_schema=True)
    shifts = cells_by_shift(table)
    layers, layer_note = map_layers(context, sources, config)
    maps = write_patrol_maps(h3, expected, districts, table, reports.folder("hotspots"), key, timezone=tz,
                             tiles=reports.tiles, layers=layers)
    share = mean_share_covered(table)
    context.log.info(f"{len(shifts)} shifts x {config.patrol_cells_per_shift} cells; they hold {100 * share:.1f} % "
                     "of each shift's expected crime on average")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "mean_share_covered": dg.MetadataValue.float(share),
        "distinct_cells": dg.MetadataValue.int(len({c for cs in shifts.values() for c in cs})),
        **{name: dg.MetadataValue.path(str(path)) for name, path in maps.items()},
        "map_layers": dg.MetadataValue.text(layer_note),
        "shift_profile": dg.MetadataValue.text(describe_profile(choice, tried)),
        "shift_profile_validation": dg.MetadataValue.md(tried.to_markdown(index=False, floatfmt=("g", "g", ".4f", "+.4f", ".4f"))),
    })
