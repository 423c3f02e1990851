"""Anomaly assets: spikes in count series, unusual phones and accounts, served from the MLflow champion.

Gold tables (Delta):

- ``spike_alerts``, partitioned by scoring day (``as_of_date``): four count-series
  families scored up to the end of that UTC day over a short look-back span
  (ATM withdrawals per terminal per hour, voice calls per cell site per hour,
  crimes per district per day, OSINT posts per place per day), with
  :func:`jobs.anomalies.spikes.detect_spikes`. Each partition rewrites its own
  rows (``replace_where as_of_date = <day>``), so re-running a day is idempotent.
  The table holds every window of each series that alerted at least once in the
  span (the context the report plots the baseline with); ``alert`` marks the alerts.
- ``phone_features`` / ``account_features``: behavioural features per entity
  (:mod:`jobs.anomalies.entity_features`) over the whole silver window.
- ``entity_anomaly_model``: Isolation Forest on phones and ECOD on accounts (the
  pairing ``benchmarks/anomaly.py`` measures best on the planted burners and
  mules; figures in ``docs/anomalies.md``),
  exported to ONNX, scored against the planted truth when there is one, logged
  and registered in MLflow with alias ``challenger``; the blocking check
  ``entity_anomaly_model_onnx_parity`` (``checks.py``) compares the registered
  ONNX graph with the native detector and moves ``champion`` to it.
- ``entity_anomalies``: every phone and account scored by ONNX Runtime from
  ``models:/<name>@champion``, with rank and the features behind each score.
- ``anomaly_report``: HTML page and PNGs in ``<CRIMEFUSION_HOME>/reports/anomalies/``.

Why the spike span is a look-back and not the partition's day alone: a baseline
needs history, and the bundled synthetic feeds lie years before today's
ingest date. A partition therefore scores the ``hourly_days`` (daily series:
``daily_days``) before the last event at or before the end of its day.
"""


import datetime as dt
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from jobs.anomalies.entity_features import ACCOUNT_FEATURES, PHONE_FEATURES
from jobs.anomalies.spikes import SPIKES
from jobs.schemas import UTC_TS
from models.registry import CHALLENGER, CHAMPION
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
SEVERITIES = ("critical", "warning", "info")
#: Artifact of each registered model's run holding the pickled native detector (for the parity check).
NATIVE_ARTIFACT = "native/detector.pkl"
#: Files ``anomaly_report`` owns in the reports folder (removed before each run: no stale plot is left).
REPORT_FILE = re.compile(r"^(index\.html|series_\d+\.png)$")

#: Schema of gold ``spike_alerts``: the scoring day and series family, then :data:`jobs.anomalies.spikes.SPIKES`.
SPIKE_ALERTS = pa.schema(
    [pa.field("as_of_date", pa.date32(), nullable=False), pa.field("feed", pa.string(), nullable=False),
     pa.field("freq", pa.string(), nullable=False), *SPIKES],
    metadata={b"description": b"Gold: windows of count series that alerted in the scoring span, with baselines."},
)

#: Schema of gold ``entity_anomalies``.
ENTITY_ANOMALIES = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("entity_type", pa.string(), nullable=False),  # phone | account
        pa.field("score", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("flagged", pa.bool_(), nullable=False),
        pa.field("top_features",
                 pa.list_(pa.struct([pa.field("feature", pa.string()), pa.field("contribution", pa.float64())]))),
        pa.field("model_uri", pa.string(), nullable=False),
        pa.field("scored_at", UTC_TS, nullable=False),
    ],
    metadata={b"description": b"Gold: phones and accounts ranked by anomaly score, with the features behind it."},
)


# ---------------------------------------------------------------------------------------------- spikes
@dataclass(frozen=True)
class SeriesFamily:
    """One family of count series scored by ``spike_alerts``."""

    feed: str
    what: str
    freq: str  # hour | day


FAMILIES = (
    SeriesFamily("atm_withdrawals", "ATM withdrawals per terminal per hour", "hour"),
    SeriesFamily("cell_calls", "voice calls per cell site per hour", "hour"),
    SeriesFamily("district_crimes", "crimes per district per day", "day"),
    SeriesFamily("osint_posts", "OSINT posts per place per day", "day"),
)


