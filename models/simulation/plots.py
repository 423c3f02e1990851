"""Figures of the simulator: the feedback loop over weeks, and crime prevented by strategy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.simulation.feedback import SimulationResult
from models.simulation.whatif import runaway_by_week

#: Colours per policy, fixed so that figures compare.
COLOURS = {"naive": "tab:red", "corrected": "tab:blue", "uniform": "tab:gray", "random": "tab:olive",
           "forecast": "tab:orange", "kde": "tab:purple"}


def plot_runaway(results: Sequence[SimulationResult], band: float = 0.9) -> Figure:
    """Runaway index per week for each policy: the mean over seeds and the central ``band`` of seeds.

    The index is the total-variation distance between the patrol allocation across districts
    and the expected true crime across districts (0: patrols spread as crime is).
    """
    weekly = runaway_by_week(results)
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for policy, rows in weekly.groupby("policy", sort=False):
        by_week = rows.groupby("week")["runaway"]
        weeks = np.asarray(sorted(rows["week"].unique()))
        colour = COLOURS.get(policy)
        ax.plot(weeks, by_week.mean().to_numpy(), color=colour, lw=1.6,
                label=f"{policy} (mean of {rows['seed'].nunique()} seeds)")
        lo = by_week.quantile((1 - band) / 2).to_numpy()
        hi = by_week.quantile((1 + band) / 2).to_numpy()
        ax.fill_between(weeks, lo, hi, color=colour, alpha=0.18, lw=0)
    ax.set_xlabel("simulated week")
    ax.set_ylabel("runaway index (total-variation distance)")
    ax.set_ylim(0, min(1.0, 1.2 * float(weekly["runaway"].max()) + 0.02))
    ax.grid(alpha=0.3, lw=0.5)
    ax.set_title(f"Patrols against true crime across districts; shaded: central {band:.0%} of seeds",
                 loc="left", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=2)
    return fig


def plot_prevented(summary: pd.DataFrame, weeks: int, level: float = 0.95) -> Figure:
    """Expected crime prevented per strategy: mean across seeds with the central ``level`` interval of
    :func:`models.simulation.whatif.summarise` (which must have used the same ``level``)."""
    fig = Figure(figsize=(7, 0.6 * len(summary) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(summary))
    mean = summary["prevented"].to_numpy()
    # clipped: with seeds that barely differ, rounding can put the mean a hair outside its interval
    err = np.clip(np.vstack([mean - summary["prevented_lo"].to_numpy(), summary["prevented_hi"].to_numpy() - mean]),
                  0.0, None)
    colours = [COLOURS.get(p, "black") for p in summary["policy"]]
    ax.barh(y, mean, color=colours, alpha=0.7)
    ax.errorbar(mean, y, xerr=err, fmt="none", ecolor="black", capsize=4, lw=1)
    ax.set_yticks(y, summary["policy"].tolist())
    ax.invert_yaxis()
    ax.set_xlabel(f"expected crimes prevented over {weeks} weeks (whiskers: central {level:.0%} of seeds)")
    ax.grid(axis="x", alpha=0.3, lw=0.5)
    return fig
