"""Anomaly assets: spikes in count series, unusual phones and accounts, served from the MLflow champion.

Gold tables (Delta):

- ``spike_alerts``, partitioned by scoring day (``as_of_date``): the four series families of
  :mod:`jobs.anomalies.families` scored up to the end of that UTC day over a look-back span (a baseline
  needs history, and the bundled synthetic feeds lie years before today's ingest date), with
  :func:`jobs.anomalies.spikes.detect_spikes`. Each partition rewrites its own rows (``replace_where
  as_of_date = <day>``), so re-running a day is idempotent. It holds every window of each series that
  alerted at least once in the span (the report plots the baseline with them); ``alert`` marks the alerts.
- ``phone_features`` / ``account_features``: behavioural features per entity
  (:mod:`jobs.anomalies.entity_features`) over the whole silver window.
- ``entity_anomaly_model``: the detectors of :data:`models.anomalies.scoring.ENTITY_MODELS`, exported to
  ONNX, scored against the planted truth when there is one, registered with alias ``challenger``; the
  blocking check ``entity_anomaly_model_onnx_parity`` (``checks.py``) moves ``champion`` to them
  (:mod:`models.anomalies.champion`).
- ``entity_anomalies``: every phone and account scored by ONNX Runtime from ``models:/<name>@champion``.
- ``anomaly_report``: HTML page and PNGs in ``<CRIMEFUSION_HOME>/reports/anomalies/``
  (:func:`jobs.anomalies.reports.write_anomaly_report`).
"""


import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from jobs.anomalies.families import (FAMILIES, SeriesFamily, atm_spike_quality, family_counts, new_critical,
                                     score_family, severity_counts, spike_alerts_table)
from jobs.anomalies.reports import alerts_markdown, write_anomaly_report
from jobs.anomalies.schemas import SPIKE_ALERTS
from jobs.anomalies.spikes import SpikeParams
from models.anomalies.scoring import ENTITY_MODELS, EntityModel, feature_matrix
from models.registry import CHAMPION
from orchestration.anomalies.partitions import SCORING_DAYS
from orchestration.lakehouse.metadata import column_schema, preview_markdown, table_metadata
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.tracking import MlflowTracking
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.automation import ON_SCHEDULE_TAG, RETRAIN_TAG
from orchestration.platform.retries import MODEL_RETRY, STORAGE_RETRY

OWNERS = ["team:intelligence-analysis"]
GROUP = "anomalies"
EXPERIMENT = "anomalies"


# ---------------------------------------------------------------------------------------------- spikes
class SpikeConfig(dg.Config):
    hourly_days: int = Field(default=28, ge=2, description="Look-back span of the hourly series, in days.")
    daily_days: int = Field(default=28, ge=7, description="Look-back span of the daily series, in days.")
    tz: str = Field(default="America/Chicago",
                    description="Time zone of local days and of the weekday/hour-of-day baseline effects.")
    fdr_alpha: float = Field(default=0.05, gt=0, lt=1, description="False discovery rate across a family's windows.")
    osint_h3_resolution: int = Field(default=8, ge=0, le=12,
                                     description="H3 cell of posts with coordinates but no place name.")


def _window(lakehouse: Lakehouse, family: SeriesFamily, as_of_end: pd.Timestamp, days: int) -> pa.Table | None:
    """The rows of the family's table that :func:`jobs.anomalies.families.clip_span` keeps, read through a pushed-down
    time window: one pass over the time column finds the last row before ``as_of_end``, a second reads only the
    window's rows and columns, so memory follows the window, not the stored history."""
    layer, name, time_col = family.layer, family.table, family.time_col
    times = lakehouse.read(layer, name, columns=[time_col], filters=[(time_col, "<", as_of_end.to_pydatetime())])
    last = pc.max(times[time_col]).as_py()
    if last is None:
        return None
    start = pd.Timestamp(last) - pd.Timedelta(days=days + 1)  # a day's margin; clip_span cuts the exact span
    window = [(time_col, ">=", start.to_pydatetime()), (time_col, "<", as_of_end.to_pydatetime())]
    return lakehouse.read(layer, name, columns=list(family.columns), filters=window)