class SpikeConfig(dg.Config):
    hourly_days: int = Field(default=28, ge=2, description="Look-back span of the hourly series, in days.")
    daily_days: int = Field(default=28, ge=7, description="Look-back span of the daily series, in days.")
    tz: str = Field(default="America/Chicago",
                    description="Time zone of local days and of the weekday/hour-of-day baseline effects.")
    fdr_alpha: float = Field(default=0.05, gt=0, lt=1, description="False discovery rate across a family's windows.")
    osint_h3_resolution: int = Field(default=8, ge=0, le=12,
                                     description="H3 cell of posts with coordinates but no place name.")


def _ts(value: dt.datetime | pd.Timestamp) -> pa.Scalar:
    return pa.scalar(pd.Timestamp(value).tz_convert("UTC").to_pydatetime(), UTC_TS)


def _clip(table: pa.Table, time_col: str, as_of_end: pd.Timestamp, days: int, freq: str, tz: str):
    """Rows at or before ``as_of_end`` in the ``days`` before the last of them; ``(rows, start, end)`` or None."""
    table = table.filter(pc.and_(pc.is_valid(table[time_col]), pc.less(table[time_col], _ts(as_of_end))))
    if not table.num_rows:
        return None
    end = pd.Timestamp(pc.max(table[time_col]).as_py())
    start = end - pd.Timedelta(days=days)
    # start on a period boundary, so that the first period is a whole one
    start = start.floor("h") if freq == "hour" else start.tz_convert(tz).normalize().tz_convert("UTC")
    return table.filter(pc.greater_equal(table[time_col], _ts(start))), start, end


def _window(lakehouse: Lakehouse, name: str, time_col: str, columns: list[str], as_of_end: pd.Timestamp,
            days: int) -> pa.Table | None:
    """The rows of silver ``name`` that :func:`_clip` keeps, read through a pushed-down time window: one pass over
    the time column finds the last row before ``as_of_end``, a second reads only the window's rows and columns, so
    memory follows the window, not the stored history."""
    times = lakehouse.read("silver", name, columns=[time_col], filters=[(time_col, "<", as_of_end.to_pydatetime())])
    last = pc.max(times[time_col]).as_py()
    if last is None:
        return None
    start = pd.Timestamp(last) - pd.Timedelta(days=days + 1)  # a day's margin; _clip cuts the exact span
    window = [(time_col, ">=", start.to_pydatetime()), (time_col, "<", as_of_end.to_pydatetime())]
    return lakehouse.read("silver", name, columns=columns, filters=window)


