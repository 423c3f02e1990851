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

from jobs.anomalies.families import FAMILIES, atm_spike_quality, score_family, severity_counts, spike_alerts_table
from jobs.anomalies.reports import alerts_markdown, write_anomaly_report
from jobs.anomalies.schemas import ENTITY_ANOMALIES, SPIKE_ALERTS
from jobs.anomalies.spikes import SpikeParams
from models.anomalies.scoring import ENTITY_MODELS, feature_matrix
from models.registry import CHAMPION, what_ran
from orchestration.anomalies.inputs import (FeatureConfig, ModelConfig, ReportConfig, SpikeConfig, family_series,
                                            feeds_timezone, new_critical_alerts, records_end, spike_settings,
                                            truth_positives)
from orchestration.anomalies.partitions import SCORING_DAYS
from orchestration.lakehouse.metadata import lake_table, preview_markdown, table_metadata
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import MlflowTracking
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.platform.automation import ON_SCHEDULE_TAG, RETRAIN_TAG
from orchestration.platform.retries import MODEL_RETRY, STORAGE_RETRY

OWNERS = ["team:intelligence-analysis"]
#: The layer of the tables they write; detectors go to ``models``, the report to ``reports`` (the domain
#: shows as the tag ``crimefusion/domain: anomalies``).
GROUP = "gold"
EXPERIMENT = "anomalies"


