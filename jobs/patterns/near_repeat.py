"""Near repeat analysis: the Knox test over bands of distance and time.

Every pair of events (i < j) falls into one cell of a contingency table whose
rows are spatial bands and whose columns are temporal bands. The observed table
is compared with the tables obtained after shuffling the event dates among the
events (Monte Carlo permutation), as Ratcliffe's Near Repeat Calculator does.

The kernel never forms the n^2 pairs. Only pairs closer in space than the
largest finite spatial edge are enumerated (k-d tree); everything beyond it is
derived by subtraction from totals that do not change when dates are shuffled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "KnoxResult",
    "band_labels",
    "knox_test",
    "parse_band_edges",
    "to_day_numbers",
]

Method = Literal["euclidean", "manhattan"]

# Pairs are processed in slices of this many so that the temporaries of one
# permutation stay around 100 MB even for tens of millions of close pairs.
_CHUNK = 4_000_000


@dataclass(frozen=True, eq=False)
class KnoxResult:
    """Result of :func:`knox_test`.

    All tables have one row per spatial band and one column per temporal band.

    Attributes
    ----------
    observed : numpy.ndarray of int64
        Observed number of pairs in each cell.
    expected : numpy.ndarray of float64
        Mean count over the ``nrep`` date permutations.
    expected_sd : numpy.ndarray of float64
        Standard deviation of the count over the permutations.
    knox_ratio : numpy.ndarray of float64
        ``observed / expected``; NaN where ``expected`` is 0.
    p_value : numpy.ndarray of float64
        ``(1 + #{permutations with count >= observed}) / (1 + nrep)``.
    sds, tds : tuple of float
        Spatial (map units, metres) and temporal (days) band edges; band ``k``
        is the half-open interval ``[edges[k], edges[k+1])``, the last is open.
    method : str
        ``"euclidean"`` or ``"manhattan"``.
    n_events, n_pairs, nrep : int
        Number of events, of pairs ``n(n-1)/2`` and of permutations.
    seed : int or None
        Seed of the permutations.
    """

    observed: np.ndarray
    expected: np.ndarray
    expected_sd: np.ndarray
    knox_ratio: np.ndarray
    p_value: np.ndarray
    sds: tuple[float, ...]
    tds: tuple[float, ...]
    method: str
    n_events: int
    n_pairs: int
    nrep: int
    seed: int | None
    n_close_pairs: int = field(default=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Tables are lists of rows (spatial bands) of columns (temporal bands).
        The infinite last edge is written as the string ``"inf"`` (JSON has no
        infinity, and ``null`` would read as "missing"); undefined ratios
        (expected count 0) are written as ``null``.
        """

        def edges(values: tuple[float, ...]) -> list[float | str]:
            return ["inf" if math.isinf(v) else _plain_number(v) for v in values]

        def table(a: np.ndarray) -> list[list[Any]]:
            return [[None if not np.isfinite(v) else _plain_number(v) for v in row] for row in a.tolist()]

        return {
            "observed": self.observed.astype(int).tolist(),
            "expected": table(self.expected),
            "expected_sd": table(self.expected_sd),
            "knox_ratio": table(self.knox_ratio),
            "p_value": table(self.p_value),
            "sds": edges(self.sds),
            "tds": edges(self.tds),
            "method": self.method,
            "n_events": self.n_events,
            "n_pairs": self.n_pairs,
            "nrep": self.nrep,
            "seed": self.seed,
        }


def _plain_number(v: float) -> float | int:
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def parse_band_edges(edges: str | Sequence[float | str], *, name: str = "edges") -> tuple[float, ...]:
    """Validate band edges and return them as a tuple of floats.

    Parameters
    ----------
    edges : str or sequence of float or str
        ``"0,1,200,400,inf"`` or ``[0, 1, 200, 400, float("inf")]``.
    name : str
        Name used in error messages (``"sds"``, ``"tds"``).

    Returns
    -------
    tuple of float
        Strictly increasing edges starting at 0 and ending at infinity.

    Raises
    ------
    ValueError
        If an edge does not parse, the edges are not strictly increasing, do
        not start at 0 or do not end with ``inf``.
    """
    items: Sequence[float | str] = edges.split(",") if isinstance(edges, str) else edges
    values: list[float] = []
    for k, item in enumerate(items):
        try:
            v = float(item.strip()) if isinstance(item, str) else float(item)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: edge {k} ({item!r}) is not a number; write edges like 0,1,200,400,inf") from None
        if math.isnan(v):
            raise ValueError(f"{name}: edge {k} is NaN")
        values.append(v)
    if len(values) < 2:
        raise ValueError(f"{name}: need at least two edges (e.g. 0,inf), got {len(values)}")
    if values[0] != 0:
        raise ValueError(f"{name}: the first edge must be 0 so that every pair falls in a band, got {values[0]}")
    if not math.isinf(values[-1]) or values[-1] < 0:
        raise ValueError(f"{name}: the last edge must be inf (open last band), got {values[-1]}; append ',inf'")
    for k in range(1, len(values)):
        if not values[k] > values[k - 1]:
            raise ValueError(
                f"{name}: edges must be strictly increasing, but edge {k} ({values[k]}) <= edge {k - 1} ({values[k - 1]})"
            )
    return tuple(values)


def band_labels(edges: Sequence[float], unit: str = "") -> list[str]:
    """Human-readable labels ``"[1, 200) m"`` of the bands between ``edges``."""
    suffix = f" {unit}" if unit else ""
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        fa, fb = _plain_number(a), ("inf" if math.isinf(b) else _plain_number(b))
        out.append(f"[{fa}, {fb}){suffix}" if fb != "inf" else f">= {fa}{suffix}")
    return out


def to_day_numbers(dates: Any) -> np.ndarray:
    """Whole-day numbers (int64) from dates, datetimes or integers.

    Datetimes are truncated to their calendar date, so give local times (the
    time zone in which "the same day" should be judged).

    Raises
    ------
    ValueError
        If a date is missing or a number is not a whole day.
    """
    a = np.asarray(dates)
    if a.dtype == object:
        try:
            a = np.asarray(a.astype("datetime64[D]"))
        except (TypeError, ValueError):
            raise ValueError("dates: expected dates, datetimes or whole-day numbers") from None
    if np.issubdtype(a.dtype, np.datetime64):
        nat = np.isnat(a)
        if nat.any():
            raise ValueError(f"dates: missing date (NaT) at position {int(np.flatnonzero(nat)[0])}")
        return a.astype("datetime64[D]").astype(np.int64)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.int64)
    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"dates: value {a[k]!r} at position {k} is not a whole number of days")
        return a.astype(np.int64)
    raise TypeError(f"dates: unsupported dtype {a.dtype}; give datetime64, dates or integer day numbers")