def family_series(lakehouse: Lakehouse, family: SeriesFamily, as_of_end: pd.Timestamp, config: SpikeConfig):
    """The count series of one family up to ``as_of_end``: ``(series, tz, start, end)``, or None without data."""
    from jobs.anomalies.series import count_series

    days = config.hourly_days if family.freq == "hour" else config.daily_days
    if family.feed == "atm_withdrawals":
        if not lakehouse.exists("silver", "transactions"):
            return None
        tx = _window(lakehouse, "transactions", "occurred_at", ["terminal_id", "occurred_at", "channel", "direction"],
                     as_of_end, days)
        if tx is None:
            return None
        debit = pc.fill_null(pc.not_equal(tx["direction"], "credit"), True)
        tx = tx.filter(pc.and_(pc.equal(tx["channel"], "atm"), debit))
        clipped = _clip(tx, "occurred_at", as_of_end, days, "hour", config.tz)
        if clipped is None:
            return None
        rows, start, end = clipped
        return count_series(rows, keys=["terminal_id"], time_col="occurred_at", freq="hour", tz=config.tz,
                            start=start, end=end), config.tz, start, end
    if family.feed == "cell_calls":
        if not lakehouse.exists("silver", "cdr_events"):
            return None
        cdr = _window(lakehouse, "cdr_events", "start_time", ["cell_id", "start_time", "kind"], as_of_end, days)
        if cdr is None:
            return None
        cdr = cdr.filter(pc.equal(cdr["kind"], "voice"))
        clipped = _clip(cdr, "start_time", as_of_end, days, "hour", config.tz)
        if clipped is None:
            return None
        rows, start, end = clipped
        site = rows["cell_id"]
        if lakehouse.exists("silver", "cell_sites"):
            cells = lakehouse.read("silver", "cell_sites", columns=["cell_id", "site_id"])
            idx = pc.index_in(rows["cell_id"], value_set=cells["cell_id"])
            # a cell unknown to cell_sites (or without a site) is its own series
            site = pc.coalesce(pc.take(cells["site_id"], idx), rows["cell_id"])
        rows = pa.table({"site_id": site, "start_time": rows["start_time"]})
        return count_series(rows, keys=["site_id"], time_col="start_time", freq="hour", tz=config.tz,
                            start=start, end=end), config.tz, start, end
    if family.feed == "district_crimes":
        if not lakehouse.exists("gold", "district_daily_counts"):
            return None
        d = lakehouse.read("gold", "district_daily_counts", columns=["source", "district", "day", "incidents"]).to_pandas()
        d = d.dropna(subset=["district", "day"])
        d["t"] = pd.to_datetime(d["day"]).dt.tz_localize("UTC")
        d = d[d["t"] < as_of_end]
        if d.empty:
            return None
        end = d["t"].max()
        start = end - pd.Timedelta(days=days - 1)
        d = d[d["t"] >= start]
        g = d.groupby(["source", "district", "t"], as_index=False)["incidents"].sum()
        series = pa.table({"series_key": (g["source"].astype(str) + "|" + g["district"].astype(str)).to_numpy(object),
                           "period_start": pa.array(g["t"], UTC_TS),
                           "count": pa.array(g["incidents"].to_numpy(np.int64))})
        return series, "UTC", start, end + pd.Timedelta(days=1)  # days are UTC days (district_daily_counts)
    if family.feed == "osint_posts":
        if not lakehouse.exists("silver", "osint_posts"):
            return None
        posts = _window(lakehouse, "osint_posts", "posted_at", ["place_name", "h3", "posted_at"], as_of_end, days)
        if posts is None:
            return None
        clipped = _clip(posts, "posted_at", as_of_end, days, "day", config.tz)
        if clipped is None:
            return None
        rows, start, end = clipped
        rows = rows.append_column("place", _places(rows, config.osint_h3_resolution))
        return count_series(rows, keys=["place"], time_col="posted_at", freq="day", tz=config.tz,
                            start=start, end=end), config.tz, start, end
    raise ValueError(f"unknown series family {family.feed!r}")


def _places(posts: pa.Table, resolution: int) -> pa.Array:
    """A post's place: its place name, else ``h3:<cell>`` at ``resolution`` from its H3 index, else null."""
    import h3

    cells = pc.unique(posts["h3"].drop_null()).to_pylist()
    parents = {c: f"h3:{h3.cell_to_parent(c, min(resolution, h3.get_resolution(c)))}" for c in cells}
    by_cell = pa.array([parents.get(c) for c in posts["h3"].to_pylist()], pa.string())
    return pc.coalesce(posts["place_name"], by_cell)


def score_family(series: pa.Table, family: SeriesFamily, tz: str, config: SpikeConfig) -> pa.Table:
    """Every window of the series that alerted at least once, as :data:`SPIKE_ALERTS` rows (without ``as_of_date``)."""
    from jobs.anomalies.spikes import detect_spikes

    spikes = detect_spikes(series, freq=family.freq, tz=tz, fdr_alpha=config.fdr_alpha)
    alerted = pc.unique(spikes.filter(spikes["alert"])["series_key"])
    spikes = spikes.filter(pc.is_in(spikes["series_key"], value_set=alerted))
    n = spikes.num_rows
    return pa.table({"feed": pa.array([family.feed] * n, pa.string()),
                     "freq": pa.array([family.freq] * n, pa.string()),
                     **{f.name: spikes[f.name] for f in SPIKES}})


