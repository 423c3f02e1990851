"""Hotspot forecasting assets: cell features, backtest, model (MLflow), weekly forecast, patrol plan.

Defaults are sized so that the whole group materialises in about 2-3 minutes on
2 cores (78 training weeks, a 6-week backtest); the full 2016-2017 backtest is
``benchmarks/forecast.py``'s job. Reports (PNG, HTML, GeoParquet) go to
``<CRIMEFUSION_HOME>/reports/hotspots/``.
"""


from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from orchestration.lakehouse.metadata import table_metadata
from orchestration.hotspots.partitions import FORECAST_WEEKS
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.automation import ON_SCHEDULE_TAG, OPTIONAL_INPUT, RETRAIN_TAG
from orchestration.platform.retries import MODEL_RETRY, STORAGE_RETRY

OWNERS = ["team:crime-analysis"]
GROUP = "hotspots"
MODEL_NAME = "hotspot_lgbm"
EXPERIMENT = "hotspots"
VALID_WEEKS = 8  # last training weeks that choose the model's settings (time-ordered validation)
INCIDENT_COLUMNS = ["occurred_at", "h3", "lon", "lat", "category", "location_type"]


class HotspotConfig(dg.Config):
    """Settings shared by the hotspot assets (the same defaults everywhere)."""

    source: str = Field("chicago_aggravated_assaults", description="Incident source (spec name) to forecast.")
    resolution: int = Field(9, description="H3 resolution of the forecast cells.")
    train_weeks: int = Field(78, description="Training weeks before the origin (kept small for `make run`).")
    burn_in_weeks: int = Field(26, description="Weeks after the first incident left out so trailing windows fill.")
    backtest_weeks: int = Field(6, description="Weeks of the rolling-origin backtest before the origin.")
    model_name: str = Field(MODEL_NAME, description="Registered MLflow model name.")
    patrol_cells_per_shift: int = Field(10, description="Patrol capacity: cells covered per 8-hour shift.")
    top_share: float = Field(0.01, description="Share of the study area outlined as top cells on the maps.")
    seed: int = 0


class CellFeaturesConfig(HotspotConfig):
    """:class:`HotspotConfig` plus the period of the ``cell_features`` rows."""

    period: Literal["week", "day"] = Field("week", description=(
        "Period of the rows: `week` (Monday 00:00 UTC; what hotspot_model trains on) or `day` (00:00 UTC, "
        "the same look-backs counted in days: roll_7, roll_28, roll_91, roll_364)."))
    train_days: int = Field(28, ge=1, description="period: day only, days of rows before the origin.")


def feature_params(period: str) -> dict:
    """Settings of ``jobs.grid.cell_features`` per period: the weekly look-backs, counted in days for daily rows."""
    from models.hotspots.learned import default_feature_params

    freqs = {"week": "W", "day": "D"}
    if period not in freqs:
        raise ValueError(f"cell_features period must be 'week' or 'day', got {period!r}")
    return default_feature_params(freqs[period])


def require_weekly(feats: pa.Table) -> None:
    """Refuse a ``cell_features`` table of daily rows where a weekly model is trained."""
    days = pc.unique(pc.day_of_week(feats.column("period_start"))).to_pylist()
    if feats.num_rows and days != [0]:
        raise ValueError("gold/cell_features holds daily rows (period: day); hotspot_model trains on weekly "
                         "features: materialise cell_features with period: week first")


# -- shared inputs ---------------------------------------------------------------------

