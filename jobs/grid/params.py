"""The parameters of gold ``cell_features`` as one frozen record, stored with the table and the model.

:func:`jobs.grid.cell_features.cell_features` and its Spark twin
:func:`jobs.spark.cell_features.spark_cell_features` take a
:class:`CellFeatureParams`. The ``cell_features`` asset writes the *resolved*
parameters (vocabularies and kernel bandwidth fixed from the data,
:func:`jobs.grid.cell_features.resolve_params`) as JSON into the commit info
of the Delta commit that writes the rows (key :data:`COMMIT_KEY`), and the
hotspot model carries the same JSON in its feature spec, so training and
serving read the parameters instead of re-deriving them from column names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import pandas as pd

#: Period lengths the kernels know by name; a positive ``pd.Timedelta`` is accepted too.
FREQS: dict[str, pd.Timedelta] = {
    "W": pd.Timedelta(days=7),
    "D": pd.Timedelta(days=1),
    "8h": pd.Timedelta(hours=8),
}

#: Commit-info key under which gold ``cell_features`` stores the parameters of its rows (JSON).
COMMIT_KEY = "crimefusion.cell_feature_params"


@dataclass(frozen=True)
class CellFeatureParams:
    """Every setting of the ``cell_features`` kernel; validated and normalised on construction.

    Parameters
    ----------
    resolution
        H3 resolution of the study-area cells (checked against them).
    freq
        Period length: ``"W"`` (weeks from Monday 00:00 local time), ``"D"``, ``"8h"`` or a Timedelta.
    anchor
        Moves the period grid (e.g. shifts starting 06:00 local time); ``None``: the
        standard grid of ``freq`` (:func:`jobs.grid.cell_features.period_grid`).
    timezone
        The clock of the period grid (days, shifts and weeks start at local wall-clock boundaries
        of this zone, so a day the clocks change lasts 23 or 25 hours) and of the calendar
        features (``week_of_year``, ``month``, ``day_of_week``, ``hour``).
    k_ring
        Grid distance of the neighbourhood summed into the ``ring_*`` features.
    windows
        Trailing windows, in periods, of ``lag_1``/``roll_w``, ``ring_*`` and the
        ``extra_counts`` features (a window of 1 is ``lag_1``); kept sorted and unique.
    kernel_bandwidth_m
        Quartic-kernel bandwidth (metres) over cell centroids for the ``kde_*`` features;
        ``None``: ``max(400, 2.5 x cell spacing)``, fixed by ``resolve_params``.
    kernel_window
        Periods of history smoothed into ``kde_intensity``.
    near_repeat_m, near_repeat_days
        ``near_repeat`` counts incidents within this distance of the cell centroid and
        within this many days before the period start.
    categories, max_categories, category_windows
        Categories with their own ``cat_<slug>_roll_w`` features and ``target_cat_<slug>``
        counts; ``None``: the ``max_categories`` most frequent in the incidents.
    location_types, max_location_types, mix_window
        Location types whose share of the k-ring's incidents over the last ``mix_window``
        periods gives ``loc_<slug>_share`` (plus ``loc_other_share``); ``None`` as above.
    recency_cap
        ``periods_since_last`` (periods since the cell's last incident) is capped here.
    decay_half_lives
        Half-lives, in periods, of the exponentially weighted counts ``decay_<h>`` and
        their kernel smoothing ``kde_decay_<h>``; empty: no such columns.
    """

    resolution: int = 9
    freq: str | pd.Timedelta = "W"
    anchor: pd.Timestamp | None = None
    timezone: str = "UTC"
    k_ring: int = 1
    windows: tuple[int, ...] = (1, 4, 13, 52)
    kernel_bandwidth_m: float | None = None
    kernel_window: int = 13
    near_repeat_m: float = 400.0
    near_repeat_days: float = 14.0
    categories: tuple[str, ...] | None = None
    max_categories: int = 5
    category_windows: tuple[int, ...] = (4, 52)
    location_types: tuple[str, ...] | None = None
    max_location_types: int = 5
    mix_window: int = 52
    recency_cap: int = 104
    decay_half_lives: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        norm = {
            "resolution": _count("resolution", self.resolution, 0, 15),
            "freq": _freq(self.freq),
            "anchor": _anchor(self.anchor),
            "timezone": _timezone(self.timezone),
            "k_ring": _count("k_ring", self.k_ring, 0),
            "windows": tuple(sorted({_count("windows", w, 1) for w in _seq("windows", self.windows)})),
            "kernel_bandwidth_m": None if self.kernel_bandwidth_m is None
            else _positive("kernel_bandwidth_m", self.kernel_bandwidth_m),
            "kernel_window": _count("kernel_window", self.kernel_window, 1),
            "near_repeat_m": _positive("near_repeat_m", self.near_repeat_m, strict=False),
            "near_repeat_days": _positive("near_repeat_days", self.near_repeat_days, strict=False),
            "categories": _names("categories", self.categories),
            "max_categories": _count("max_categories", self.max_categories, 0),
            "category_windows": tuple(_count("category_windows", w, 1)
                                      for w in _seq("category_windows", self.category_windows)),
            "location_types": _names("location_types", self.location_types),
            "max_location_types": _count("max_location_types", self.max_location_types, 0),
            "mix_window": _count("mix_window", self.mix_window, 1),
            "recency_cap": _count("recency_cap", self.recency_cap, 1),
            "decay_half_lives": tuple(_positive("decay_half_lives", h)
                                      for h in _seq("decay_half_lives", self.decay_half_lives)),
        }
        if not norm["windows"]:
            raise ValueError("windows must hold at least one positive period count, got none")
        for name, value in norm.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes) -> "CellFeatureParams":
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    # -- as data ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON types: tuples as lists, ``freq`` as its name or an ISO 8601 duration, ``anchor`` as ISO text."""
        d = asdict(self)
        d["freq"] = self.freq if isinstance(self.freq, str) else self.freq.isoformat()
        d["anchor"] = None if self.anchor is None else self.anchor.isoformat()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CellFeatureParams":
        """Inverse of :meth:`to_dict`; unknown keys are refused with the known ones named."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"cell feature parameters have unknown keys {unknown}; known keys: {sorted(known)}")
        kw = dict(d)
        if isinstance(kw.get("freq"), str) and kw["freq"] not in FREQS:
            kw["freq"] = pd.Timedelta(kw["freq"])  # an ISO 8601 duration written by to_dict
        return cls(**kw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CellFeatureParams":
        return cls.from_dict(json.loads(text))


def _seq(name: str, value) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence, got {value!r}")
    return tuple(value)


def _count(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return v


def _positive(name: str, value, strict: bool = True) -> float:
    v = float(value)
    if not (v > 0 if strict else v >= 0):
        raise ValueError(f"{name} must be {'positive' if strict else 'non-negative'} numbers, got {value!r}")
    return v


def _names(name: str, value) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in _seq(name, value))


def _freq(value) -> str | pd.Timedelta:
    if isinstance(value, str):
        if value not in FREQS:
            raise ValueError(f"freq must be one of {sorted(FREQS)} or a pandas Timedelta, got {value!r}")
        return value
    if isinstance(value, pd.Timedelta):
        if value <= pd.Timedelta(0):
            raise ValueError(f"freq must be a positive duration, got {value}")
        return value
    raise TypeError(f"freq must be a string or pandas Timedelta, got {type(value).__name__}")


def _anchor(value) -> pd.Timestamp | None:
    from jobs.localtime import utc_timestamp

    return None if value is None else utc_timestamp(value, "anchor")


def _timezone(value) -> str:
    try:
        pd.Timestamp(0, tz="UTC").tz_convert(value)
    except Exception as exc:  # pytz, zoneinfo and dateutil raise different types
        raise ValueError(f"timezone must be an IANA time zone name such as 'America/Chicago', got {value!r}") from exc
    return str(value)
