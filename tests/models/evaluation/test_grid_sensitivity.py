"""Grid sensitivity: every method ranked on H3 resolutions 8-10 and square cells at two origins, on the same
weeks; the verdict counts only order changes beyond one paired standard error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from jobs.grid.cell_features import period_grid
from models.evaluation.grid_sensitivity import (COLUMNS, STABLE, GridSensitivity, card_grid_sensitivity,
                                                grid_sensitivity, verdict)
from models.hotspots.baselines import NaiveCounts, ProspectiveHotspot, RetrospectiveKDE, SelfExcitingGrid
from models.hotspots.learned import LearnedForecaster

TZ = "America/Chicago"
AREA = pa.array([shapely.to_wkb(shapely.box(-87.80, 41.80, -87.66, 41.89))])  # about 11.6 km x 10 km
END = pd.Timestamp("2024-03-04", tz=TZ)  # a Monday: the weeks scored end here


def _incidents(seed: int = 0, days: int = 400) -> pa.Table:
    """Uniform background over the area plus a planted hotspot (a 50 m patch), both steady over ``days``."""
    rng = np.random.default_rng(seed)
    n_bg, n_hot = 1500, 600
    lon = np.r_[rng.uniform(-87.80, -87.66, n_bg), -87.73 + rng.uniform(-3e-4, 3e-4, n_hot)]
    lat = np.r_[rng.uniform(41.80, 41.89, n_bg), 41.845 + rng.uniform(-2e-4, 2e-4, n_hot)]
    t = END.tz_convert("UTC") - pd.to_timedelta(rng.uniform(0.01, days, n_bg + n_hot), unit="D")
    return pa.table({"occurred_at": pa.array(pd.DatetimeIndex(t).floor("us"), pa.timestamp("us", tz="UTC")),
                     "lon": lon, "lat": lat})


def _weeks(n: int) -> list[pd.Timestamp]:
    pg = period_grid("W", timezone=TZ)
    p = int(pg.index_of(np.array([END.value]))[0])
    return [pd.Timestamp(int(pg.start_ns(q)), tz="UTC") for q in range(p - n, p)]


@pytest.fixture(scope="module")
def result() -> GridSensitivity:
    methods = {"naive": NaiveCounts, "kde": RetrospectiveKDE, "sepp": SelfExcitingGrid,
               "prospective": ProspectiveHotspot}
    return grid_sensitivity(_incidents(), AREA, _weeks(6), methods, timezone=TZ)


def test_every_method_finds_the_planted_hotspot_on_every_grid(result):
    t = result.table
    assert list(t.columns) == COLUMNS
    grids = list(dict.fromkeys(t["grid"]))
    assert grids[:3] == ["H3 res 8", "H3 res 9", "H3 res 10"] and len(grids) == 5
    assert grids[3].startswith("square ") and grids[4].endswith(", shifted 0.5")
    side = float(grids[3].split()[1])
    assert 300 < side < 350  # about the area of an H3 res-9 cell (0.105 km2)
    # prospective hotspotting weighs H3 grid distances: ranked on the H3 grids only
    assert set(t.loc[t["grid"].str.startswith("square"), "method"]) == {"naive", "kde", "sepp"}
    assert set(t.loc[t["grid"] == "H3 res 9", "method"]) == {"naive", "kde", "sepp", "prospective"}
    assert (t["pai_1pct"] > 5).all() and (t["pai_5pct"] > 2).all()  # the hotspot's cells are flagged
    assert np.isfinite(t[["pai_1pct", "se_1pct", "pai_5pct", "se_5pct"]].to_numpy()).all()
    assert (t["se_1pct"] > 0).all() and (t["periods"] == 6).all()
    for _, g in t.groupby("grid"):  # ranks 1..n, best PAI at 1 % first
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        assert g["pai_1pct"].is_monotonic_decreasing
    assert result.reference == "H3 res 9" and result.verdict.startswith((STABLE, "H3 res", "square"))
    assert len(result.periods) == len(t) * 6 and {"pai_1pct", "pai_5pct"} <= set(result.periods.columns)


def test_round_trip_through_json(result):
    back = GridSensitivity.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.verdict == result.verdict and back.reference == result.reference
    pd.testing.assert_frame_equal(back.table, result.table, check_dtype=False)


def test_card_version_scores_the_last_weeks_of_the_data():
    inc = _incidents(days=30)  # a short history: only the weeks after the first incident's are scored
    g = card_grid_sensitivity(inc, AREA, END, timezone=TZ, weeks=26)
    assert set(g.table["method"]) == {"naive", "kde"} and g.table["periods"].between(3, 4).all()
    assert card_grid_sensitivity(_incidents(days=8), AREA, END, timezone=TZ) is None  # under two weeks


def test_a_model_that_reads_the_incidents_table_is_refused_on_squares():
    with pytest.raises(ValueError, match="H3 grids only"):
        grid_sensitivity(_incidents(), AREA, _weeks(2), {"learned": LearnedForecaster}, timezone=TZ,
                         h3_only=frozenset(), resolutions=(9,))


def test_starts_must_be_periods_of_one_grid():
    starts = _weeks(3)
    with pytest.raises(ValueError, match="one 'W' grid"):
        grid_sensitivity(_incidents(), AREA, [starts[0], starts[1] + pd.Timedelta(hours=5)], {"naive": NaiveCounts},
                         timezone=TZ)
    with pytest.raises(ValueError, match="at least 2 periods"):
        grid_sensitivity(_incidents(), AREA, starts[:1], {"naive": NaiveCounts}, timezone=TZ)


def _verdict_of(pai: dict[str, dict[str, list[float]]]) -> str:
    """The verdict over hand-made weekly PAIs ``{grid: {method: [week 1, week 2, ...]}}``."""
    rows, ranks = [], []
    for grid, by_method in pai.items():
        order = sorted(by_method, key=lambda m: -np.mean(by_method[m]))
        ranks += [{"grid": grid, "method": m, "rank": i + 1} for i, m in enumerate(order)]
        rows += [{"grid": grid, "method": m, "period_start": k, "pai_1pct": v, "pai_5pct": v}
                 for m, vs in by_method.items() for k, v in enumerate(vs)]
    return verdict(pd.DataFrame(rows), pd.DataFrame(ranks), "H3 res 9")


@pytest.mark.parametrize("other, expected", [
    # the same order everywhere
    ({"a": [9, 10, 11, 10], "b": [8, 9, 10, 9]}, STABLE),
    # b above a on the other grid, but by less than one paired standard error there
    ({"a": [9, 11, 9, 11], "b": [10, 10, 10, 10.5]}, STABLE + " within one paired standard error"),
    # b above a by more than one paired standard error, where a led by more than one: the grid changes it
    ({"a": [8, 9, 10, 9], "b": [9.5, 10.5, 11, 10.5]}, "square 300 m changes it (PAI@1%): b beats a by +1.38"),
])
def test_verdict_counts_only_changes_beyond_the_noise(other, expected):
    text = _verdict_of({"H3 res 9": {"a": [10, 11, 12, 11], "b": [9, 10, 11, 10.5]}, "square 300 m": other})
    assert text.startswith(expected)