def study_inputs(lakehouse: Lakehouse, sources: SourceCatalog, config: HotspotConfig):
    """``(incidents, cells, districts_wkb, timezone)`` of the configured source."""
    from jobs.grid.cells import study_area_cells
    from orchestration.ingest.boundaries import layer_name

    spec = sources.spec(config.source)
    if spec.study_area is None:
        raise ValueError(f"source {config.source!r} has no study_area; hotspot forecasting needs its boundary layer")
    layer = layer_name(spec)
    districts = lakehouse.read("reference", "police_districts", filters=[("layer", "=", layer)])
    if districts.num_rows == 0:
        raise ValueError(f"reference/police_districts has no layer {layer!r}; materialise police_districts first")
    incidents = lakehouse.read("silver", "incidents", columns=INCIDENT_COLUMNS,
                               filters=[("source", "=", config.source)])
    incidents = incidents.filter(pc.is_valid(incidents.column("h3")))
    if incidents.num_rows == 0:
        raise ValueError(f"silver/incidents has no located rows of source {config.source!r}")
    cells = study_area_cells(districts.column("geometry"), resolution=config.resolution)
    occurred = spec.fields.get("occurred_at")
    tz = getattr(occurred, "timezone", None) or "UTC"
    return incidents, cells, districts.column("geometry").to_pylist(), tz


def data_origin(incidents: pa.Table) -> pd.Timestamp:
    """Monday 00:00 UTC of the week holding the last incident: training uses only earlier, complete weeks."""
    from jobs.grid.cell_features import period_grid, timestamps_ns

    pg = period_grid("W")
    last = int(timestamps_ns(incidents.column("occurred_at")).max())
    return pd.Timestamp(int(pg.start_ns(pg.index_of(np.array([last]))[0])), tz="UTC")


def learned_forecaster(config: HotspotConfig):
    from models.hotspots.learned import LearnedForecaster, stacked_model

    return LearnedForecaster(
        freq="W", train_periods=config.train_weeks, burn_in_periods=config.burn_in_weeks,
        model=stacked_model(config.seed, n_valid_periods=VALID_WEEKS),
    )


def _week_key(ts: pd.Timestamp) -> str:
    return ts.date().isoformat()


# -- assets ----------------------------------------------------------------------------

@dg.asset(
    key="cell_features",
    retry_policy=STORAGE_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG, OPTIONAL_INPUT: "events"},  # also reads gold events when fusion is loaded
    group_name=GROUP,
    kinds={"delta", "h3"},
    owners=OWNERS,
    deps=["incidents", "police_districts"],
    description=(
        "Gold: one row per study-area H3 cell and week (the training window before the data's last week; "
        "config `period: day` gives daily rows instead): "
        "lagged and rolling counts, k-ring and kernel-smoothed counts, decayed long-run rates, near-repeat "
        "exposure, location-type mix, calendar, and (when gold events exists) lagged CDR activity, "
        "transaction volume, OSINT volume and camera detections per cell; `target` is the period's count. "
        "Every feature reads only records before the period's start. Default 78 weeks so `make run` stays fast."
    ),
)
@skip_unchanged()
def cell_features(context: dg.AssetExecutionContext, config: CellFeaturesConfig, lakehouse: Lakehouse,
                  sources: SourceCatalog, compute: Compute) -> dg.MaterializeResult:
    from jobs.grid.activity import ACTIVITY_ORIGINS, activity_counts
    from jobs.grid.cell_features import cell_features as build

    incidents, cells, _, _ = study_inputs(lakehouse, sources, config)
    origin = data_origin(incidents)
    if config.period == "week":
        freq, first, n_periods = "W", origin - pd.Timedelta(weeks=config.train_weeks), config.train_weeks
    else:
        freq, first, n_periods = "D", origin - pd.Timedelta(days=config.train_days), config.train_days
    step = pd.Timedelta(weeks=1) if freq == "W" else pd.Timedelta(days=1)
    params = feature_params(config.period)
    extra = None
    if lakehouse.exists("gold", "events"):
        # Other feeds' activity per cell and period; cell_features lags it (period p is first read by p + 1).
        ev = lakehouse.read("gold", "events", columns=["origin", "occurred_at", "h3"],
                            filters=[("origin", "in", list(ACTIVITY_ORIGINS))])
        extra = activity_counts(ev, resolution=config.resolution, freq=freq)
        context.log.info("activity features from gold/events: " +
                         ", ".join(f"{k} {int(pc.sum(v['value']).as_py() or 0):,} events" for k, v in extra.items()))
    else:
        context.log.info("no gold/events yet: cell_features has no CDR/transaction/OSINT/camera activity columns")
    if compute.engine == "spark":
        # H3 parent groups with a halo ring, the same kernel per group (jobs/spark/cell_features.py)
        from jobs.spark.cell_features import spark_cell_features

        spark_cell_features(compute.spark(), incidents, cells, lakehouse.uri("gold", "cell_features"),
                            resolution=config.resolution, freq=freq, start=first, end=origin - step,
                            extra_counts=extra, partitions=compute.spark_partitions,
                            storage_options=lakehouse.storage_options(), **params)
        result = lakehouse.describe("gold", "cell_features", lakehouse.count("gold", "cell_features"))
        table = lakehouse.read("gold", "cell_features").slice(0, 5)
    else:
        table = build(incidents, cells, resolution=config.resolution, freq=freq, start=first,
                      end=origin - step, extra_counts=extra, **params)
        result = lakehouse.overwrite("gold", "cell_features", table)
    context.log.info(f"{result.rows_total:,} cell-{config.period}s ({cells.num_rows:,} cells x {n_periods} "
                     f"{config.period}s to {origin.date()}), {table.num_columns} columns ({compute.engine})")
    return dg.MaterializeResult(metadata={**table_metadata(result, table.select(table.column_names[:8])),
                                          "origin": dg.MetadataValue.text(str(origin.date())),
                                          "period": dg.MetadataValue.text(config.period),
                                          "n_cells": dg.MetadataValue.int(cells.num_rows)})


