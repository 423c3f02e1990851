"""How a patrol plan splits each cell's weekly forecast over its 21 shifts, measured on Chicago 2016-2017.

For every week of 2016 and 2017 (Monday 06:00 Chicago time; shifts 06-14, 14-22, 22-06), the
weekly forecast is each cell's incidents of the year before (trailing counts: the split, not the
forecast, is compared here; patrol_plan multiplies whichever forecast serves). Each shift's cells are
ranked by forecast x the shift's share of the cell's week, under:

- an even split (every shift a 21st of the week: the weekly ranking for every shift);
- the fixed profile patrol_plan used before (each cell's own shares of the 21 shifts of the week,
  20 incidents of city-wide prior; jobs.grid.patrol.shift_profile's default);
- the validated choice patrol_plan makes now (jobs.grid.patrol.choose_shift_profile: the shifts
  of the week or of the day, prior 10 to 1000, or none, whichever placed the patrols best on
  the 13 weeks before each plan).

It prints PAI per shift (mean ± standard error over shifts) at the patrols' coverage (10 cells,
patrol_plan's default capacity) and at 1 % and 5 % of the area, and how often each profile was chosen.

    .venv/bin/python benchmarks/patrol.py            # 104 weeks, about 3 minutes on 2 cores
    .venv/bin/python benchmarks/patrol.py --weeks 8  # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chicago_data import load_districts, load_incidents  # noqa: E402

from jobs.grid.cell_features import resolve_cells, resolve_events  # noqa: E402
from jobs.grid.cells import study_area_cells  # noqa: E402
from jobs.grid.patrol import SHIFTS_PER_WEEK, choose_shift_profile, shift_index, shift_profile  # noqa: E402
from jobs.localtime import wall_time  # noqa: E402

TZ = "America/Chicago"
CAPACITY = 10


def _pai(score: np.ndarray, y: np.ndarray, coverage: float) -> float:
    k = max(1, int(round(coverage * len(score))))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].sum() / y.sum() / (k / len(score)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=104, help="weeks from Monday 4 January 2016 (default 104)")
    args = ap.parse_args(argv)
    inc = load_incidents()
    cells = study_area_cells(load_districts(), resolution=9)
    grid = resolve_cells(cells)
    ev = resolve_events(inc, grid)
    n = len(grid)
    shifts = shift_index(ev.t_ns, timezone=TZ)
    cap = CAPACITY / n
    coverages = {f"{CAPACITY} cells": cap, "1 %": 0.01, "5 %": 0.05}
    splits = ("even split", "fixed profile (21 shifts, prior 20)", "validated choice")
    pai: dict[str, dict[str, list]] = {s: {c: [] for c in coverages} for s in splits}
    chosen: Counter = Counter()
    t0 = time.perf_counter()
    mondays = pd.date_range("2016-01-04", periods=args.weeks, freq="7D")
    for monday in mondays:
        before = monday.tz_localize(TZ)  # what patrol_plan passes: the week's Monday 00:00 local time
        w0, w1 = wall_time(monday, 6, TZ), wall_time(monday + pd.Timedelta(days=7), 6, TZ)
        hist = (ev.t_ns >= (before - pd.Timedelta(days=365)).value) & (ev.t_ns < before.value)
        forecast = np.bincount(ev.cell[hist], minlength=n).astype(float)
        week = (ev.t_ns >= w0.value) & (ev.t_ns < w1.value)
        y = np.zeros((SHIFTS_PER_WEEK, n))
        np.add.at(y, (shifts[week], ev.cell[week]), 1.0)
        choice, _ = choose_shift_profile(inc, cells, before=before, coverage=cap, timezone=TZ)
        chosen["none" if choice is None else f"cycle {choice['cycle']}, prior {choice['prior_strength']:g}"] += 1
        profiles = {
            splits[0]: shift_profile(inc, cells, before=before, timezone=TZ, cycle=None),
            splits[1]: shift_profile(inc, cells, before=before, timezone=TZ),
            splits[2]: shift_profile(inc, cells, before=before, timezone=TZ, **(choice or {"cycle": None})),
        }
        for name, prof in profiles.items():
            for s in range(SHIFTS_PER_WEEK):
                if y[s].sum() == 0:
                    continue
                for label, c in coverages.items():
                    pai[name][label].append(_pai(forecast * prof[:, s], y[s], c))
    wall = time.perf_counter() - t0
    print(f"patrol split: {args.weeks} weeks from Mon {mondays[0].date()}, {n:,} cells (H3 res 9), "
          f"{len(pai[splits[0]]['1 %'])} shifts with incidents; weekly forecast = trailing 365-day counts ({wall:.0f} s)")
    print("PAI per shift, mean ± s.e. over shifts:")
    head = " | ".join(f"{c:>15}" for c in coverages)
    print(f"  {'split':<38} | {head}")
    for name in splits:
        vals = " | ".join(f"{np.mean(v):8.2f} ± {np.std(v, ddof=1) / np.sqrt(len(v)):4.2f}" for v in pai[name].values())
        print(f"  {name:<38} | {vals}")
    print("paired difference from the even split, per shift (mean ± s.e.):")
    for name in splits[1:]:
        vals = " | ".join(
            f"{np.mean(d):+8.2f} ± {np.std(d, ddof=1) / np.sqrt(len(d)):4.2f}"
            for d in (np.subtract(pai[name][c], pai[splits[0]][c]) for c in coverages))
        print(f"  {name:<38} | {vals}")
    print("profiles chosen (weeks): " + ", ".join(f"{k} x{v}" for k, v in chosen.most_common()))


if __name__ == "__main__":
    main()