def family_series(lakehouse: Lakehouse, family: SeriesFamily, as_of_end: pd.Timestamp, config: SpikeConfig):
    """The count series of one family up to ``as_of_end``: ``(series, tz, start, end)``, or None without data."""
    days = config.hourly_days if family.freq == "hour" else config.daily_days
    if not lakehouse.exists(family.layer, family.table):
        return None
    rows = (_window(lakehouse, family, as_of_end, days) if family.time_col else
            lakehouse.read(family.layer, family.table, columns=list(family.columns)))
    if rows is None:
        return None
    sites = (lakehouse.read("silver", "cell_sites", columns=["cell_id", "site_id"])
             if family.feed == "cell_calls" and lakehouse.exists("silver", "cell_sites") else None)
    return family_counts(family, rows, as_of_end, days, tz=config.tz, h3_resolution=config.osint_h3_resolution,
                         cell_sites=sites)


def new_critical_alerts(lakehouse: Lakehouse, day: dt.date) -> tuple[pd.DataFrame, dt.date | None]:
    """:func:`jobs.anomalies.families.new_critical` of gold ``spike_alerts`` up to scoring day ``day``."""
    if not lakehouse.exists("gold", "spike_alerts"):
        return pd.DataFrame(), None
    t = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "<=", day)])
    t = t.filter(pc.and_(t["alert"], pc.equal(t["severity"], "critical")))
    return new_critical(t.to_pandas(), day)


@dg.asset(
    key="spike_alerts",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    kinds={"delta", "python"},
    owners=OWNERS,
    partitions_def=SCORING_DAYS,
    deps=["transactions", "cdr_events", "cell_sites", "osint_posts", "district_daily_counts", "synthetic_truth"],
    description=(
        "Gold: spikes in count series scored up to the end of the partition's day (as_of_date): ATM "
        "withdrawals per terminal per hour, voice calls per cell site per hour, crimes per district per day, "
        "OSINT posts per place per day. Robust seasonal quasi-Poisson baseline, negative-binomial tail test, "
        "Benjamini-Hochberg FDR (jobs/anomalies/spikes.py); severity critical/warning/info. Holds every window "
        "of each series that alerted in the span (`alert` marks the alerts). A partition rewrites its own rows."
    ),
    metadata={"dagster/column_schema": column_schema(SPIKE_ALERTS)},
    check_specs=[dg.AssetCheckSpec(
        "spike_alerts_no_new_critical", asset="spike_alerts",
        description=("Warns (WARN severity, never blocking) when the scoring day raised critical spikes that the "
                     "previous scoring day had not, listing each; critical_spike_sensor notifies the same alerts."),
    )],
)
@skip_unchanged(checks=lambda context, kw: no_new_critical(context, kw))
def spike_alerts(context: dg.AssetExecutionContext, config: SpikeConfig, lakehouse: Lakehouse,
                 mlflow: MlflowTracking) -> dg.MaterializeResult:
    day = dt.date.fromisoformat(context.partition_key)
    as_of_end = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    parts, spans, atm_span = [], {}, None
    params = SpikeParams(fdr_alpha=config.fdr_alpha)
    for family in FAMILIES:
        got = family_series(lakehouse, family, as_of_end, config)
        if got is None or not got[0].num_rows:
            context.log.info(f"{family.feed}: no data up to {day}; skipped")
            continue
        series, tz, start, end = got
        scored = score_family(series, family, tz, params)
        n_alerts = int(pc.sum(scored["alert"]).as_py() or 0)
        n_series = pc.count_distinct(series["series_key"]).as_py()
        spans[family.feed] = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, {n_series:,} series, {n_alerts} alerts"
        context.log.info(f"{family.what}: {n_series:,} series, {series.num_rows:,} periods, {n_alerts} alerts")
        if family.feed == "atm_withdrawals":
            atm_span = (start, end)
        parts.append(scored)
    table = spike_alerts_table(day, parts)
    result = lakehouse.replace_where("gold", "spike_alerts", table, f"as_of_date = {sql_literal(day.isoformat())}",
                                     partition_by=["as_of_date"])
    alerts = table.filter(table["alert"])
    df = alerts.to_pandas()
    counts = severity_counts(df)
    meta = {
        **table_metadata(result, alerts.sort_by([("q_value", "ascending")])),
        "alerts": dg.MetadataValue.int(alerts.num_rows),
        **{severity: dg.MetadataValue.int(n) for severity, n in counts["all"].items()},  # critical, warning, info
        "by_severity": dg.MetadataValue.json(counts),
        "top_alerts": dg.MetadataValue.md(alerts_markdown(df)),
        "spans": dg.MetadataValue.json(spans),
        "spike_params": dg.MetadataValue.json(params.to_dict()),  # the settings that produced these rows
    }
    quality = (atm_spike_quality(table, lakehouse.read("truth", "atm_spikes"), *atm_span)
               if atm_span and lakehouse.exists("truth", "atm_spikes") else None)  # ATM alerts vs planted spikes
    if quality is not None:
        meta.update({"atm_precision": dg.MetadataValue.float(quality["precision"]),
                     "atm_recall": dg.MetadataValue.float(quality["recall"]),
                     "atm_truth_windows": dg.MetadataValue.int(int(quality["n_truth"]))})
        context.log.info(f"ATM spikes vs truth/atm_spikes: precision {quality['precision']:.3f}, "
                         f"recall {quality['recall']:.3f} ({int(quality['n_truth'])} planted windows)")
        exp_id = mlflow.experiment(EXPERIMENT)
        ml = mlflow.setup()
        with ml.start_run(experiment_id=exp_id, run_name=f"spike_alerts {day}"):
            ml.log_params({"as_of_date": day.isoformat(), "hourly_days": config.hourly_days,
                           "daily_days": config.daily_days, "fdr_alpha": config.fdr_alpha, "tz": config.tz})
            ml.log_metrics({f"atm_spike_{k}": float(v) for k, v in quality.items()})
    context.log.info(f"{alerts.num_rows} alerts as of {day}: {counts['all']}")
    return dg.MaterializeResult(metadata=meta, check_results=no_new_critical(context, {"lakehouse": lakehouse}))


