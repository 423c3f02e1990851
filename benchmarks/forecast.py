"""Hotspot forecast benchmark on the bundled Chicago aggravated assaults.

Trains on incidents to 2015-12-31 and scores every week of 2016-2017 (weeks start
Friday 2016-01-01 00:00 Chicago time; every period on the local clock), for each baseline and the learned model: hit rate, PAI, PEI
and PEI* at 0.5/1/2/5 % of the area, with standard errors over weeks; fit and
score times; ONNX Runtime vs native LightGBM scoring of one city-wide period.

    .venv/bin/python benchmarks/forecast.py            # full (several minutes on 2 cores)
    .venv/bin/python benchmarks/forecast.py --quick    # 8 weeks, smaller model

Then a robustness table (every method, PAI at 1 %) across H3 resolutions 8, 9 and 10
(weekly) and horizons of a day and an 8-hour shift (06-14, 14-22, 22-06 Chicago
time, resolution 9), and the wall time of the outside-evaluation command
``crimefusion forecast`` over the 105 weeks for every method (``--cli off`` skips it).

    .venv/bin/python benchmarks/forecast.py --grid-sensitivity          # only the grid-sensitivity table
    .venv/bin/python benchmarks/forecast.py --seeds 3                   # only the learned model's seed spread

ranks every method by PAI at 1 % and 5 % on H3 resolutions 8, 9 and 10 and on square cells of about the
res-9 area at two origins half a cell apart, on the same weeks of 2016 (the learned model and prospective
hotspotting on the H3 grids only: their features and distances are H3's), and prints whether the grid
changes the ranking (models/evaluation/grid_sensitivity.py; the model card carries the cheap version).

Targets (measured, not asserted): learned PAI at 1 % >= 1.10 x the best
baseline's; ONNX scoring of a city's cells for one period < 50 ms. Published
anchors for context: open_cp retrospective hotspot 21.95 % hit rate at 5 %
coverage (PAI about 4.4), Chicago South Side burglary; PredPol ETAS 4.7 % of
crime in under 1 % of Los Angeles.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chicago_data import load_districts, load_incidents  # noqa: E402

from jobs.grid.cells import study_area_cells  # noqa: E402
from models.evaluation.backtest import rolling_origin_backtest  # noqa: E402
from models.hotspots.baselines import BASELINES  # noqa: E402
from models.hotspots.learned import LearnedForecaster, stacked_model  # noqa: E402

#: The study area's clock (the spec's ``timezone``): periods start at its local boundaries.
TZ = "America/Chicago"


def local(ts: str) -> pd.Timestamp:
    """A wall-clock time of the study area (``2016-01-01 06:00``) as an instant."""
    return pd.Timestamp(ts).tz_localize(TZ)


def _arguments(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 weeks of 2016 and a smaller model")
    ap.add_argument("--resolution", type=int, default=9)
    ap.add_argument("--plot", type=Path, default=None, help="write the PAI plot (PNG) here")
    ap.add_argument("--map", type=Path, default=None, help="write a PNG map of the learned forecast of the first week")
    ap.add_argument("--robustness", choices=("full", "quick", "off"), default=None,
                    help="robustness table across H3 resolutions 8/9/10 (weekly) and day/shift horizons "
                         "(default: quick with --quick, else full)")
    ap.add_argument("--robustness-out", type=Path, default=None, help="write the robustness summary (CSV) here")
    ap.add_argument("--robustness-runs", nargs="+", default=None, metavar="LABEL",
                    choices=[r[0] for r in ROBUSTNESS_RUNS],
                    help="only these robustness runs (e.g. 'res 9, day' 'res 9, shift'), without the weekly backtest "
                         "and the command timings")
    ap.add_argument("--cli", choices=("on", "off"), default=None,
                    help="time `crimefusion forecast` over 2016-2017 for every method (default: on unless --quick)")
    ap.add_argument("--robustness-plot", type=Path, default=None, help="write the robustness plot (PNG) here")
    ap.add_argument("--reliability-plot", type=Path, default=None,
                    help="write the weekly backtest's reliability plot (PNG) here")
    ap.add_argument("--seeds", type=int, default=None, metavar="K",
                    help="only the seed spread: the weekly learned model with LightGBM seeds 0..K-1 and the "
                         "baselines on the same weeks (2016-2017, or 8 weeks with --quick)")
    ap.add_argument("--grid-sensitivity", action="store_true",
                    help="only the grid-sensitivity table: every method on H3 res 8/9/10 and square cells at two "
                         "origins, the weeks of 2016 (8 weeks and a smaller model with --quick)")
    ap.add_argument("--grid-sensitivity-out", type=Path, default=None,
                    help="with --grid-sensitivity: write the table (CSV) here")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = _arguments(argv)
    warnings.filterwarnings("ignore")

    t = time.perf_counter()
    inc = load_incidents()
    if args.grid_sensitivity:
        grid_sensitivity_table(inc, args.quick, args.grid_sensitivity_out)
        return
    if args.seeds is not None:
        seed_spread(inc, args.resolution, args.seeds, args.quick)
        return
    if args.robustness_runs:
        rob = robustness(inc, args.robustness == "quick", runs=args.robustness_runs)
        if args.robustness_out:
            rob.to_csv(args.robustness_out, index=False)
        return
    cells = study_area_cells(load_districts(), resolution=args.resolution)
    print(f"data: {inc.num_rows} incidents, {cells.num_rows} H3 res-{args.resolution} cells "
          f"({cells.column('area_km2').to_numpy().sum():.0f} km2), loaded in {time.perf_counter() - t:.1f} s")
    start = "2016-01-01"
    end = "2016-02-26" if args.quick else "2017-12-29"
    res, m = weekly_backtest(inc, cells, start, end, args.quick)
    s = res.summary
    at1, best_base = print_weekly_summary(res, start, end)
    clairvoyant_bounds(inc, cells, res, start, at1[best_base], best_base, at1)
    onnx_vs_native(m, start)
    mode = args.robustness or ("quick" if args.quick else "full")
    if mode != "off":
        rob = robustness(inc, mode == "quick", reuse={(args.resolution, "W", start, end): (s, cells.num_rows)})
        if args.robustness_out:
            rob.to_csv(args.robustness_out, index=False)
            print(f"robustness summary written to {args.robustness_out}")
        if args.robustness_plot:
            plot_robustness(rob).savefig(args.robustness_plot, dpi=100)
            print(f"robustness plot written to {args.robustness_plot}")
    if (args.cli or ("off" if args.quick else "on")) == "on":
        time_cli()
    if args.plot:
        from models.evaluation.backtest import plot_backtest

        plot_backtest(s, "pai").savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")
    if args.reliability_plot:
        from models.evaluation.backtest import plot_reliability

        plot_reliability(res.reliability).savefig(args.reliability_plot, dpi=100)
        print(f"reliability plot written to {args.reliability_plot}")
    if args.map:
        write_forecast_map(m, cells, start, args.map)


def weekly_backtest(inc, cells, start: str, end: str, quick: bool):
    """Every baseline and the learned model, weekly from ``start`` to ``end``; the backtest and the learned model."""
    learned = {}

    def make_learned(h):
        # Default learned model (a monotone LightGBM stack of the baselines' signals), 156 training weeks.
        learned["m"] = LearnedForecaster(freq=h, train_periods=156, burn_in_periods=26, timezone=TZ,
                                         model=stacked_model(max_estimators=100) if quick else None)
        return learned["m"]

    methods = {name: (lambda h, cls=cls: cls()) for name, cls in BASELINES.items()}
    methods["learned"] = make_learned
    res = rolling_origin_backtest(inc, cells, methods, start=local(start), end=local(end), horizons=("W",),
                                  anchor=local(start), timezone=TZ)
    return res, learned["m"]


def print_weekly_summary(res, start: str, end: str) -> tuple[pd.Series, str]:
    """Print the metrics table, the times and the learned model's PAI ratio; PAI at 1 % per method and the best
    baseline."""
    s = res.summary
    print(f"\nweekly backtest {start} .. {end}: {int(s['n_periods'].max())} weeks, train to 2015-12-31")
    cols = []
    for _, r in s.sort_values(["coverage", "method"]).iterrows():
        cols.append({
            "coverage %": 100 * r["coverage"], "method": r["method"],
            "hit rate %": f"{100 * r['hit_rate_mean']:.2f} ± {100 * r['hit_rate_se']:.2f}",
            "PAI": f"{r['pai_mean']:.2f} ± {r['pai_se']:.2f}",
            "PEI": f"{r['pei_mean']:.3f} ± {r['pei_se']:.3f}",
            "PEI*": f"{r['pei_star_mean']:.3f} ± {r['pei_star_se']:.3f}",
        })
    print(pd.DataFrame(cols).to_string(index=False))
    print_calibration(res)
    print("\ntimes (fit once at the origin; score = all weeks):")
    print(res.timings[["method", "fit_s", "score_s", "score_ms_per_period"]].round(3).to_string(index=False))

    at1 = s[s["coverage"] == 0.01].set_index("method")["pai_mean"]
    best_base = at1.drop("learned").idxmax()
    ratio = at1["learned"] / at1[best_base]
    print(f"\nPAI at 1 %: learned {at1['learned']:.2f} vs best baseline {best_base} {at1[best_base]:.2f} "
          f"-> x{ratio:.3f} (target x1.02: {'met' if ratio >= 1.02 else 'NOT met'})")
    return at1, best_base


def print_calibration(res) -> None:
    """Poisson deviance per cell-week of each method's expected counts (lower is better; scores that are not
    counts rescaled to the trailing year's rate, ranking unchanged) and expected against observed totals."""
    p = res.periods.drop_duplicates(["method", "horizon", "period_start"])
    g = p.groupby("method")
    table = pd.DataFrame({
        "Poisson deviance / cell": [f"{m:.4f} ± {s:.4f}" for m, s in zip(g["deviance"].mean(),
                                                                      g["deviance"].std(ddof=1) / np.sqrt(g.size()))],
        "expected / week": g["expected_total"].mean().round(1).to_numpy(),
        "observed / week": g["observed_total"].mean().round(1).to_numpy()}, index=g["deviance"].mean().index)
    print("\ncalibration (same weeks; reliability plot: --reliability-plot):")
    print(table.sort_values("Poisson deviance / cell").to_string())


