"""The exposure audit's picture: concentration of patrols over the weeks, and one week's districts against
their recorded crime."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.accountability.schemas import WEEK_SCOPE
from jobs.localtime import week_label

__all__ = ["plot_exposure"]


def plot_exposure(history: pd.DataFrame, week: str, *, timezone: str = "UTC"):
    """A matplotlib Figure: left, the Gini of patrol exposure over districts per week (and its per-capita
    version when there is one); right, the week's districts, share of patrol cell-shifts against share of
    recorded crime, with the line of proportionate exposure.

    ``history``: ``patrol_exposure`` rows (any scopes; the ``week`` scope is used) of every week written.
    """
    from matplotlib.figure import Figure

    rows = history[history["scope"] == WEEK_SCOPE]
    if not (rows["week"] == week).any():
        raise ValueError(f"no week-scope exposure rows for week {week}")
    per_week = rows.groupby("week")[["gini", "gini_per_capita"]].first().sort_index()
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
    dates = pd.to_datetime(per_week.index)
    left.plot(dates, per_week["gini"], marker="o", label="cell-shifts over districts")
    if per_week["gini_per_capita"].notna().any():
        left.plot(dates, per_week["gini_per_capita"], marker="s", label="per resident (population-weighted)")
    left.set_ylim(0, 1)
    left.set_ylabel("Gini (0 = equal, 1 = all in one district)")
    left.set_title("Concentration of patrols, by week")
    left.legend(loc="upper left", fontsize=8)
    if len(dates) <= 12:  # a tick per week while they fit
        left.set_xticks(dates, labels=[f"{d.day} {d:%b %Y}" for d in dates])
    else:
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()
        left.xaxis.set_major_locator(locator)
        left.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    left.tick_params(axis="x", labelrotation=30, labelsize=8)
    this = rows[rows["week"] == week]
    x, y = this["crime_share"].to_numpy(float), this["patrol_share"].to_numpy(float)
    top = float(np.nanmax(np.r_[x, y, 0.01])) * 1.1
    right.plot([0, top], [0, top], color="#888", lw=1, ls="--", label="in proportion to recorded crime")
    right.scatter(x, y, s=24, color="#c0392b", zorder=3)
    labels = this["name"].fillna(this["area_id"]).astype(str).to_numpy()
    for xi, yi, name in zip(x, y, labels):
        if np.isfinite(xi) and np.isfinite(yi) and (yi > 0 or xi > 0):
            right.annotate(name, (xi, yi), fontsize=7, xytext=(3, 2), textcoords="offset points")
    right.set_xlim(0, top)
    right.set_ylim(0, top)
    right.set_xlabel("share of recorded crime (window before the week)")
    right.set_ylabel("share of patrol cell-shifts")
    right.set_title("Districts: patrols against recorded crime")
    fig.suptitle(f"Patrol exposure, {week_label(week, timezone)}")
    right.legend(loc="upper left", fontsize=8)
    return fig
