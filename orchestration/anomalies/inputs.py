"""The anomaly domain's configuration and inputs: configs, the series and records its assets read, time zone.

Library code lives in ``jobs/anomalies`` and ``models/anomalies``; these functions
read the lakehouse and the instance for the assets (``assets.py``), the check and the
CLI. Times are read in the feeds' local time zone (:func:`feeds_timezone`) unless a
config names one.
"""

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from jobs.anomalies.families import SeriesFamily, family_counts, new_critical
from jobs.anomalies.reports import check_timezone, stored_spike_params
from jobs.anomalies.spikes import SpikeParams
from models.anomalies.scoring import EntityModel
from orchestration.lakehouse.metadata import column_range
from orchestration.resources.lakehouse import Lakehouse
from orchestration.resources.sources import SourceCatalog


class SpikeConfig(dg.Config):
    hourly_days: int = Field(default=28, ge=2, description="Look-back span of the hourly series, in days.")
    daily_days: int = Field(default=28, ge=7, description="Look-back span of the daily series, in days.")
    tz: str = Field(default="", description="Time zone of local days and of the weekday/hour-of-day baseline "
                                            "effects; empty: the CDR, transaction and OSINT specs' local zone "
                                            "when they share one, else UTC.")
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


def family_series(lakehouse: Lakehouse, family: SeriesFamily, as_of_end: pd.Timestamp, config: SpikeConfig,
                  tz: str):
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
    return family_counts(family, rows, as_of_end, days, tz=tz, h3_resolution=config.osint_h3_resolution,
                         cell_sites=sites)


def new_critical_alerts(lakehouse: Lakehouse, day: dt.date) -> tuple[pd.DataFrame, dt.date | None]:
    """:func:`jobs.anomalies.families.new_critical` of gold ``spike_alerts`` up to scoring day ``day``."""
    if not lakehouse.exists("gold", "spike_alerts"):
        return pd.DataFrame(), None
    t = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "<=", day)])
    t = t.filter(pc.and_(t["alert"], pc.equal(t["severity"], "critical")))
    return new_critical(t.to_pandas(), day)


class FeatureConfig(dg.Config):
    tz: str = Field(default="", description="Local time zone of night hours and active days; empty: the CDR, "
                                            "transaction and OSINT specs' local zone when they share one, else "
                                            "UTC.")


class ModelConfig(dg.Config):
    seed: int = Field(default=0, description="Seed of the Isolation Forest.")
    n_estimators: int = Field(default=100, ge=10, description="Isolation Forest trees.")
    contamination: float = Field(default=0.01, gt=0, lt=0.5, description="Share of entities flagged.")


#: The silver records each entity type's features are built from, and their time column.
RECORDS = {"phone": ("cdr_events", "start_time"), "account": ("transactions", "occurred_at")}


def records_end(lakehouse: Lakehouse, spec: EntityModel):
    """The latest time of the silver records behind ``spec``'s features (a model run's data end), or None."""
    table, column = RECORDS.get(spec.entity_type, (None, None))
    if table is None or not lakehouse.exists("silver", table):
        return None
    return column_range(lakehouse, "silver", table, column)[1]


def truth_positives(lakehouse: Lakehouse, spec: EntityModel) -> set[str] | None:
    """Planted positives of an entity type: burner phones (``truth/burners``), mule accounts (``truth/accounts``)."""
    if spec.entity_type == "phone" and lakehouse.exists("truth", "burners"):
        return set(lakehouse.read("truth", "burners", columns=["msisdn"])["msisdn"].drop_null().to_pylist())
    if spec.entity_type == "account" and lakehouse.exists("truth", "accounts"):
        acc = lakehouse.read("truth", "accounts", columns=["account", "role"])
        return set(acc.filter(pc.equal(acc["role"], "mule"))["account"].drop_null().to_pylist())
    return None


class ReportConfig(dg.Config):
    timezone: str = Field(default="", description="IANA time zone every time in the report is shown in "
                                                  "(e.g. America/Chicago), named beside each time. Empty: the "
                                                  "local time zone (specs' `timezone`) of the CDR, transaction "
                                                  "and OSINT feeds when they share one, else UTC.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value) if value else value


#: Canonical tables of the feeds whose entities and hourly series the report shows (district crimes are
#: daily counts of every city, so they do not choose the zone).
REPORT_FEEDS = ("cdr_events", "cell_sites", "transactions", "osint_posts")


def feeds_timezone(sources: SourceCatalog) -> str:
    """The local time zone (:attr:`SourceSpec.local_timezone`) the report's feeds share, or UTC when they
    differ or there are none."""
    zones = {spec.local_timezone for spec in sources.specs() if spec.table in REPORT_FEEDS}
    return zones.pop() if len(zones) == 1 else "UTC"


def spike_settings(instance: dg.DagsterInstance) -> SpikeParams | None:
    """The ``spike_params`` the latest ``spike_alerts`` materialisation stored, for the report's glossary."""
    event = instance.get_latest_materialization_event(dg.AssetKey("spike_alerts"))
    stored = event.asset_materialization.metadata.get("spike_params") if event and event.asset_materialization \
        else None
    return stored_spike_params(stored.value if stored is not None else None)