def no_new_critical(context, resources: dict) -> list[dg.AssetCheckResult]:
    """The ``spike_alerts_no_new_critical`` check of the partition's scoring day (also when the scoring skips)."""
    new, previous = new_critical_alerts(resources["lakehouse"], dt.date.fromisoformat(context.partition_key))
    return [dg.AssetCheckResult(
        check_name="spike_alerts_no_new_critical",
        passed=new.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"new_critical": dg.MetadataValue.int(len(new)),
                  "compared_with": dg.MetadataValue.text(str(previous) if previous else "(first scoring day)"),
                  "alerts": dg.MetadataValue.md(alerts_markdown(new, limit=25) if len(new) else "None.")},
    )]


# ---------------------------------------------------------------------------------------------- entities
class FeatureConfig(dg.Config):
    tz: str = Field(default="America/Chicago", description="Local time zone of night hours and active days.")


@dg.asset(
    key="phone_features",
    retry_policy=STORAGE_RETRY,
    tags=RETRAIN_TAG,
    group_name=GROUP,
    kinds={"delta", "pandas"},
    owners=OWNERS,
    deps=["cdr_events", "cell_sites"],
    description=(
        "Gold: behavioural features per (pseudonymised) phone from every silver CDR: events, contacts, share "
        "of new contacts, night share, distinct cell sites (sectors mapped to their site by silver "
        "cell_sites), handsets and IMEI changes, SIMs per handset, lifetime and "
        "activity (jobs/anomalies/entity_features.py). The burner-phone profile."
    ),
)
@skip_unchanged()
def phone_features(context: dg.AssetExecutionContext, config: FeatureConfig, lakehouse: Lakehouse) -> dg.MaterializeResult:
    from jobs.anomalies.entity_features import phone_features as features

    cdr = lakehouse.read("silver", "cdr_events",
                         columns=["caller", "callee", "start_time", "direction", "cell_id", "imei", "imsi"])
    sites = (lakehouse.read("silver", "cell_sites", columns=["cell_id", "site_id"])
             if lakehouse.exists("silver", "cell_sites") else None)
    if sites is None:
        context.log.warning("silver cell_sites missing: n_sites counts every cell as its own site")
    table = features(cdr, cell_sites=sites, tz=config.tz)
    result = lakehouse.overwrite("gold", "phone_features", table)
    context.log.info(f"{table.num_rows:,} phones from {cdr.num_rows:,} CDR rows")
    return dg.MaterializeResult(metadata=table_metadata(result, table))


