"""Write the anomaly report from the lakehouse, and the alert tables shown in Dagster metadata.

The ``anomaly_report`` asset and ``crimefusion anomalies report`` write the
same files through :func:`write_anomaly_report`. Unlike the kernels of this
package it reads and writes: it takes the lakehouse (any object with
``exists`` and ``read``, such as ``orchestration.resources.lakehouse.Lakehouse``)
and a folder. The page and figures themselves come from
:func:`models.anomalies.report.anomaly_report`.

Times a person reads are printed in a named IANA time zone
(:func:`local_time`, :func:`local_window`): ``2017-12-31 18:00 CST
(America/Chicago)``, never a bare clock time.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.anomalies.schemas import SPIKES
from jobs.anomalies.spikes import SpikeParams

__all__ = ["REPORT_FILE", "alerts_markdown", "check_timezone", "latest_as_of", "local_time", "local_window",
           "stored_spike_params", "write_anomaly_report"]

#: Files the anomaly report owns in its folder (removed before each run: no stale plot is left).
REPORT_FILE = re.compile(r"^(index\.html|series_\d+\.png)$")


def check_timezone(timezone: str) -> str:
    """``timezone`` when it is an IANA zone name (``America/Chicago``, ``UTC``); else a ValueError saying so."""
    if not isinstance(timezone, str) or not timezone:
        raise ValueError(f"timezone must be an IANA time zone name such as 'America/Chicago', got {timezone!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}; give an IANA name such as 'America/Chicago' "
                         f"or 'UTC'") from exc
    return timezone


def _zone_label(t: pd.Timestamp, timezone: str) -> str:
    """``CST (America/Chicago)``; just ``UTC`` where the abbreviation is the zone's name."""
    abbr = t.tzname() or timezone
    return abbr if abbr == timezone else f"{abbr} ({timezone})"


def _local(ts, timezone: str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t).tz_convert(timezone)


def local_time(ts, timezone: str = "UTC", *, zone: bool = True) -> str:
    """``ts`` (naive means UTC) as ``YYYY-MM-DD HH:MM`` in ``timezone``, named: ``2017-12-31 18:00 CST (America/Chicago)``.

    With ``zone=False`` the zone's abbreviation alone (``CST``), for table cells
    under a header that names the zone. A null gives an empty string.
    """
    if ts is None or pd.isna(ts):
        return ""
    t = _local(ts, timezone)
    return f"{t:%Y-%m-%d %H:%M} {_zone_label(t, timezone) if zone else (t.tzname() or timezone)}"


def local_window(start, end, timezone: str = "UTC") -> str:
    """A window ``[start, end)`` in ``timezone`` for a table cell: ``2017-12-31 17:00-18:00 CST`` when it
    ends on the local day it starts (``00:00-24:00`` for a whole local day), else both ends
    (``2017-12-30 18:00 - 2017-12-31 18:00 CST``)."""
    s, e = _local(start, timezone), _local(end, timezone)
    sz, ez = s.tzname() or timezone, e.tzname() or timezone
    if sz == ez and s < e and (e - pd.Timedelta(microseconds=1)).date() == s.date():
        until = "24:00" if e.date() != s.date() else f"{e:%H:%M}"
        return f"{s:%Y-%m-%d %H:%M}-{until} {ez}"
    return f"{s:%Y-%m-%d %H:%M}{'' if sz == ez else ' ' + sz} - {e:%Y-%m-%d %H:%M} {ez}"


def alerts_markdown(alerts: pd.DataFrame, limit: int = 15, *, timezone: str = "UTC") -> str:
    """The most significant alerts (lowest q, then largest count) as a Markdown table, windows in ``timezone``."""
    if alerts.empty:
        return "No alerts."
    check_timezone(timezone)
    top = alerts.sort_values(["q_value", "observed"], ascending=[True, False]).head(limit)
    lines = [f"| severity | feed | series | window ({timezone}) | observed | expected | upper | q_value |",
             "|---|---|---|---|---|---|---|---|"]
    for r in top.itertuples():
        lines.append(f"| {r.severity} | {r.feed} | {str(r.series_key)[:40]} | "
                     f"{local_window(r.window_start, r.window_end, timezone)} | {r.observed} | {r.expected:.1f} | "
                     f"{r.upper:.0f} | {r.q_value:.1e} |")
    return "\n".join(lines)


def latest_as_of(lakehouse) -> dt.date | None:
    """The latest scoring day of gold ``spike_alerts`` (None without the table or rows)."""
    if not lakehouse.exists("gold", "spike_alerts"):
        return None
    days = lakehouse.read("gold", "spike_alerts", columns=["as_of_date"])["as_of_date"]
    return pc.max(days).as_py() if len(days) else None