@dg.asset(
    key="hotspot_backtest",
    retry_policy=STORAGE_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
    group_name=GROUP,
    kinds={"delta", "lightgbm"},
    owners=OWNERS,
    deps=["cell_features"],
    description=(
        "Gold: rolling-origin backtest of the learned model and every baseline (naive counts, retrospective "
        "KDE, prospective hotspotting, self-exciting point process) on the same weeks just before the data's "
        "origin: hit rate, PAI, PEI, PEI* at 0.5/1/2/5 % of the area per method and week, plus a PAI plot "
        "(reports/hotspots/backtest_pai.png). Default 6 weeks; the full 2016-2017 backtest is "
        "benchmarks/forecast.py."
    ),
)
@skip_unchanged()
def hotspot_backtest(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                     sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from models.evaluation.backtest import plot_backtest, rolling_origin_backtest
    from models.hotspots.baselines import BASELINES

    incidents, cells, _, _ = study_inputs(lakehouse, sources, config)
    origin = data_origin(incidents)
    start = origin - pd.Timedelta(weeks=config.backtest_weeks)
    methods = {name: (lambda h, cls=cls: cls()) for name, cls in BASELINES.items()}
    methods["learned"] = lambda h: learned_forecaster(config)
    res = rolling_origin_backtest(incidents, cells, methods, start=start, end=origin - pd.Timedelta(weeks=1),
                                  horizons=("W",))
    periods = res.periods.copy()
    periods["period_start"] = pd.to_datetime(periods["period_start"], utc=True)
    periods["origin"] = origin
    table = pa.Table.from_pandas(periods, preserve_index=False)
    result = lakehouse.overwrite("gold", "hotspot_backtest", table)
    png = reports.folder("hotspots") / "backtest_pai.png"
    plot_backtest(res.summary, "pai").savefig(png, dpi=100)
    at1 = res.summary[res.summary["coverage"] == 0.01].set_index("method")
    lines = [f"| {m} | {r.pai_mean:.2f} ± {r.pai_se:.2f} | {100 * r.hit_rate_mean:.1f} % |" for m, r in at1.iterrows()]
    context.log.info(f"backtest {start.date()} .. {origin.date()}: " +
                     ", ".join(f"{m} PAI@1% {r.pai_mean:.2f}" for m, r in at1.iterrows()))
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.drop_columns(["origin"])),
        "pai_at_1pct": dg.MetadataValue.md("| method | PAI@1% | hit rate |\n|---|---|---|\n" + "\n".join(lines)),
        "plot": dg.MetadataValue.path(str(png)),
        "weeks": dg.MetadataValue.int(int(res.summary["n_periods"].max())),
        "timings": dg.MetadataValue.text(res.timings.round(3).to_string(index=False)),
    })