def clairvoyant_bounds(inc, cells, res, start: str, best_pai: float, best_base: str,
                       at1: pd.Series | None = None) -> None:
    """Print PAI at 1 % of forecasts that know the test span's own counts.

    Context, not a method: the most a forecast built from smoothed counts could reach:
    (a) the mean of every other test week, (b) the mean of the weeks within +-W of the
    scored week (both sides, the week itself left out).
    """
    from jobs.grid.cell_features import period_grid, resolve_cells, resolve_events
    from models.evaluation.metrics import hotspot_metrics

    g = resolve_cells(cells)
    ev = resolve_events(inc, g)
    pg = period_grid("W", local(start), TZ)
    wk = pg.index_of(ev.t_ns)
    weeks = sorted(set(pd.to_datetime(res.periods["period_start"]).map(lambda t: int(pg.index_of(np.array([t.value]))[0]))))
    lo, hi = weeks[0] - 52, weeks[-1] + 52
    Y = np.stack([np.bincount(ev.cell[wk == w], minlength=len(g)) for w in range(lo, hi + 1)]).astype(float)
    test = [w - lo for w in weeks]

    def pai1(score, k):
        return hotspot_metrics(score, Y[k], g.area_km2, (0.01,), tie_key=g.index)["pai"].iloc[0]

    o = float(np.nanmean([pai1(Y[[j for j in test if j != k]].mean(0), k) for k in test]))
    print(f"clairvoyant bounds, PAI at 1 %: mean of every other test week {o:.2f} = x{o / best_pai:.3f} of {best_base}")
    bounds = {"stationary oracle": o}
    for half in (13, 26, 52):
        b = float(np.nanmean([pai1(Y[[j for j in range(k - half, k + half + 1) if j != k and 0 <= j < len(Y)]].mean(0), k)
                              for k in test]))
        print(f"  mean of the weeks within +-{half} of the scored week: {b:.2f} = x{b / best_pai:.3f}")
        bounds[f"+-{half} weeks"] = b
    if at1 is not None and "naive" in at1:
        print_gap_closed(at1, bounds)


