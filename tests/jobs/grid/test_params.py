"""CellFeatureParams: validation, JSON round trip, and resolved parameters that rebuild the same rows."""

from __future__ import annotations

import h3
import pandas as pd
import pyarrow as pa
import pytest

from jobs.grid.cell_features import cell_features, resolve_params
from jobs.grid.params import CellFeatureParams

CENTRE = h3.latlng_to_cell(41.85, -87.65, 9)
CELLS = sorted(h3.grid_disk(CENTRE, 2))


def _incidents(n: int = 40) -> pa.Table:
    cells = [CELLS[(7 * i) % len(CELLS)] for i in range(n)]
    lat, lon = zip(*(h3.cell_to_latlng(c) for c in cells))
    times = [pd.Timestamp("2024-01-01 03:00", tz="UTC") + pd.Timedelta(hours=29 * i) for i in range(n)]
    return pa.table({
        "occurred_at": pa.array(times, pa.timestamp("us", tz="UTC")),
        "h3": [h3.latlng_to_cell(a, b, 12) for a, b in zip(lat, lon)],
        "lon": list(lon), "lat": list(lat),
        "category": [("assault", "theft", "theft", "robbery")[i % 4] for i in range(n)],
        "location_type": [("street", "bar", "street")[i % 3] for i in range(n)],
    })


@pytest.mark.parametrize("params", [
    CellFeatureParams(),
    CellFeatureParams(freq="D", windows=(28, 1, 7, 7), decay_half_lives=(91, 2.5), timezone="America/Chicago"),
    CellFeatureParams(freq=pd.Timedelta(hours=5), anchor="2024-01-01 06:00", categories=["a b", "c"],
                      location_types=[], kernel_bandwidth_m=812.25, k_ring=0, max_categories=0),
    CellFeatureParams(freq="8h", resolution=10, category_windows=(52, 4), near_repeat_days=7),
])
def test_json_round_trip_is_exact(params):
    again = CellFeatureParams.from_json(params.to_json())
    assert again == params and again.to_json() == params.to_json()
    assert hash(again) == hash(params)


@pytest.mark.parametrize("given, field, expected", [
    (dict(windows=(52, 1, 4, 4)), "windows", (1, 4, 52)),
    (dict(decay_half_lives=(13, 52)), "decay_half_lives", (13.0, 52.0)),
    (dict(categories=["x", 3]), "categories", ("x", "3")),
    (dict(category_windows=(52, 4)), "category_windows", (52, 4)),  # order kept: it orders the columns
    (dict(anchor="2024-01-01 06:00"), "anchor", pd.Timestamp("2024-01-01 06:00", tz="UTC")),
    (dict(anchor=pd.Timestamp("2024-01-01 00:00", tz="America/Chicago")), "anchor",
     pd.Timestamp("2024-01-01 06:00", tz="UTC")),
])
def test_values_are_normalised(given, field, expected):
    assert getattr(CellFeatureParams(**given), field) == expected


@pytest.mark.parametrize("given, exc, match", [
    (dict(freq="M"), ValueError, "freq"),
    (dict(freq=pd.Timedelta(0)), ValueError, "positive"),
    (dict(freq=7), TypeError, "freq"),
    (dict(resolution=16), ValueError, "resolution"),
    (dict(windows=()), ValueError, "windows"),
    (dict(windows=(0, 4)), ValueError, "windows"),
    (dict(windows=(1.5,)), ValueError, "whole number"),
    (dict(windows="14"), TypeError, "sequence"),
    (dict(k_ring=-1), ValueError, "k_ring"),
    (dict(decay_half_lives=(13, 0)), ValueError, "decay_half_lives"),
    (dict(kernel_bandwidth_m=-5), ValueError, "kernel_bandwidth_m"),
    (dict(kernel_window=0), ValueError, "kernel_window"),
    (dict(timezone="Mars/Olympus"), ValueError, "timezone"),
    (dict(anchor="not a time"), ValueError, "anchor"),
])
def test_bad_values_are_refused_on_construction(given, exc, match):
    with pytest.raises(exc, match=match):
        CellFeatureParams(**given)


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match="unknown keys \\['window'\\]"):
        CellFeatureParams.from_dict({"window": [1]})
    with pytest.raises(TypeError, match="CellFeatureParams"):
        cell_features(_incidents(), pa.array(CELLS), {"windows": (1,)})


def test_resolved_params_fix_what_the_data_decides_and_rebuild_the_same_rows():
    inc = _incidents()
    params = CellFeatureParams(freq="W", windows=(1, 4), max_categories=2, max_location_types=1)
    fixed = resolve_params(params, inc, pa.array(CELLS))
    assert fixed.categories == ("theft", "assault")  # most frequent, ties by name
    assert fixed.location_types == ("street",)
    assert fixed.kernel_bandwidth_m == pytest.approx(max(400.0, 2.5 * (h3.cell_area(CENTRE, "km^2") * 1e6) ** 0.5),
                                                     rel=0.05)
    assert resolve_params(fixed, inc, pa.array(CELLS)) == fixed  # resolving twice changes nothing
    a = cell_features(inc, pa.array(CELLS), params)
    b = cell_features(inc, pa.array(CELLS), fixed)
    assert a.equals(b)
    # other incidents (e.g. at serving time) keep the training vocabulary and bandwidth
    later = inc.slice(0, 10)
    assert cell_features(later, pa.array(CELLS), fixed).column_names == a.column_names
    assert resolve_params(params, pa.table({"occurred_at": later["occurred_at"], "h3": later["h3"]}),
                          pa.array(CELLS)).categories == ()