def backtest_pai(lakehouse: Lakehouse, method: str = "learned", coverage: float = 0.01) -> tuple[float, list]:
    """Mean PAI of ``method`` at ``coverage`` in gold ``hotspot_backtest`` and the weeks it covers."""
    df = lakehouse.read("gold", "hotspot_backtest").to_pandas()
    sub = df[(df["method"] == method) & np.isclose(df["coverage"], coverage)].dropna(subset=["pai"])
    if sub.empty:
        raise ValueError(f"gold/hotspot_backtest has no rows for method {method!r} at coverage {coverage}")
    return float(sub["pai"].mean()), sorted(pd.to_datetime(sub["period_start"], utc=True).unique())


@dg.asset(
    key="hotspot_model",
    retry_policy=MODEL_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
    group_name=GROUP,
    kinds={"lightgbm", "onnx", "mlflow"},
    owners=OWNERS,
    deps=["cell_features", "hotspot_backtest"],
    description=(
        "LightGBM (Poisson, monotone trees stacking the baselines' signals) on gold cell_features with time-ordered validation (the last 8 training weeks "
        "choose the settings), exported to ONNX (parity-checked against LightGBM), logged to MLflow with "
        "params, the backtest table and plot, signature and input example, and registered as "
        "`hotspot_lgbm` (alias `challenger`). The blocking check `beats_champion` moves `champion`."
    ),
)
@skip_unchanged(models=lambda kw: [(kw['config'].model_name, None)])
def hotspot_model(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                  sources: SourceCatalog, mlflow: MlflowTracking) -> dg.MaterializeResult:
    from models.evaluation.backtest import plot_backtest, summarise
    from models.hotspots.learned import DEFAULT_FEATURE_PARAMS, stacked_model
    from models.hotspots.serving import SPEC_FILE, FeatureSpec
    from models.registry import CHALLENGER, graph_digest, log_onnx_model

    incidents, cells, _, _ = study_inputs(lakehouse, sources, config)
    origin = data_origin(incidents)
    feats = lakehouse.read("gold", "cell_features")
    require_weekly(feats)
    model = stacked_model(config.seed, n_valid_periods=VALID_WEEKS).fit(feats)
    onnx_model = model.to_onnx()
    parity = model.check_onnx_parity(feats.slice(feats.num_rows - cells.num_rows))
    # The feature settings the table was built with (vocabularies included), so scoring rebuilds them.
    params = dict(DEFAULT_FEATURE_PARAMS)
    cat_cols = [c.removeprefix("cat_").rsplit("_roll_", 1)[0] for c in feats.column_names if c.startswith("cat_")]
    loc_cols = [c.removeprefix("loc_").removesuffix("_share") for c in feats.column_names
                if c.startswith("loc_") and c != "loc_other_share"]
    params.update(_vocabularies(incidents, origin, cat_cols, loc_cols))
    spec = FeatureSpec(tuple(model.feature_names_), params, "W", config.resolution)

    periods = lakehouse.read("gold", "hotspot_backtest").to_pandas()
    summary = summarise(periods)
    at1 = summary[np.isclose(summary["coverage"], 0.01)].set_index("method")["pai_mean"]
    pai_learned = float(at1.get("learned", np.nan))
    best_base = at1.drop("learned", errors="ignore")
    mlflow.experiment(EXPERIMENT)  # created with the artifact root, and MLflow set up
    X = feats.select(list(model.feature_names_)).slice(0, 5).to_pandas().to_numpy(np.float32)
    version = log_onnx_model(
        mlflow.tracking_uri, experiment=EXPERIMENT, name=config.model_name, onnx_model=onnx_model,
        texts={SPEC_FILE: spec.to_json()}, input_example=X, output_example=model.predict(X), alias=CHALLENGER,
        params={**model.best_params_, "n_trees": model.best_iteration_, "train_weeks": config.train_weeks,
                "origin": origin.date(), "resolution": config.resolution, "n_features": len(model.feature_names_),
                "selection": model.selection, "learning_rate": model.learning_rate, "seed": config.seed,
                "source": config.source},
        metrics={**{f"backtest_pai_1pct_{m}": v for m, v in at1.items()},
                 "onnx_max_abs_diff": parity.max_abs_diff},
        tables={"backtest_periods.csv": periods.drop(columns=["origin"]), "backtest_summary.csv": summary,
                "validation.csv": model.validation_},
        figures={"backtest_pai.png": plot_backtest(summary, "pai")},
        tags={"backtest_pai_1pct": f"{pai_learned:.6f}", "origin": str(origin.date()),
              "graph_sha256": graph_digest(onnx_model)},
    )
    context.log.info(f"registered {version.uri} (run {version.run_id}); backtest PAI@1% learned {pai_learned:.2f}, "
                     f"best baseline {best_base.idxmax()} {best_base.max():.2f}")
    return dg.MaterializeResult(metadata={
        "model_uri": dg.MetadataValue.text(version.uri),
        "model_version": dg.MetadataValue.text(version.version),
        "run_id": dg.MetadataValue.text(version.run_id),
        "backtest_pai_1pct": dg.MetadataValue.float(pai_learned),
        "best_baseline": dg.MetadataValue.text(f"{best_base.idxmax()} {best_base.max():.2f}"),
        "best_params": dg.MetadataValue.json({**model.best_params_, "n_trees": int(model.best_iteration_)}),
        "n_features": dg.MetadataValue.int(len(model.feature_names_)),
        "onnx_parity_max_abs_diff": dg.MetadataValue.float(parity.max_abs_diff),
    })


