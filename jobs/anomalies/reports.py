"""Write the anomaly report from the lakehouse, and the alert tables shown in Dagster metadata.

The ``anomaly_report`` asset and ``crimefusion anomalies report`` write the
same files through :func:`write_anomaly_report`. Unlike the kernels of this
package it reads and writes: it takes the lakehouse (any object with
``exists`` and ``read``, such as ``orchestration.resources.lakehouse.Lakehouse``)
and a folder. The page and figures themselves come from
:func:`models.anomalies.report.anomaly_report`.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from jobs.anomalies.schemas import SPIKES

__all__ = ["REPORT_FILE", "alerts_markdown", "latest_as_of", "write_anomaly_report"]

#: Files the anomaly report owns in its folder (removed before each run: no stale plot is left).
REPORT_FILE = re.compile(r"^(index\.html|series_\d+\.png)$")


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


def latest_as_of(lakehouse) -> dt.date | None:
    """The latest scoring day of gold ``spike_alerts`` (None without the table or rows)."""
    if not lakehouse.exists("gold", "spike_alerts"):
        return None
    days = lakehouse.read("gold", "spike_alerts", columns=["as_of_date"])["as_of_date"]
    return pc.max(days).as_py() if len(days) else None


def write_anomaly_report(lakehouse, out: Path, *, as_of: dt.date | None = None) -> dict:
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