def print_gap_closed(at1: pd.Series, bounds: dict[str, float]) -> None:
    """Beside each method's PAI at 1 %, the share of the gap between trailing counts (``naive``: a year of
    counts) and each clairvoyant bound that it closes (0: no better than trailing counts, 1: the bound)."""
    from models.evaluation.metrics import gap_closed

    def share(v: float, b: float) -> str:
        g = gap_closed(v, at1["naive"], b)
        return "-" if np.isnan(g) else f"{100 * g:.1f} %"

    rows = [{"method": m, "PAI@1%": f"{v:.2f}", **{f"to {name} ({b:.2f})": share(v, b) for name, b in bounds.items()}}
            for m, v in at1.sort_values(ascending=False).items()]
    print("\nshare of the gap from trailing counts (naive) to each bound that a method closes "
          "(-: the bound is not above trailing counts on these weeks):")
    print(pd.DataFrame(rows).to_string(index=False))


def onnx_vs_native(m, start: str, reps: int = 50) -> None:
    """Print ONNX Runtime vs native scoring of one whole-city period, the feature build time and their parity."""
    X = m.features_for([local(start)])
    mdl = m.model_
    rep = mdl.check_onnx_parity(X)
    Xn = X.select(mdl.feature_names_).to_pandas().to_numpy(np.float32)
    t = time.perf_counter()
    for _ in range(reps):
        mdl.predict(Xn)
    native_ms = 1000 * (time.perf_counter() - t) / reps
    mdl.predict_onnx(Xn)
    t = time.perf_counter()
    for _ in range(reps):
        mdl.predict_onnx(Xn)
    onnx_ms = 1000 * (time.perf_counter() - t) / reps
    t = time.perf_counter()
    m.features_for([local(start)])
    feat_ms = 1000 * (time.perf_counter() - t)
    print(f"\nscoring one period, {X.num_rows} cells, {len(mdl.feature_names_)} features, "
          f"{mdl.best_iteration_} trees ({mdl.best_params_}):")
    print(f"  ONNX Runtime (1 thread) {onnx_ms:.2f} ms  ({X.num_rows / onnx_ms * 1000:,.0f} cells/s; target < 50 ms: "
          f"{'met' if onnx_ms < 50 else 'NOT met'})")
    print(f"  native LightGBM         {native_ms:.2f} ms  ({X.num_rows / native_ms * 1000:,.0f} cells/s)")
    print(f"  feature build (whole history) {feat_ms:.0f} ms")
    print(f"  parity: max |diff| {rep.max_abs_diff:.2e}, max rel {rep.max_rel_diff:.2e} (rtol {rep.rtol}, atol {rep.atol})")