def stored_spike_params(settings: dict | None) -> SpikeParams | None:
    """:class:`SpikeParams` from the ``spike_params`` a ``spike_alerts`` run stored (``to_dict``), ignoring
    settings this version does not know; None without settings."""
    if not settings:
        return None
    known = {f.name for f in fields(SpikeParams)}
    return SpikeParams(**{k: v for k, v in settings.items() if k in known})


def _entity_tables(lakehouse) -> dict[str, pa.Table]:
    """Gold ``entity_anomalies`` by entity type (``{"phones": ..., "accounts": ...}``), with ``score_pct``
    filled where rows written before the column existed lack it."""
    from models.anomalies.serving import score_percentiles

    if not lakehouse.exists("gold", "entity_anomalies"):
        return {}
    ent = lakehouse.read("gold", "entity_anomalies")
    out = {}
    for kind in pc.unique(ent["entity_type"]).to_pylist():
        rows = ent.filter(pc.equal(ent["entity_type"], kind))
        if not rows.num_rows:
            continue
        if "score_pct" not in rows.column_names or rows["score_pct"].null_count:
            # each run replaces every row of its type, so the rows are one model's one run
            pct = pa.array(score_percentiles(rows["score"].to_numpy(zero_copy_only=False)))
            rows = (rows.set_column(rows.column_names.index("score_pct"), "score_pct", pct)
                    if "score_pct" in rows.column_names else rows.append_column("score_pct", pct))
        out[f"{kind}s"] = rows
    order = ["phones", "accounts"]  # the order of ENTITY_MODELS, then any other type
    return dict(sorted(out.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


def write_anomaly_report(lakehouse, out: Path, *, as_of: dt.date | None = None, timezone: str = "UTC",
                         spike_params: SpikeParams | None = None,
                         generated_at: pd.Timestamp | None = None) -> dict:
    """Write ``index.html`` and the series PNGs of the anomaly report into ``out`` from the lake.

    Parameters
    ----------
    lakehouse
        Reads ``gold/spike_alerts`` at scoring day ``as_of`` (default: the
        latest) and ``gold/entity_anomalies``.
    out : Path
        Folder; files this report wrote before are removed first.
    as_of : datetime.date, optional
        Scoring day (the ``spike_alerts`` partition). The report's "data as
        of" is not this day but the end of the latest window scored on it.
    timezone : str
        IANA zone every time on the page and in the plots is shown in.
    spike_params : SpikeParams, optional
        Settings that produced the alerts, quoted in the glossary (default: the
        defaults of :class:`SpikeParams`, said so on the page).
    generated_at : pandas.Timestamp, optional
        When the report was generated (default: now).

    Returns
    -------
    dict
        ``html``, ``pngs``, ``as_of`` (the scoring day), ``data_end`` (UTC
        timestamp or None), ``data_end_local`` (text in ``timezone``),
        ``alerts`` and ``entities`` (rows per entity type).
    """
    from models.anomalies.report import anomaly_report

    check_timezone(timezone)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    as_of = as_of or latest_as_of(lakehouse)
    columns = ["feed", "freq", *(f.name for f in SPIKES)]
    if as_of is not None:
        spikes = lakehouse.read("gold", "spike_alerts", filters=[("as_of_date", "=", as_of)], columns=columns)
    else:
        spikes = pa.schema([pa.field("feed", pa.string()), pa.field("freq", pa.string()), *SPIKES]).empty_table()
    entities = _entity_tables(lakehouse)
    generated_at = pd.Timestamp.now(tz="UTC") if generated_at is None else generated_at
    html, figures = anomaly_report(spikes, entity_scores=entities, timezone=timezone, scoring_day=as_of,
                                   generated_at=generated_at, spike_params=spike_params)
    for old in out.iterdir():
        if REPORT_FILE.match(old.name):
            old.unlink()
    pngs = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=100)
        pngs.append(out / name)
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    end = pc.max(spikes["window_end"]).as_py() if spikes.num_rows else None
    data_end = pd.Timestamp(end) if end is not None else None
    return {"html": page, "pngs": pngs, "as_of": as_of, "data_end": data_end,
            "data_end_local": local_time(data_end, timezone) if data_end is not None else None,
            "alerts": int(pc.sum(spikes["alert"]).as_py() or 0),
            "entities": {k: v.num_rows for k, v in entities.items()}}