@dg.asset(
    key="account_features",
    retry_policy=STORAGE_RETRY,
    tags=RETRAIN_TAG,
    group_name=GROUP,
    kinds={"delta", "pandas"},
    owners=OWNERS,
    deps=["transactions"],
    description=(
        "Gold: behavioural features per (pseudonymised) account from every silver transaction: fan-in, "
        "fan-out, velocity, round amounts, ATM share, inflow, outflow and pass-through within two days "
        "(jobs/anomalies/entity_features.py). The money-mule profile."
    ),
)
@skip_unchanged()
def account_features(context: dg.AssetExecutionContext, lakehouse: Lakehouse) -> dg.MaterializeResult:
    from jobs.anomalies.entity_features import account_features as features

    tx = lakehouse.read("silver", "transactions",
                        columns=["account", "counterparty", "amount", "occurred_at", "channel", "direction"])
    table = features(tx)
    result = lakehouse.overwrite("gold", "account_features", table)
    context.log.info(f"{table.num_rows:,} accounts from {tx.num_rows:,} transactions")
    return dg.MaterializeResult(metadata=table_metadata(result, table))


class ModelConfig(dg.Config):
    seed: int = Field(default=0, description="Seed of the Isolation Forest.")
    n_estimators: int = Field(default=100, ge=10, description="Isolation Forest trees.")
    contamination: float = Field(default=0.01, gt=0, lt=0.5, description="Share of entities flagged.")


def truth_positives(lakehouse: Lakehouse, spec: EntityModel) -> set[str] | None:
    """Planted positives of an entity type: burner phones (``truth/burners``), mule accounts (``truth/accounts``)."""
    if spec.entity_type == "phone" and lakehouse.exists("truth", "burners"):
        return set(lakehouse.read("truth", "burners", columns=["msisdn"])["msisdn"].drop_null().to_pylist())
    if spec.entity_type == "account" and lakehouse.exists("truth", "accounts"):
        acc = lakehouse.read("truth", "accounts", columns=["account", "role"])
        return set(acc.filter(pc.equal(acc["role"], "mule"))["account"].drop_null().to_pylist())
    return None