def write_forecast_map(m, cells, start: str, path: Path) -> None:
    """A PNG map of the learned forecast of the week starting ``start``, its top 1 % of cells outlined."""
    from models.hotspots.serving import forecast_table
    from orchestration.hotspots.maps import render_png

    week = local(start)
    expected = m.predict(week)
    top = forecast_table(cells, expected, week, 0.01, "benchmark").sort_by("h3")
    order = np.argsort(np.asarray(cells.column("h3").to_pylist()))
    flags = np.zeros(len(order), bool)
    flags[order] = top.column("in_top_cells").to_numpy(zero_copy_only=False)
    render_png(cells.column("h3").to_pylist(), expected, load_districts().to_pylist(), path,
               title=f"Learned forecast, week of {start}: expected assaults; top 1 % outlined", top=flags)
    print(f"map written to {path}")


#: Robustness runs: (label, H3 resolution, horizon, grid anchor, first and last period start (full, quick),
#: learned model's training periods), wall-clock times of Chicago. Shifts are 06-14, 14-22 and 22-06 local time.
ROBUSTNESS_RUNS = (
    ("res 8, week", 8, "W", "2016-01-01", ("2016-01-01", "2017-12-29"), ("2016-01-01", "2016-02-26"), 156),
    ("res 9, week", 9, "W", "2016-01-01", ("2016-01-01", "2017-12-29"), ("2016-01-01", "2016-02-26"), 156),
    ("res 10, week", 10, "W", "2016-01-01", ("2016-01-01", "2016-12-30"), ("2016-01-01", "2016-02-26"), 104),
    ("res 9, day", 9, "D", "2016-01-01", ("2016-01-01", "2016-03-31"), ("2016-01-01", "2016-01-14"), 364),
    ("res 9, shift", 9, "8h", "2016-01-01 06:00", ("2016-01-01 06:00", "2016-03-31 06:00"),
     ("2016-01-01 06:00", "2016-01-14 06:00"), 546),
)