def _close_pairs(xy: np.ndarray, radius: float, p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) with distance < radius, and their distances."""
    if radius <= 0 or len(xy) < 2:
        empty = np.empty(0, dtype=np.int32)
        return empty, empty, np.empty(0)
    tree = cKDTree(xy)
    pairs = tree.query_pairs(r=radius, p=p, output_type="ndarray")
    if pairs.size == 0:
        empty = np.empty(0, dtype=np.int32)
        return empty, empty, np.empty(0)
    i = pairs[:, 0].astype(np.int32)
    j = pairs[:, 1].astype(np.int32)
    del pairs
    diff = xy[i] - xy[j]
    d = np.abs(diff).sum(axis=1) if p == 1 else np.hypot(diff[:, 0], diff[:, 1])
    keep = d < radius  # query_pairs includes d == r; the band is half-open
    return i[keep], j[keep], d[keep]


def _lag_counts(days: np.ndarray, max_lag: int) -> np.ndarray:
    """Number of pairs (over all distances) with each temporal lag 0..max_lag-1."""
    lo = int(days.min())
    counts = np.bincount(days - lo).astype(np.int64)
    out = np.zeros(max_lag, dtype=np.int64)
    if max_lag == 0:
        return out
    out[0] = int((counts * (counts - 1) // 2).sum())
    for k in range(1, min(max_lag, len(counts))):
        out[k] = int(np.dot(counts[:-k], counts[k:]))
    return out


def _validated_events(x: Any, y: Any, dates: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates and whole-day numbers as flat arrays; ValueError on mismatched, missing or too few events."""
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    days = to_day_numbers(dates).ravel()
    n = len(xs)
    if len(ys) != n or len(days) != n:
        raise ValueError(f"x, y and dates must have the same length, got {n}, {len(ys)}, {len(days)}")
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        raise ValueError(f"coordinates: missing or non-finite x/y at position {int(np.flatnonzero(bad)[0])}")
    if n < 2:
        raise ValueError(f"need at least 2 events, got {n}")
    return xs, ys, days


