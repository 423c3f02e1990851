"""Benchmark: Knox near repeat test on Chicago aggravated assaults, and pointpats' Knox.

Usage::

    .venv/bin/python benchmarks/near_repeat.py            # 10,000 / 100,000 / 117,875 events
    .venv/bin/python benchmarks/near_repeat.py --quick    # 2,000 / 10,000 events

Data: ``data/chicago/aggravated_assaults_2010_2017.csv.gz`` (falls back to
``../shared/data``): ``date`` in America/Chicago local time, so the calendar day
is the local day; longitude/latitude projected to EPSG:26971 (NAD83 / Illinois
East, metres). Subsets are seeded random samples of the whole 2010-2017 period.

Bands: 0,1,200,400,inf m (same place, one to two blocks, up to ~4 blocks
apart; Chicago's grid has 8 blocks per mile, ~200 m) x 0,1,2,3,inf days,
Manhattan distance (street grid), 99 permutations: the Near Repeat
Calculator's conventions.

Peer: ``pointpats.spacetime.Knox`` (a single space-time threshold: pairs with
distance <= delta and time lag <= tau, Euclidean) on the smallest size with the
same 99 permutations, against ``knox_test`` on the equivalent 2 x 2 table
(sds = 0, next float above delta, inf; tds = 0, tau + 1, inf) and on the full bands.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobs.patterns.near_repeat import knox_test  # noqa: E402

SDS = (0, 1, 200, 400, math.inf)
TDS = (0, 1, 2, 3, math.inf)


def data_file(rel: str) -> Path:
    for root in (REPO / "data", REPO.parent / "shared" / "data"):
        if (root / rel).exists():
            return root / rel
    raise FileNotFoundError(f"{rel} not found in data/ or ../shared/data")


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    df = pd.read_csv(data_file("chicago/aggravated_assaults_2010_2017.csv.gz"), usecols=["date", "longitude", "latitude"])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:26971", always_xy=True).transform(
        df["longitude"].to_numpy(), df["latitude"].to_numpy()
    )
    local = pd.to_datetime(df["date"], format="%Y-%m-%d %H:%M")  # already America/Chicago wall time
    days = local.dt.normalize().to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.asarray(x), np.asarray(y), days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 and 10,000 events only")
    ap.add_argument("--nrep", type=int, default=99)
    ap.add_argument("--no-peer", action="store_true", help="skip pointpats")
    args = ap.parse_args()

    t0 = time.perf_counter()
    x, y, days = load()
    n_all = len(x)
    print(f"loaded and projected {n_all:,} incidents in {time.perf_counter() - t0:.2f} s")
    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000, n_all]
    rng = np.random.default_rng(0)
    print(f"bands: sds={SDS} m, tds={TDS} days, manhattan, nrep={args.nrep}")
    print(f"{'events':>9} {'close pairs':>12} {'seconds':>8}  ratio [0,1)m/[0,1)d  ratio [1,200)m/[0,1)d")
    samples = {}
    for n in sizes:
        idx = np.sort(rng.choice(n_all, size=n, replace=False)) if n < n_all else np.arange(n_all)
        samples[n] = idx
        t = time.perf_counter()
        res = knox_test(x[idx], y[idx], days[idx], sds=SDS, tds=TDS, method="manhattan", nrep=args.nrep, seed=1)
        dt = time.perf_counter() - t
        print(f"{n:>9,} {res.n_close_pairs:>12,} {dt:>8.2f}  {res.knox_ratio[0, 0]:>19.2f}  {res.knox_ratio[1, 0]:>21.2f}")

    if args.no_peer:
        return
    from pointpats.spacetime import Knox

    n = sizes[0] if args.quick else 10_000
    idx = samples[n]
    delta, tau = 200.0, 1
    coords = np.column_stack([x[idx], y[idx]])
    t_coords = days[idx].astype(float).reshape(-1, 1)
    np.random.seed(1)  # pointpats permutes with numpy's global generator
    t = time.perf_counter()
    peer = Knox(coords, t_coords, delta=delta, tau=tau, permutations=args.nrep)
    t_peer = time.perf_counter() - t
    t = time.perf_counter()
    ours = knox_test(x[idx], y[idx], days[idx], sds=(0, np.nextafter(delta, np.inf), math.inf), tds=(0, tau + 1, math.inf),
                     method="euclidean", nrep=args.nrep, seed=1)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    knox_test(x[idx], y[idx], days[idx], sds=SDS, tds=TDS, method="manhattan", nrep=args.nrep, seed=1)
    t_full = time.perf_counter() - t
    same = np.array_equal(np.asarray(peer.observed, dtype=np.int64), ours.observed)
    print(f"\npeer on {n:,} events, delta={delta:g} m, tau={tau} day, {args.nrep} permutations:")
    print(f"  pointpats.spacetime.Knox        {t_peer:8.2f} s  observed {np.asarray(peer.observed, dtype=np.int64).ravel().tolist()}  p_sim {peer.p_sim:.3f}")
    print(f"  knox_test (same 2x2 table)      {t_ours:8.2f} s  observed {ours.observed.ravel().tolist()}  p {ours.p_value[0, 0]:.3f}")
    print(f"  knox_test (5x5 bands above)     {t_full:8.2f} s")
    print(f"  tables identical: {same};  speed-up pointpats / knox_test: {t_peer / t_ours:,.0f}x (2x2), {t_peer / t_full:,.0f}x (5x5)")


if __name__ == "__main__":
    main()
