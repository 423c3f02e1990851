"""Anomaly report: top alerts and entities as HTML, each alerted series plotted with its baseline band.

Returns the HTML text and matplotlib figures; the caller writes the files
(``figures[name].savefig(dir / name)`` next to the HTML, which links them by name).
"""

from __future__ import annotations

import html

import pandas as pd
import pyarrow as pa
from matplotlib.figure import Figure


def plot_series(rows: pd.DataFrame, key: str) -> Figure:
    """One series: observed counts, expected baseline, the lower-upper band and the alerted windows."""
    fig = Figure(figsize=(9, 3), layout="constrained")
    ax = fig.add_subplot()
    r = rows.sort_values("window_start")
    t = r["window_start"]
    ax.fill_between(t, r["lower"], r["upper"], step="post", alpha=0.25, color="tab:blue", label="baseline band")
    ax.step(t, r["expected"], where="post", color="tab:blue", lw=1, label="expected")
    ax.step(t, r["observed"], where="post", color="black", lw=0.8, label="observed")
    a = r[r["alert"]]
    colors = a["severity"].map({"critical": "tab:red", "warning": "tab:orange", "info": "gold"}).fillna("tab:red")
    ax.scatter(a["window_start"], a["observed"], c=list(colors), zorder=3, s=25, label="alert")
    ax.set_title(f"{key}: {len(a)} alert(s)")
    ax.set_ylabel("count")
    ax.legend(loc="upper left", fontsize=7, ncol=4)
    return fig


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, escape=True, float_format=lambda v: f"{v:.3g}", border=0)


def anomaly_report(
    spikes: pa.Table,
    *,
    entity_scores: dict[str, pa.Table] | None = None,
    top_n: int = 20,
    max_plots: int = 12,
    title: str = "Anomaly report",
) -> tuple[str, dict[str, Figure]]:
    """Build the report.

    Parameters
    ----------
    spikes : pyarrow.Table
        Full output of :func:`jobs.anomalies.spikes.detect_spikes` (all windows, so
        that baselines can be drawn).
    entity_scores : dict of str to pyarrow.Table, optional
        ``{"phones": table, "accounts": table}`` as written by
        :meth:`models.anomalies.serving.OnnxScorer.score_table`.
    top_n : int
        Alerts and entities listed per section.
    max_plots : int
        Series plotted (those of the most significant alerts first).

    Returns
    -------
    (str, dict of str to Figure)
        HTML text, and figures keyed by the file name the HTML links to.
    """
    df = spikes.to_pandas()
    alerts = df[df["alert"]].sort_values(["q_value", "observed"], ascending=[True, False])
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(alerts)} alert(s) in {df['series_key'].nunique()} series x "
             f"{df['window_start'].nunique()} windows; by severity: "
             f"{html.escape(str(alerts['severity'].value_counts().to_dict()))}.</p>",
             "<h2>Top alerts</h2>"]
    cols = ["series_key", "window_start", "window_end", "observed", "expected", "upper", "q_value", "severity"]
    parts.append(_table(alerts[cols].head(top_n)) if len(alerts) else "<p>No alerts.</p>")
    figures: dict[str, Figure] = {}
    keys = list(dict.fromkeys(alerts["series_key"]))[:max_plots]
    if keys:
        parts.append("<h2>Alerted series</h2>")
    for i, key in enumerate(keys):
        name = f"series_{i:02d}.png"
        figures[name] = plot_series(df[df["series_key"] == key], key)
        parts.append(f"<h3>{html.escape(str(key))}</h3><img src='{name}' alt='{html.escape(str(key))}' width='900'>")
    for label, table in (entity_scores or {}).items():
        e = table.to_pandas().sort_values("score", ascending=False).head(top_n)
        e["top_features"] = [
            ", ".join(f"{d['feature']} ({d['contribution']:.2g})" for d in (v if v is not None else [])) for v in e["top_features"]
        ]
        parts.append(f"<h2>Most unusual {html.escape(label)}</h2>")
        parts.append(_table(e[["entity", "score", "rank", "flagged", "top_features"]]))
    parts.append("</body></html>")
    return "\n".join(parts), figures


__all__ = ["anomaly_report", "plot_series"]