@dg.asset(
    key="entity_anomaly_model",
    retry_policy=MODEL_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
    group_name=GROUP,
    kinds={"scikitlearn", "onnx", "mlflow"},
    owners=OWNERS,
    deps=["phone_features", "account_features", "synthetic_truth"],
    description=(
        "Isolation Forest on phone_features and ECOD on account_features (models/anomalies/detectors.py), "
        "exported to ONNX as one tree-ensemble op each, scored against the planted truth when there is one "
        "(burners, mule accounts: ROC AUC, average precision, precision@k), logged to MLflow with the native "
        "detector and registered as `anomaly_phones` / `anomaly_accounts` (alias `challenger`). The blocking "
        "check `entity_anomaly_model_onnx_parity` moves `champion` to them."
    ),
)
@skip_unchanged(models=lambda kw: [(spec.model_name, None) for spec in ENTITY_MODELS])
def entity_anomaly_model(context: dg.AssetExecutionContext, config: ModelConfig, lakehouse: Lakehouse,
                         mlflow: MlflowTracking) -> dg.MaterializeResult:
    from models.anomalies.champion import register_challenger
    from models.anomalies.scoring import fit_entity_model

    mlflow.experiment(EXPERIMENT)  # created with the artifact root, and MLflow set up
    meta, summary = {}, {}
    for spec in ENTITY_MODELS:
        if not lakehouse.exists("gold", spec.table):
            context.log.warning(f"gold/{spec.table} does not exist: no {spec.entity_type} model")
            continue
        table = lakehouse.read("gold", spec.table)
        X = feature_matrix(table, spec.features)
        if len(X) < 10:
            context.log.warning(f"gold/{spec.table} has {len(X)} rows: too few to fit a {spec.entity_type} model")
            continue
        fitted = fit_entity_model(spec, X, table[spec.entity_col].to_numpy(zero_copy_only=False),
                                  truth_positives(lakehouse, spec), n_estimators=config.n_estimators,
                                  contamination=config.contamination, seed=config.seed)
        parity, quality = fitted.parity, fitted.quality
        registered = register_challenger(
            mlflow.tracking_uri, spec, fitted, experiment=EXPERIMENT,
            params={"contamination": config.contamination, "seed": config.seed, "n_estimators": config.n_estimators,
                    "n_rows": len(X), "feature_table_version": lakehouse.version("gold", spec.table)},
        )
        uri = registered.uri
        context.log.info(f"{spec.entity_type}: {spec.detector} on {len(X):,} rows -> {uri}; {fitted.describe()}")
        summary[spec.entity_type] = {"model_uri": uri, "run_id": registered.run_id, "parity": parity,
                                     **({"truth": quality} if quality else {})}
        meta[f"{spec.entity_type}_model_uri"] = dg.MetadataValue.text(uri)
        for key in ("roc_auc", "average_precision", "p@10", "p@50", "r_precision"):
            if key in quality and np.isfinite(quality[key]):
                meta[f"{spec.entity_type}_{key.replace('@', '_at_')}"] = dg.MetadataValue.float(quality[key])
    if not summary:
        raise ValueError("no feature table to fit: materialise phone_features or account_features first")
    meta["models"] = dg.MetadataValue.json(summary)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    key="entity_anomalies",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    kinds={"delta", "onnx"},
    owners=OWNERS,
    deps=["entity_anomaly_model", "phone_features", "account_features"],
    description=(
        "Gold: every phone and account scored by ONNX Runtime from `models:/anomaly_phones@champion` and "
        "`models:/anomaly_accounts@champion`: score (higher is more unusual), rank within its type, flagged "
        "(above the training threshold) and the three features that drove the score."
    ),
)
@skip_unchanged(models=lambda kw: [(spec.model_name, CHAMPION) for spec in ENTITY_MODELS])
def entity_anomalies(context: dg.AssetExecutionContext, lakehouse: Lakehouse, mlflow: MlflowTracking) -> dg.MaterializeResult:
    from models.anomalies.champion import load_scorer
    from models.anomalies.scoring import score_entities

    now = pd.Timestamp.now(tz="UTC")
    written, meta = {}, {}
    result = None
    for spec in ENTITY_MODELS:
        if not lakehouse.exists("gold", spec.table):
            continue
        mlflow.setup()
        loaded = load_scorer(mlflow.tracking_uri, spec.model_name)
        if loaded is None:
            context.log.warning(f"no {spec.model_name}@{CHAMPION} in MLflow: {spec.entity_type}s not scored")
            continue
        scorer, uri = loaded
        table = score_entities(scorer, lakehouse.read("gold", spec.table), spec, model_uri=uri, scored_at=now)
        n = table.num_rows
        result = lakehouse.replace_where("gold", "entity_anomalies", table, f"entity_type = {sql_literal(spec.entity_type)}")
        written[spec.entity_type] = n
        flagged = int(pc.sum(table["flagged"]).as_py() or 0)
        context.log.info(f"{n:,} {spec.entity_type}s scored by {uri}; {flagged} flagged")
        meta[f"{spec.entity_type}_model_uri"] = dg.MetadataValue.text(uri)
        meta[f"{spec.entity_type}_flagged"] = dg.MetadataValue.int(flagged)
        meta[f"top_{spec.entity_type}s"] = dg.MetadataValue.md(preview_markdown(
            table.select(["entity", "score", "rank", "flagged"]).append_column(
                "top_features", pa.array([", ".join(d["feature"] for d in v) for v in table["top_features"].to_pylist()])),
            rows=10))
    if result is None:
        raise ValueError("no champion model and feature table to score: materialise entity_anomaly_model and "
                         "let its check entity_anomaly_model_onnx_parity pass")
    return dg.MaterializeResult(metadata={**table_metadata(result), **meta, "scored": dg.MetadataValue.json(written)})


# ---------------------------------------------------------------------------------------------- report
@dg.asset(
    key="anomaly_report",
    retry_policy=STORAGE_RETRY,
    group_name=GROUP,
    kinds={"html", "matplotlib"},
    owners=OWNERS,
    deps=["spike_alerts", "entity_anomalies"],
    description=(
        "The anomaly report: an HTML page with the top alerts of the latest scoring day, each alerted series "
        "plotted with its baseline band (PNG), and the most unusual phones and accounts with the features "
        "behind their scores, in <CRIMEFUSION_HOME>/reports/anomalies/."
    ),
)
@skip_unchanged()
def anomaly_report(context: dg.AssetExecutionContext, lakehouse: Lakehouse, reports: Reports) -> dg.MaterializeResult:
    written = write_anomaly_report(lakehouse, reports.folder("anomalies"))
    context.log.info(f"anomaly report: {written['html']} ({len(written['pngs'])} plots, {written['alerts']} alerts)")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(written["html"])),
        "as_of_date": dg.MetadataValue.text(str(written["as_of"])),
        "plots": dg.MetadataValue.int(len(written["pngs"])),
        "alerts": dg.MetadataValue.int(written["alerts"]),
        "entities": dg.MetadataValue.json(written["entities"]),
    })