def _vocabularies(incidents: pa.Table, origin: pd.Timestamp, cat_slugs: list[str], loc_slugs: list[str]) -> dict:
    """Category and location-type names behind the table's ``cat_*``/``loc_*`` columns (by slug)."""
    from jobs.grid.cell_features import _slug

    before = incidents.filter(pc.less(incidents.column("occurred_at"),
                                      pa.scalar(origin, incidents.schema.field("occurred_at").type)))
    out = {}
    for col, slugs, key in (("category", cat_slugs, "categories"), ("location_type", loc_slugs, "location_types")):
        names = {_slug(v): v for v in pc.unique(before.column(col).drop_null()).to_pylist()}
        wanted = list(dict.fromkeys(slugs))
        out[key] = [names[s] for s in wanted if s in names]
    return out


@dg.asset(
    key="hotspot_forecast",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    kinds={"delta", "onnx", "geoparquet"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["hotspot_model"],
    description=(
        "Gold: the week's forecast per H3 cell, scored with ONNX Runtime by `models:/hotspot_lgbm@champion` "
        "from incidents before the week's start: expected count, risk rank, cumulative share of the week's "
        "expected crime down to that rank, top-cell flag. Also a GeoParquet export (EPSG:4326), an offline "
        "HTML map and a PNG in reports/hotspots/. Partitions: weeks from Monday 00:00 UTC."
    ),
)
@skip_unchanged(models=lambda kw: [(kw['config'].model_name, 'champion')])
def hotspot_forecast(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                     sources: SourceCatalog, mlflow: MlflowTracking, reports: Reports) -> dg.MaterializeResult:
    from models.hotspots.serving import OnnxHotspotScorer, load_hotspot_model
    from models.registry import CHAMPION
    from orchestration.hotspots.maps import render_html, render_png

    week = pd.Timestamp(context.partition_key, tz="UTC")
    incidents, cells, districts, _ = study_inputs(lakehouse, sources, config)
    mlflow.setup()
    onnx_model, spec, version = load_hotspot_model(mlflow.tracking_uri, f"models:/{config.model_name}@{CHAMPION}")
    history = incidents.filter(pc.less(incidents.column("occurred_at"),
                                       pa.scalar(week, incidents.schema.field("occurred_at").type)))
    if history.num_rows == 0:
        raise ValueError(f"no incidents before {week.date()}: nothing to forecast the week from")
    expected = OnnxHotspotScorer(onnx_model, spec).predict_many(history, cells, [week])[0]
    table = forecast_table(cells, expected, week, config.top_share, version.version)
    result = lakehouse.replace_where("gold", "hotspot_forecast", table, f"week = {sql_literal(_week_key(week))}")
    out = reports.folder("hotspots")
    key = _week_key(week)
    geo = write_geoparquet(table, out / f"forecast_{key}.parquet")
    top = table.column("in_top_cells").to_numpy(zero_copy_only=False)
    h3 = table.column("h3").to_pylist()
    title = f"Expected incidents, week of {key} (model v{version.version})"
    (out / f"forecast_{key}.html").write_text(render_html(h3, expected, districts, title=title, top=top))
    render_png(h3, expected, districts, out / f"forecast_{key}.png", title=title, top=top)
    share = float(table.column("expected_share").to_numpy()[top].max()) if top.any() else 0.0
    context.log.info(f"week {key}: {expected.sum():.1f} expected incidents; top {int(top.sum())} cells hold "
                     f"{100 * share:.1f} % of them")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "model_version": dg.MetadataValue.text(version.version),
        "expected_total": dg.MetadataValue.float(float(expected.sum())),
        "top_cells": dg.MetadataValue.int(int(top.sum())),
        "share_expected_in_top_cells": dg.MetadataValue.float(share),
        "geoparquet": dg.MetadataValue.path(str(geo)),
        "map_html": dg.MetadataValue.path(str(out / f"forecast_{key}.html")),
        "map_png": dg.MetadataValue.path(str(out / f"forecast_{key}.png")),
        "incidents_version": dg.MetadataValue.int(lakehouse.version("silver", "incidents") or 0),
    })