def severity_counts(alerts: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{feed: {critical: n, warning: n, info: n}}`` over alert rows, plus ``all``."""
    out = {}
    for feed, rows in [*alerts.groupby("feed"), ("all", alerts)]:
        out[str(feed)] = {s: int((rows["severity"] == s).sum()) for s in SEVERITIES}
    return out


def alerts_markdown(alerts: pd.DataFrame, limit: int = 15) -> str:
    """The most significant alerts (lowest q, then largest count) as a Markdown table."""
    if alerts.empty:
        return "No alerts."
    top = alerts.sort_values(["q_value", "observed"], ascending=[True, False]).head(limit)
    lines = ["| severity | feed | series | window (UTC) | observed | expected | q |", "|---|---|---|---|---|---|---|"]
    for r in top.itertuples():
        lines.append(f"| {r.severity} | {r.feed} | {str(r.series_key)[:40]} | "
                     f"{pd.Timestamp(r.window_start):%Y-%m-%d %H:%M} | {r.observed} | {r.expected:.1f} | {r.q_value:.1e} |")
    return "\n".join(lines)


def spike_truth_quality(lakehouse: Lakehouse, table: pa.Table, start: pd.Timestamp, end: pd.Timestamp) -> dict | None:
    """Precision/recall of the ATM alerts against ``truth/atm_spikes`` windows inside the scored span."""
    from jobs.anomalies.scoring import atm_truth_windows, spike_alert_quality

    if not lakehouse.exists("truth", "atm_spikes"):
        return None
    truth = atm_truth_windows(lakehouse.read("truth", "atm_spikes"))
    truth = truth.filter(pc.and_(pc.less(truth["window_start"], _ts(end)), pc.greater(truth["window_end"], _ts(start))))
    atm = table.filter(pc.and_(pc.equal(table["feed"], "atm_withdrawals"), table["alert"]))
    return spike_alert_quality(atm, truth)


def new_critical_alerts(lakehouse: Lakehouse, day: dt.date) -> tuple[pd.DataFrame, dt.date | None]:
    """Critical alerts of scoring day ``day`` absent from the previous scoring day's (same feed, series, window).

    Returns the new alerts and the previous scoring day (None when ``day`` is the first).
    """
    if not lakehouse.exists("gold", "spike_alerts"):
        return pd.DataFrame(), None
    t = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "<=", day)])
    t = t.filter(pc.and_(t["alert"], pc.equal(t["severity"], "critical")))
    df = t.to_pandas()
    now = df[df["as_of_date"] == day]
    earlier = df[df["as_of_date"] < day]
    previous = earlier["as_of_date"].max() if len(earlier) else None
    if previous is None:
        return now, None
    seen = earlier[earlier["as_of_date"] == previous][["feed", "series_key", "window_start"]]
    merged = now.merge(seen.assign(_seen=True), on=["feed", "series_key", "window_start"], how="left")
    return merged[merged["_seen"].isna()].drop(columns="_seen"), previous


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
    for family in FAMILIES:
        got = family_series(lakehouse, family, as_of_end, config)
        if got is None or not got[0].num_rows:
            context.log.info(f"{family.feed}: no data up to {day}; skipped")
            continue
        series, tz, start, end = got
        scored = score_family(series, family, tz, config)
        n_alerts = int(pc.sum(scored["alert"]).as_py() or 0)
        n_series = pc.count_distinct(series["series_key"]).as_py()
        spans[family.feed] = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, {n_series:,} series, {n_alerts} alerts"
        context.log.info(f"{family.what}: {n_series:,} series, {series.num_rows:,} periods, {n_alerts} alerts")
        if family.feed == "atm_withdrawals":
            atm_span = (start, end)
        parts.append(scored)
    body = pa.concat_tables(parts) if parts else SPIKE_ALERTS.remove(0).empty_table()
    table = pa.table({"as_of_date": pa.array([day] * body.num_rows, pa.date32()),
                      **{n: body[n] for n in body.column_names}}, schema=SPIKE_ALERTS)
    result = lakehouse.replace_where("gold", "spike_alerts", table, f"as_of_date = {sql_literal(day.isoformat())}",
                                     partition_by=["as_of_date"])
    alerts = table.filter(table["alert"])
    df = alerts.to_pandas()
    counts = severity_counts(df)
    meta = {
        **table_metadata(result, alerts.sort_by([("q_value", "ascending")])),
        "alerts": dg.MetadataValue.int(alerts.num_rows),
        "critical": dg.MetadataValue.int(counts["all"]["critical"]),
        "warning": dg.MetadataValue.int(counts["all"]["warning"]),
        "info": dg.MetadataValue.int(counts["all"]["info"]),
        "by_severity": dg.MetadataValue.json(counts),
        "top_alerts": dg.MetadataValue.md(alerts_markdown(df)),
        "spans": dg.MetadataValue.json(spans),
    }
    quality = spike_truth_quality(lakehouse, table, *atm_span) if atm_span else None
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
@dataclass(frozen=True)
class EntityModel:
    """One entity type: its feature table, detector and registered model."""

    entity_type: str
    table: str
    entity_col: str
    features: tuple[str, ...]
    detector: str  # isolation_forest | ecod
    model_name: str


ENTITY_MODELS = (
    EntityModel("phone", "phone_features", "phone", tuple(PHONE_FEATURES), "isolation_forest", "anomaly_phones"),
    EntityModel("account", "account_features", "account", tuple(ACCOUNT_FEATURES), "ecod", "anomaly_accounts"),
)


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


def feature_matrix(table: pa.Table, features: tuple[str, ...] | list[str]) -> np.ndarray:
    """Rows x features (float64), NaN as 0 (a ratio without denominator)."""
    missing = [c for c in features if c not in table.column_names]
    if missing:
        raise ValueError(f"feature table lacks columns {missing}; rematerialise its features asset")
    if not table.num_rows:
        return np.zeros((0, len(features)))
    X = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in features])
    return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)


def make_detector(spec: EntityModel, config: ModelConfig):
    from models.anomalies.detectors import ECODDetector, IsolationForestDetector

    if spec.detector == "isolation_forest":
        return IsolationForestDetector(n_estimators=config.n_estimators, contamination=config.contamination,
                                       seed=config.seed)
    return ECODDetector(contamination=config.contamination)


def onnx_parity(detector, onnx_model, X: np.ndarray, features, *, k: int = 50, max_tie_share: float = 0.001) -> dict:
    """Native vs ONNX Runtime scores and contributions on ``X``.

    A row agrees when its score is within ``1e-5 + 1e-5 |s|`` and every
    contribution within ``1e-4 + 1e-4 |c|``. Parity passes when every row
    agrees, or when at most ``max_tie_share`` of the rows (at least one) do not
    while the flagged set (score above the detector's threshold) and the
    top-``k`` list are the same. Why the allowance: the Isolation Forest export
    folds ``log1p`` into the split thresholds (``x <= expm1(t)``), while the
    native forest compares ``float32(log1p(x))`` with ``t``; a value whose
    float32 logarithm rounds across a threshold takes the other branch of one
    tree (measured on earlier demo features: 1 row in 2,559, one tree, score off
    by 1.4e-3; none on the 2026-12-02 demo run). Such ties never change which entities are flagged or ranked on top,
    which is what the check then verifies.
    """
    from models.anomalies.serving import OnnxScorer

    s_onnx, c_onnx = OnnxScorer(onnx_model, list(features), intra_op_threads=1).score(X)
    s_nat, c_nat = detector.score_samples(X), detector.contributions(X)
    ds, dc = np.abs(s_onnx - s_nat), np.abs(c_onnx - c_nat)
    row_ok = (ds <= 1e-5 + 1e-5 * np.abs(s_nat)) & (dc <= 1e-4 + 1e-4 * np.abs(c_nat)).all(axis=1)
    kk = min(k, len(X))
    top = len(set(np.argsort(-s_onnx, kind="stable")[:kk]) & set(np.argsort(-s_nat, kind="stable")[:kk]))
    same_flags = bool(((s_onnx > detector.threshold_) == (s_nat > detector.threshold_)).all())
    mismatched = int((~row_ok).sum())
    allowed = max(1, int(max_tie_share * len(X)))
    ok = mismatched == 0 or (mismatched <= allowed and same_flags and top == kk)
    return {"passed": bool(ok), "rows": int(len(X)), "rows_mismatched": mismatched, "same_flagged": same_flags,
            "max_abs_diff_score": float(ds.max(initial=0.0)),
            "max_abs_diff_contributions": float(dc.max(initial=0.0)), "top_k": kk,
            "top_k_overlap": top / kk if kk else 1.0}


def truth_positives(lakehouse: Lakehouse, spec: EntityModel) -> set[str] | None:
    """Planted positives of an entity type: burner phones (``truth/burners``), mule accounts (``truth/accounts``)."""
    if spec.entity_type == "phone" and lakehouse.exists("truth", "burners"):
        return set(lakehouse.read("truth", "burners", columns=["msisdn"])["msisdn"].drop_null().to_pylist())
    if spec.entity_type == "account" and lakehouse.exists("truth", "accounts"):
        acc = lakehouse.read("truth", "accounts", columns=["account", "role"])
        return set(acc.filter(pc.equal(acc["role"], "mule"))["account"].drop_null().to_pylist())
    return None


def _finite(d: dict) -> dict[str, float]:
    """Finite figures under names MLflow accepts (``p@10`` becomes ``p_at_10``)."""
    return {k.replace("@", "_at_"): float(v) for k, v in d.items()
            if isinstance(v, (int, float, np.floating)) and np.isfinite(v)}


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
    from jobs.anomalies.scoring import entity_score_quality
    from models.anomalies.onnx_export import export
    from models.registry import log_onnx_model

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
        det = make_detector(spec, config).fit(X, feature_names=list(spec.features))
        model = export(det)
        parity = onnx_parity(det, model, X, spec.features)
        scores = det.score_samples(X)
        ids = table[spec.entity_col].to_numpy(zero_copy_only=False)
        positives = truth_positives(lakehouse, spec)
        quality = entity_score_quality(ids, scores, positives) if positives else {}
        registered = log_onnx_model(
            mlflow.tracking_uri, name=spec.model_name, onnx_model=model, experiment=EXPERIMENT, alias=CHALLENGER,
            files={NATIVE_ARTIFACT: pickle.dumps(det)},
            params={"entity_type": spec.entity_type, "detector": spec.detector,
                    "feature_names": json.dumps(list(spec.features)), "threshold": repr(float(det.threshold_)),
                    "contamination": config.contamination, "seed": config.seed, "n_estimators": config.n_estimators,
                    "n_rows": len(X), "feature_table_version": lakehouse.version("gold", spec.table)},
            metrics={**_finite(quality), "onnx_max_abs_diff_score": parity["max_abs_diff_score"],
                     "onnx_max_abs_diff_contributions": parity["max_abs_diff_contributions"],
                     "onnx_rows_mismatched": parity["rows_mismatched"]},
        )
        uri, run_id = registered.uri, registered.run_id
        line = (f"{spec.entity_type}: {spec.detector} on {len(X):,} rows -> {uri}; ONNX max |diff| "
                f"{parity['max_abs_diff_score']:.1e}")
        if quality:
            line += (f"; vs truth ({int(quality['n_pos'])} planted): ROC AUC {quality['roc_auc']:.3f}, "
                     f"AP {quality['average_precision']:.3f}, p@10 {quality['p@10']:.2f}")
        context.log.info(line)
        summary[spec.entity_type] = {"model_uri": uri, "run_id": run_id, "parity": parity,
                                     **({"truth": quality} if quality else {})}
        meta[f"{spec.entity_type}_model_uri"] = dg.MetadataValue.text(uri)
        for key in ("roc_auc", "average_precision", "p@10", "p@50", "r_precision"):
            if key in quality and np.isfinite(quality[key]):
                meta[f"{spec.entity_type}_{key.replace('@', '_at_')}"] = dg.MetadataValue.float(quality[key])
    if not summary:
        raise ValueError("no feature table to fit: materialise phone_features or account_features first")
    meta["models"] = dg.MetadataValue.json(summary)
    return dg.MaterializeResult(metadata=meta)


def load_scorer(mlflow: MlflowTracking, spec: EntityModel, alias: str = CHAMPION):
    """``(OnnxScorer, model_uri)`` of ``models:/<name>@<alias>`` with the feature order and threshold of its run."""
    from models.anomalies.serving import OnnxScorer
    from models.registry import aliased, load_onnx, run_params

    mlflow.setup()
    version = aliased(mlflow.tracking_uri, spec.model_name, alias)
    if version is None:
        return None
    params = run_params(mlflow.tracking_uri, version)
    model, _ = load_onnx(mlflow.tracking_uri, version)
    return OnnxScorer(model, json.loads(params["feature_names"]), threshold=float(params["threshold"])), version.uri


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
    now = pd.Timestamp.now(tz="UTC")
    written, meta = {}, {}
    result = None
    for spec in ENTITY_MODELS:
        if not lakehouse.exists("gold", spec.table):
            continue
        loaded = load_scorer(mlflow, spec)
        if loaded is None:
            context.log.warning(f"no {spec.model_name}@{CHAMPION} in MLflow: {spec.entity_type}s not scored")
            continue
        scorer, uri = loaded
        features = lakehouse.read("gold", spec.table)
        X = feature_matrix(features, scorer.feature_names)
        clean = pa.table({spec.entity_col: features[spec.entity_col],
                          **{c: pa.array(X[:, i]) for i, c in enumerate(scorer.feature_names)}})
        scored = scorer.score_table(clean, entity_col=spec.entity_col, top_k=3)
        n = scored.num_rows
        table = pa.table({"entity": scored["entity"], "entity_type": pa.array([spec.entity_type] * n, pa.string()),
                          "score": scored["score"], "rank": scored["rank"], "flagged": scored["flagged"],
                          "top_features": scored["top_features"], "model_uri": pa.array([uri] * n, pa.string()),
                          "scored_at": pa.array([now.to_pydatetime()] * n, UTC_TS)}, schema=ENTITY_ANOMALIES)
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
def latest_as_of(lakehouse: Lakehouse) -> dt.date | None:
    if not lakehouse.exists("gold", "spike_alerts"):
        return None
    days = lakehouse.read("gold", "spike_alerts", columns=["as_of_date"])["as_of_date"]
    return pc.max(days).as_py() if len(days) else None


def write_anomaly_report(lakehouse: Lakehouse, out: Path, *, as_of: dt.date | None = None) -> dict:
    """Write ``index.html`` and the series PNGs of the anomaly report into ``out`` from the lake.

    Spikes come from ``gold/spike_alerts`` at ``as_of`` (default: the latest
    scoring day), entities from ``gold/entity_anomalies``. Files this report
    wrote before are removed first. Returns the paths and counts written.
    """
    from models.anomalies.report import anomaly_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    as_of = as_of or latest_as_of(lakehouse)
    if as_of is not None:
        spikes = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "=", as_of)])
        label = pc.binary_join_element_wise(spikes["feed"], spikes["series_key"], ": ")
        spikes = spikes.select([f.name for f in SPIKES]).set_column(0, "series_key", label)
    else:
        spikes = SPIKES.empty_table()
    entities = {}
    if lakehouse.exists("gold", "entity_anomalies"):
        ent = lakehouse.read("gold", "entity_anomalies")
        for kind in ("phone", "account"):
            rows = ent.filter(pc.equal(ent["entity_type"], kind))
            if rows.num_rows:
                entities[f"{kind}s"] = rows
    title = f"Anomaly report, as of {as_of}" if as_of else "Anomaly report"
    html, figures = anomaly_report(spikes, entity_scores=entities, title=title)
    for old in out.iterdir():
        if REPORT_FILE.match(old.name):
            old.unlink()
    pngs = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=90)
        pngs.append(out / name)
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    return {"html": page, "pngs": pngs, "as_of": as_of, "alerts": int(pc.sum(spikes["alert"]).as_py() or 0),
            "entities": {k: v.num_rows for k, v in entities.items()}}


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