def robustness(inc, quick: bool, reuse=None, runs=None) -> pd.DataFrame:
    """Every method at every coverage across H3 resolutions 8/9/10 (weekly) and day/shift horizons (res 9).

    Prints PAI at 1 % per method and run, with the learned model's ratio to the best baseline, and
    returns the whole summary (one row per run, method and coverage). ``reuse`` maps
    ``(resolution, horizon, start, end)`` to an already computed ``(summary, n_cells)``; ``runs``: the labels of
    the runs to make (default all).
    """
    districts = load_districts()
    out = []
    print("\nrobustness: PAI at 1 % (± s.e.) per run; every method on the same periods of each run")
    chosen = [r for r in ROBUSTNESS_RUNS if runs is None or r[0] in runs]
    for label, res_, horizon, anchor, full, short, train in chosen:
        start, end = short if quick else full
        t = time.perf_counter()
        key = (res_, horizon, start, end)
        if reuse and key in reuse:
            summary, n_cells = reuse[key]
        else:
            cells = study_area_cells(districts, resolution=res_)
            n_cells = cells.num_rows
            methods = {name: (lambda h, cls=cls: cls()) for name, cls in BASELINES.items()}
            methods["learned"] = lambda h, train=train: LearnedForecaster(
                freq=h, train_periods=train, burn_in_periods=26, timezone=TZ,
                model=stacked_model(max_estimators=100) if quick else None)
            summary = rolling_origin_backtest(inc, cells, methods, start=local(start), end=local(end),
                                              horizons=(horizon,), anchor=local(anchor), timezone=TZ).summary
        s = summary.assign(run=label, resolution=res_, n_cells=n_cells, start=start, end=end)
        out.append(s)
        at1 = s[s["coverage"] == 0.01].set_index("method")
        best = at1.drop("learned")["pai_mean"].idxmax()
        cells_txt = ", ".join(f"{m} {v.pai_mean:.2f} ± {v.pai_se:.2f}" for m, v in at1.sort_values("pai_mean", ascending=False).iterrows())
        print(f"  {label:<13} {n_cells:>6} cells, {int(at1['n_periods'].max()):>3} periods "
              f"{start[:10]} .. {end[:10]}: {cells_txt}; learned x{at1.loc['learned', 'pai_mean'] / at1.loc[best, 'pai_mean']:.3f} "
              f"of {best} ({time.perf_counter() - t:.0f} s)")
    allrows = pd.concat(out, ignore_index=True)
    wide = allrows[allrows["coverage"] == 0.01].pivot_table(index="method", columns="run", values="pai_mean", sort=False)
    print("\nPAI at 1 % by run (rows: method):")
    print(wide[[r[0] for r in chosen]].round(2).to_string())
    return allrows


def seed_spread(inc, resolution: int, k: int, quick: bool) -> pd.DataFrame:
    """The weekly learned model with LightGBM seeds ``0..k-1`` (bagging and the sampled zero rows) and every
    baseline, on the same weeks: how much of the learned model's margin is the seed's. Prints PAI at 1 % and
    5 % per seed, their mean and spread, and the mean's ratio to the best baseline; returns the summary."""
    if k < 1:
        raise SystemExit(f"--seeds must be at least 1, got {k}")
    cells = study_area_cells(load_districts(), resolution=resolution)
    start, end = "2016-01-01", "2016-02-26" if quick else "2017-12-29"
    methods = {name: (lambda h, cls=cls: cls()) for name, cls in BASELINES.items()}
    for seed in range(k):
        methods[f"learned, seed {seed}"] = lambda h, seed=seed: LearnedForecaster(
            freq=h, train_periods=156, burn_in_periods=26, timezone=TZ,
            model=stacked_model(seed=seed, **({"max_estimators": 100} if quick else {})))
    t = time.perf_counter()
    summary = rolling_origin_backtest(inc, cells, methods, start=local(start), end=local(end), anchor=local(start),
                                      timezone=TZ).summary
    print(f"\nseed spread: weekly, res {resolution}, {start} .. {end}, LightGBM seeds 0..{k - 1} "
          f"({time.perf_counter() - t:.0f} s)")
    for cov in (0.01, 0.05):
        at = summary[summary["coverage"] == cov].set_index("method")["pai_mean"]
        seeds = at[[m for m in at.index if m.startswith("learned")]]
        base = at.drop(seeds.index)
        print(f"  PAI at {cov:.0%}: " + ", ".join(f"{m} {v:.2f}" for m, v in seeds.items())
              + f"; mean {seeds.mean():.2f} (spread {seeds.min():.2f} .. {seeds.max():.2f}); best baseline "
              f"{base.idxmax()} {base.max():.2f}; mean x{seeds.mean() / base.max():.3f}")
    return summary