def forecast_table(cells: pa.Table, expected: np.ndarray, week: pd.Timestamp, top_share: float,
                   model_version: str) -> pa.Table:
    """Rank cells by expected count; share of expected crime down to each rank; top-area flag."""
    from models.evaluation.metrics import flag_top_cells

    h3 = np.asarray(cells.column("h3").to_pylist(), dtype=object)
    area = cells.column("area_km2").to_numpy()
    order = np.lexsort((h3.astype(str), -expected))
    rank = np.empty(len(h3), dtype=np.int32)
    rank[order] = np.arange(1, len(h3) + 1, dtype=np.int32)
    total = expected.sum()
    cum = np.empty(len(h3))
    cum[order] = np.cumsum(expected[order]) / total if total > 0 else 0.0
    top = flag_top_cells(expected, area, top_share, tie_key=np.argsort(np.argsort(h3.astype(str))))
    n = len(h3)
    return pa.table({
        "week": pa.array([_week_key(week)] * n, pa.string()),
        "period_start": pa.array([week] * n, pa.timestamp("us", tz="UTC")),
        "h3": pa.array(h3, pa.string()),
        "lon": cells.column("lon"),
        "lat": cells.column("lat"),
        "expected_count": pa.array(expected, pa.float64()),
        "risk_rank": pa.array(rank),
        "expected_share": pa.array(cum, pa.float64()),
        "in_top_cells": pa.array(top),
        "model_version": pa.array([str(model_version)] * n, pa.string()),
    }).sort_by("risk_rank")