class _BandCounter:
    """Counts pairs per (spatial band, temporal band) for any assignment of the days to the events.

    Everything that does not change when dates are shuffled is computed once
    here: the close-in-space pairs grouped by spatial band, the temporal band of
    every integer lag, and the per-temporal-band pair count over all distances
    (from which the open spatial band is derived by subtraction).
    """

    def __init__(self, xs: np.ndarray, ys: np.ndarray, days: np.ndarray, sds: tuple[float, ...],
                 tds: tuple[float, ...], method: Method) -> None:
        n = len(xs)
        self.n_s, self.n_t = n_s, n_t = len(sds) - 1, len(tds) - 1
        s_max, t_max = sds[-2], tds[-2]

        # close-in-space pairs, grouped by spatial band
        ci, cj, cd = _close_pairs(np.column_stack([xs, ys]), s_max, 1.0 if method == "manhattan" else 2.0)
        sband = np.searchsorted(np.asarray(sds), cd, side="right") - 1
        order = np.argsort(sband, kind="stable")
        self.ci, self.cj, sband = ci[order], cj[order], sband[order]
        del cd, order
        bounds = np.searchsorted(sband, np.arange(n_s), side="left")  # rows 0..n_s-2 are finite bands
        self.bounds = np.append(bounds, len(sband))

        # Temporal band of every integer lag below the cap; lags >= cap are in the open band.
        lag_cap = int(math.ceil(t_max))
        self.lag_band = (np.searchsorted(np.asarray(tds), np.arange(lag_cap + 1), side="right") - 1).astype(np.intp)
        self.lag_band[lag_cap] = n_t - 1

        # pairs per temporal band over all distances
        lag_counts = _lag_counts(days, lag_cap)
        self.t_marginal = np.zeros(n_t, dtype=np.int64)
        np.add.at(self.t_marginal, self.lag_band[:lag_cap], lag_counts)
        self.t_marginal[n_t - 1] = n * (n - 1) // 2 - self.t_marginal[: n_t - 1].sum()

        # With few temporal bands, counting lags below each finite edge is cheaper
        # than a gather into the lag->band table followed by a bincount.
        self.finite_t_edges = np.asarray(tds[1:-1])
        self.use_thresholds = n_t <= 9
        span = int(days.max() - days.min())
        self.clip_at = min(lag_cap, span)  # lags never exceed the span, which fits the day dtype

    def __call__(self, d: np.ndarray) -> np.ndarray:
        """The (spatial x temporal) table of pair counts when event ``i`` is on day ``d[i]``."""
        n_s, n_t, ci, cj, bounds = self.n_s, self.n_t, self.ci, self.cj, self.bounds
        out = np.zeros((n_s, n_t), dtype=np.int64)
        for s in range(n_s - 1):
            lo, hi = bounds[s], bounds[s + 1]
            for start in range(lo, hi, _CHUNK):
                stop = min(start + _CHUNK, hi)
                lag = np.abs(d[ci[start:stop]] - d[cj[start:stop]])
                if self.use_thresholds:
                    below = np.array([np.count_nonzero(lag < e) for e in self.finite_t_edges], dtype=np.int64)
                    cum = np.concatenate([[0], below, [stop - start]])
                    out[s] += np.diff(cum)
                else:
                    np.minimum(lag, self.clip_at, out=lag)
                    out[s] += np.bincount(self.lag_band[lag], minlength=n_t)
        out[n_s - 1] = self.t_marginal - out[: n_s - 1].sum(axis=0)
        return out


def _relative_days(days: np.ndarray) -> np.ndarray:
    """Day numbers relative to the first day, in the narrowest integer type that holds them.

    The per-permutation gathers then stay in cache.
    """
    span = int(days.max() - days.min())
    day_dtype = np.int16 if span < 2**15 else (np.int32 if span < 2**31 else np.int64)
    return (days - days.min()).astype(day_dtype)