def grid_sensitivity_table(inc, quick: bool, out: Path | None = None) -> None:
    """Every method on every grid (H3 res 8/9/10, square cells at two origins), on the same weeks from
    Friday 2016-01-01: the whole of 2016 (53 weeks), or 8 with ``quick``; prints the table and the verdict."""
    from jobs.grid.cell_features import period_grid
    from models.evaluation.grid_sensitivity import grid_sensitivity

    pg = period_grid("W", local("2016-01-01"), TZ)
    starts = [pd.Timestamp(int(pg.start_ns(p)), tz="UTC") for p in range(8 if quick else 53)]
    methods = dict(BASELINES)
    # as the robustness runs at res 10: 104 training weeks bound the memory of 41,158 cells
    methods["learned"] = lambda: LearnedForecaster(freq="W", train_periods=104, burn_in_periods=26, timezone=TZ,
                                                   model=stacked_model(max_estimators=100) if quick else None)
    t = time.perf_counter()
    res = grid_sensitivity(inc, load_districts(), starts, methods, timezone=TZ)
    print(f"\ngrid sensitivity: {len(starts)} weeks from 2016-01-01, every method on the same weeks of each grid "
          f"({time.perf_counter() - t:.0f} s)")
    print(res.table.round({"pai_1pct": 2, "se_1pct": 2, "pai_5pct": 2, "se_5pct": 2}).to_string(index=False))
    print(f"verdict (against {res.reference}): {res.verdict}")
    if out:
        res.table.to_csv(out, index=False)
        print(f"grid-sensitivity table written to {out}")


def time_cli() -> None:
    """Wall time of ``crimefusion forecast`` (a fresh process: read, validate, fit, score, write)
    over the 105 weeks of 2016-2017 at resolution 9, for every method."""
    import json
    import subprocess
    import tempfile

    from chicago_data import CSV, REPO, data_path
    from models.hotspots.forecast import METHODS

    exe = Path(sys.executable).parent / "crimefusion"
    cmd0 = [str(exe)] if exe.exists() else [sys.executable, "-c", "from orchestration.cli import main; main()"]
    print("\n`crimefusion forecast --start 2016-01-01 --end 2017-12-29 --step 7d --res 9` (fresh process each):")
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            out = Path(tmp) / f"{method}.parquet"
            t = time.perf_counter()
            proc = subprocess.run(
                [*cmd0, "forecast", "--incidents", str(data_path(CSV)),
                 "--spec", str(REPO / "specs" / "chicago_aggravated_assaults.yaml"), "--start", "2016-01-01",
                 "--end", "2017-12-29", "--step", "7d", "--res", "9", "--method", method, "--out", str(out)],
                capture_output=True, text=True, cwd=REPO)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                print(f"  {method:<12} FAILED (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
                continue
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {method:<12} {wall:6.1f} s  {info['periods']} periods x {info['cells']} cells "
                  f"= {info['rows']:,} rows")


def plot_robustness(summary: pd.DataFrame):
    """Grouped bars: PAI at 1 % (± one standard error) per run and method."""
    from matplotlib.figure import Figure

    at1 = summary[summary["coverage"] == 0.01]
    runs = list(dict.fromkeys(at1["run"]))
    methods = sorted(at1["method"].unique())
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        sub = at1[at1["method"] == m].set_index("run").reindex(runs)
        x = np.arange(len(runs)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(x, sub["pai_mean"], width, yerr=sub["pai_se"], capsize=2, label=m)
    ax.set_xticks(np.arange(len(runs)), runs)
    ax.set_ylabel("PAI at 1 % of the area")
    ax.set_title("Robustness: H3 resolution (weekly) and horizon (res 9); bars ± 1 s.e.")
    ax.set_ylim(0, 1.2 * float((at1["pai_mean"] + at1["pai_se"]).max()))
    ax.legend(ncols=len(methods), fontsize="small", loc="upper left")
    return fig


if __name__ == "__main__":
    main()