# ---------------------------------------------------------------------------------------------- spikes
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
    metadata=lake_table("gold", "spike_alerts", SPIKE_ALERTS),
    check_specs=[dg.AssetCheckSpec(
        "spike_alerts_no_new_critical", asset="spike_alerts",
        description=("Warns (WARN severity, never blocking) when the scoring day raised critical spikes that the "
                     "previous scoring day had not, listing each; critical_spike_sensor notifies the same alerts."),
    )],
)
@skip_unchanged(checks=lambda context, kw: no_new_critical(context, kw))
def spike_alerts(context: dg.AssetExecutionContext, config: SpikeConfig, lakehouse: Lakehouse,
                 mlflow: MlflowTracking, sources: SourceCatalog) -> dg.MaterializeResult:
    day = dt.date.fromisoformat(context.partition_key)
    local_tz = config.tz or feeds_timezone(sources)
    as_of_end = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    parts, spans, atm_span = [], {}, None
    params = SpikeParams(fdr_alpha=config.fdr_alpha)
    for family in FAMILIES:
        got = family_series(lakehouse, family, as_of_end, config, local_tz)
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
        name = what_ran("spike_alerts", "negbin-fdr", f"hourly-{config.hourly_days}d", f"daily-{config.daily_days}d",
                        data_end=day)  # scored on the data up to the end of the partition's day
        with ml.start_run(experiment_id=exp_id, run_name=name):
            ml.log_params({"as_of_date": day.isoformat(), "hourly_days": config.hourly_days,
                           "daily_days": config.daily_days, "fdr_alpha": config.fdr_alpha, "tz": local_tz})
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
@dg.asset(
    key="phone_features",
    retry_policy=STORAGE_RETRY,
    tags=RETRAIN_TAG,
    group_name=GROUP,
    metadata=lake_table("gold", "phone_features"),
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
def phone_features(context: dg.AssetExecutionContext, config: FeatureConfig, lakehouse: Lakehouse,
                   sources: SourceCatalog) -> dg.MaterializeResult:
    from jobs.anomalies.entity_features import phone_features as features

    cdr = lakehouse.read("silver", "cdr_events",
                         columns=["caller", "callee", "start_time", "direction", "cell_id", "imei", "imsi"])
    sites = (lakehouse.read("silver", "cell_sites", columns=["cell_id", "site_id"])
             if lakehouse.exists("silver", "cell_sites") else None)
    if sites is None:
        context.log.warning("silver cell_sites missing: n_sites counts every cell as its own site")
    table = features(cdr, cell_sites=sites, tz=config.tz or feeds_timezone(sources))
    result = lakehouse.overwrite("gold", "phone_features", table)
    context.log.info(f"{table.num_rows:,} phones from {cdr.num_rows:,} CDR rows")
    return dg.MaterializeResult(metadata=table_metadata(result, table))


@dg.asset(
    key="account_features",
    retry_policy=STORAGE_RETRY,
    tags=RETRAIN_TAG,
    group_name=GROUP,
    metadata=lake_table("gold", "account_features"),
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


@dg.asset(
    key="entity_anomaly_model",
    retry_policy=MODEL_RETRY,
    tags={**RETRAIN_TAG, **ON_SCHEDULE_TAG},
    group_name="models",  # MLflow registered models, no lakehouse table
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
                         mlflow: MlflowTracking, reports: Reports) -> dg.MaterializeResult:
    from models.anomalies.champion import register_challenger
    from models.cards import anomaly_card, publish_card
    from models.anomalies.scoring import fit_entity_model

    mlflow.experiment(EXPERIMENT)  # created with the artifact root, and MLflow set up
    meta, summary = {}, {}
    for spec in ENTITY_MODELS:
        if not lakehouse.exists("gold", spec.table):
            context.log.warning(f"gold/{spec.table} does not exist: no {spec.entity_type} model")
            continue
        table_version = lakehouse.version("gold", spec.table)
        table = lakehouse.read("gold", spec.table, version=table_version)
        X = feature_matrix(table, spec.features)
        if len(X) < 10:
            context.log.warning(f"gold/{spec.table} has {len(X)} rows: too few to fit a {spec.entity_type} model")
            continue
        fitted = fit_entity_model(spec, X, table[spec.entity_col].to_numpy(zero_copy_only=False),
                                  truth_positives(lakehouse, spec), n_estimators=config.n_estimators,
                                  contamination=config.contamination, seed=config.seed)
        parity, quality = fitted.parity, fitted.quality
        params = {"contamination": config.contamination, "seed": config.seed, "n_estimators": config.n_estimators,
                  "n_rows": len(X), "feature_table_version": table_version}
        data_end = records_end(lakehouse, spec)
        registered = register_challenger(mlflow.tracking_uri, spec, fitted, experiment=EXPERIMENT, data_end=data_end,
                                         params=params)
        card = publish_card(anomaly_card(spec=spec, version=registered.version, quality=quality, parity=parity,
                                         params=params, data_end=data_end),
                            mlflow.tracking_uri, registered.run_id, reports.folder("anomalies"))
        meta[f"{spec.entity_type}_model_card"] = dg.MetadataValue.path(str(card["card_html"]))
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
    metadata=lake_table("gold", "entity_anomalies", ENTITY_ANOMALIES),
    kinds={"delta", "onnx"},
    owners=OWNERS,
    deps=["entity_anomaly_model", "phone_features", "account_features"],
    description=(
        "Gold: every phone and account scored by ONNX Runtime from `models:/anomaly_phones@champion` and "
        "`models:/anomaly_accounts@champion`: score (higher is more unusual, on the model's own scale), score_pct "
        "(its percentile among the entities of that type scored in the run, comparable across models), rank "
        "within its type, flagged (above the training threshold) and the three features that drove the score."
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
        features_version = lakehouse.version("gold", spec.table)
        table = score_entities(scorer, lakehouse.read("gold", spec.table, version=features_version), spec,
                               model_uri=uri, scored_at=now, features_version=features_version)
        n = table.num_rows
        # evolve_schema: a table written before score_pct existed gains the column (older rows stay null)
        result = lakehouse.replace_where("gold", "entity_anomalies", table, f"entity_type = {sql_literal(spec.entity_type)}",
                                         evolve_schema=True)
        written[spec.entity_type] = n
        flagged = int(pc.sum(table["flagged"]).as_py() or 0)
        context.log.info(f"{n:,} {spec.entity_type}s scored by {uri}; {flagged} flagged")
        meta[f"{spec.entity_type}_model_uri"] = dg.MetadataValue.text(uri)
        meta[f"{spec.entity_type}_flagged"] = dg.MetadataValue.int(flagged)
        meta[f"top_{spec.entity_type}s"] = dg.MetadataValue.md(preview_markdown(
            table.select(["entity", "score", "score_pct", "rank", "flagged"]).append_column(
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
    group_name="reports",  # an HTML page and its plots, no lakehouse table
    kinds={"html", "matplotlib"},
    owners=OWNERS,
    deps=["spike_alerts", "entity_anomalies"],
    description=(
        "The anomaly report: an HTML page dated by the end of its data (not the run day), with a summary per "
        "feed, the top alerts of the latest scoring day, a glossary of every column, each alerted series "
        "plotted with its baseline band (PNG), and the most unusual phones and accounts as percentiles of "
        "their model's scores with the features behind them, times in the configured time zone, in "
        "<CRIMEFUSION_HOME>/reports/anomalies/."
    ),
)
@skip_unchanged()
def anomaly_report(context: dg.AssetExecutionContext, config: ReportConfig, lakehouse: Lakehouse,
                   reports: Reports, sources: SourceCatalog) -> dg.MaterializeResult:
    written = write_anomaly_report(lakehouse, reports.folder("anomalies"),
                                   timezone=config.timezone or feeds_timezone(sources),
                                   spike_params=spike_settings(context.instance))
    context.log.info(f"anomaly report: {written['html']} (data as of {written['data_end_local']}, "
                     f"{len(written['pngs'])} plots, {written['alerts']} alerts)")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(written["html"])),
        "as_of_date": dg.MetadataValue.text(str(written["as_of"])),
        "data_as_of": dg.MetadataValue.text(written["data_end_local"] or "no scored windows"),
        "plots": dg.MetadataValue.int(len(written["pngs"])),
        "alerts": dg.MetadataValue.int(written["alerts"]),
        "entities": dg.MetadataValue.json(written["entities"]),
    })