def write_geoparquet(table: pa.Table, path: Path) -> Path:
    """GeoParquet of the cells as polygons, CRS EPSG:4326 in the file's geo metadata."""
    import geopandas as gpd
    import shapely

    from orchestration.hotspots.maps import cell_geometries_wkb

    df = table.to_pandas()
    geom = shapely.from_wkb(cell_geometries_wkb(df["h3"].tolist()).to_numpy(zero_copy_only=False))
    gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326").to_parquet(path)
    return path


@dg.asset(
    key="patrol_plan",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    kinds={"delta"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["hotspot_forecast"],
    description=(
        "Gold: for each 8-hour shift of the week (06-14, 14-22, 22-06 local time), the top cells under the "
        "patrol capacity (`patrol_cells_per_shift`, default 10): the week's expected count split by each "
        "cell's shift profile of the past year (shrunk to the city profile). Also an offline HTML map with "
        "a shift selector (reports/hotspots/patrol_<week>.html)."
    ),
)
@skip_unchanged(models=lambda kw: [(kw['config'].model_name, 'champion')])
def patrol_plan(context: dg.AssetExecutionContext, config: HotspotConfig, lakehouse: Lakehouse,
                sources: SourceCatalog, reports: Reports) -> dg.MaterializeResult:
    from jobs.grid.patrol import patrol_plan as plan
    from jobs.grid.patrol import shift_profile
    from orchestration.hotspots.maps import render_html, render_png

    week = pd.Timestamp(context.partition_key, tz="UTC")
    key = _week_key(week)
    incidents, cells, districts, tz = study_inputs(lakehouse, sources, config)
    fc = lakehouse.read("gold", "hotspot_forecast", filters=[("week", "=", key)])
    if fc.num_rows == 0:
        raise ValueError(f"gold/hotspot_forecast has no rows for week {key}; materialise that partition first")
    pos = dict(zip(fc.column("h3").to_pylist(), fc.column("expected_count").to_numpy()))
    h3 = cells.column("h3").to_pylist()
    expected = np.array([pos.get(c, 0.0) for c in h3])
    profile = shift_profile(incidents, cells, before=week, timezone=tz)
    table = plan(h3, expected, profile, week_start=week, capacity=config.patrol_cells_per_shift, timezone=tz)
    table = table.append_column("week", pa.array([key] * table.num_rows, pa.string()))
    result = lakehouse.replace_where("gold", "patrol_plan", table, f"week = {sql_literal(key)}")
    shifts: dict[str, list[str]] = {}
    for label, cell in zip(table.column("shift_label").to_pylist(), table.column("h3").to_pylist()):
        shifts.setdefault(label, []).append(cell)
    out = reports.folder("hotspots")
    html_text = render_html(h3, expected, districts, title=f"Patrol plan, week of {key} "
                            f"({config.patrol_cells_per_shift} cells per shift, times {tz})", patrol=shifts)
    (out / f"patrol_{key}.html").write_text(html_text)
    union = sorted({c for cs in shifts.values() for c in cs})
    render_png(h3, expected, districts, out / f"patrol_{key}.png", title=f"Patrol cells, week of {key}",
               outline=union)
    share = float(pc.mean(table.group_by("shift_label").aggregate([("share_of_shift", "sum")])
                          .column("share_of_shift_sum")).as_py())
    context.log.info(f"{len(shifts)} shifts x {config.patrol_cells_per_shift} cells; they hold {100 * share:.1f} % "
                     "of each shift's expected crime on average")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 5)),
        "mean_share_covered": dg.MetadataValue.float(share),
        "distinct_cells": dg.MetadataValue.int(len(union)),
        "map_html": dg.MetadataValue.path(str(out / f"patrol_{key}.html")),
    })