def _permutation_summary(count: _BandCounter, rel_days: np.ndarray, observed: np.ndarray, nrep: int,
                         seed: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and ``#{count >= observed}`` of the tables over ``nrep`` date permutations."""
    n = len(rel_days)
    rng = np.random.default_rng(seed)
    total = np.zeros(observed.shape, dtype=np.float64)
    total_sq = np.zeros(observed.shape, dtype=np.float64)
    at_least = np.zeros(observed.shape, dtype=np.int64)
    for _ in range(nrep):
        perm_table = count(rel_days[rng.permutation(n)])
        total += perm_table
        total_sq += perm_table.astype(np.float64) ** 2
        at_least += perm_table >= observed
    expected = total / nrep
    expected_sd = np.sqrt(np.maximum(total_sq / nrep - expected**2, 0.0))
    return expected, expected_sd, at_least


def knox_test(
    x: Any,
    y: Any,
    dates: Any,
    *,
    sds: Sequence[float] | str = (0, 1, 200, 400, math.inf),
    tds: Sequence[float] | str = (0, 1, 2, 3, math.inf),
    method: Method = "manhattan",
    nrep: int = 99,
    seed: int | None = 1,
) -> KnoxResult:
    """Knox test of space-time interaction over bands of distance and time.

    Parameters
    ----------
    x, y : array-like of float
        Projected coordinates in a metric unit (metres); the spatial edges are
        in the same unit.
    dates : array-like
        Dates (``datetime64``, ``datetime.date``) or whole-day numbers. The
        temporal distance of a pair is the absolute difference in days.
    sds : sequence of float or str
        Spatial band edges, strictly increasing from 0 to ``inf``; band ``k``
        is ``[sds[k], sds[k+1])``.
    tds : sequence of float or str
        Temporal band edges in days, same rules.
    method : {"manhattan", "euclidean"}
        Distance between events.
    nrep : int
        Number of date permutations (at least 1).
    seed : int or None
        Seed of the permutations.

    Returns
    -------
    KnoxResult
        Observed and expected tables, Knox ratios and permutation p-values,
        rows = spatial bands, columns = temporal bands.

    Raises
    ------
    ValueError
        On mismatched lengths, missing coordinates or dates, invalid edges,
        an unknown method, or ``nrep < 1``.

    Notes
    -----
    Knox (1964), "The detection of space-time interactions", *Applied
    Statistics* 13(1):25-29; Ratcliffe's Near Repeat Calculator (2009) and the
    ``NearRepeat`` R package by Wouter Steenbeek, whose conventions this follows:
    half-open bands ``[a, b)``, all pairs ``i < j``, dates permuted among events,
    expected count = mean over permutations, p-value
    ``(1 + #{perm >= observed}) / (1 + nrep)``.

    Complexity. Let ``S`` and ``T`` be the largest finite spatial and temporal
    edges. Pairs closer than ``S`` are listed once with a k-d tree
    (``cKDTree.query_pairs``, ``p=1`` or ``2``) and classified by spatial band;
    for every permutation only their temporal lags are recomputed, giving the
    rows of the finite spatial bands (all temporal columns). The last spatial
    row is the per-temporal-band count over *all* pairs minus those rows. That
    per-band count comes from the per-day event counts (``sum_d c_d c_{d+k}``
    for lag ``k < T``, the open band by subtraction from ``n(n-1)/2``) and does
    not change when dates are shuffled, so each permutation costs
    O(n + #close pairs).
    """
    if method not in ("euclidean", "manhattan"):
        raise ValueError(f"method must be 'euclidean' or 'manhattan', got {method!r}")
    if not isinstance(nrep, (int, np.integer)) or isinstance(nrep, bool) or nrep < 1:
        raise ValueError(f"nrep must be an integer >= 1, got {nrep!r}")
    sds_t = parse_band_edges(sds, name="sds")
    tds_t = parse_band_edges(tds, name="tds")
    xs, ys, days = _validated_events(x, y, dates)
    n = len(xs)

    count = _BandCounter(xs, ys, days, sds_t, tds_t, method)
    rel_days = _relative_days(days)
    observed = count(rel_days)
    expected, expected_sd, at_least = _permutation_summary(count, rel_days, observed, nrep, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / np.where(expected > 0, expected, 1.0), np.nan)
    p_value = (1.0 + at_least) / (1.0 + nrep)
    return KnoxResult(
        observed=observed,
        expected=expected,
        expected_sd=expected_sd,
        knox_ratio=ratio,
        p_value=p_value,
        sds=sds_t,
        tds=tds_t,
        method=method,
        n_events=n,
        n_pairs=n * (n - 1) // 2,
        nrep=int(nrep),
        seed=seed,
        n_close_pairs=int(len(count.ci)),
    )
