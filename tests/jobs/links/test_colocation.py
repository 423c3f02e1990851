"""Co-location, co-travel and tower dumps on hand-placed cell sectors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import shapely

from jobs.links.colocation import cell_pairs, co_travel, colocation, sector_polygon, tower_dump

UTC = dt.timezone.utc
TS = pa.timestamp("us", tz="UTC")


def at(day, hour, minute=0):
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC)


# c1 (north) and c2 (south) share site S1 at (0, 0); c4 at ~556 m east faces west and
# overlaps both; c3 is ~11 km away. Sectors: 120 degree beams, 1 km range.
CELLS = [
    ("c1", "S1", 0.0, 0.0, 0.0),
    ("c2", "S1", 0.0, 0.0, 180.0),
    ("c3", "S3", 0.1, 0.0, 0.0),
    ("c4", "S4", 0.005, 0.0, 270.0),
]


def cell_sites(with_geometry: bool = True) -> pa.Table:
    geoms = [shapely.to_wkb(sector_polygon(lon, lat, az, 120.0, 1000.0)) if with_geometry else None for _, _, lon, lat, az in CELLS]
    return pa.table(
        {
            "cell_id": [c[0] for c in CELLS],
            "site_id": [c[1] for c in CELLS],
            "lon": [c[2] for c in CELLS],
            "lat": [c[3] for c in CELLS],
            "azimuth_deg": [c[4] for c in CELLS],
            "beam_width_deg": [120.0] * 4,
            "range_m": [1000.0] * 4,
            "geometry": pa.array(geoms, pa.binary()),
        }
    )


def cdr(rows) -> pa.Table:
    return pa.table(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "caller": [r[0] for r in rows],
            "callee": [r[1] for r in rows],
            "start_time": pa.array([r[3] for r in rows], TS),
            "kind": ["voice"] * len(rows),
            "direction": [r[4] if len(r) > 4 else "out" for r in rows],
            "cell_id": [r[2] for r in rows],
        }
    )


MEET = cdr(
    [
        ("P1", "Z", "c1", at(1, 10, 0)),
        ("P2", "Z", "c1", at(1, 10, 5)),
        ("P3", "Z", "c2", at(1, 10, 10)),
        ("P4", "Z", "c4", at(1, 10, 0)),
        ("P5", "Z", "c3", at(1, 10, 0)),
        ("P6", "Z", "c1", at(1, 11, 0)),
        ("Q", "P7", "c4", at(1, 10, 20), "in"),  # incoming: P7 is the served phone
    ]
)


def test_cell_pairs_modes():
    def pairs(mode):
        df = cell_pairs(cell_sites(), mode=mode)
        return {(a, b) for a, b in zip(df["cell_a"], df["cell_b"]) if a < b}

    assert pairs("same_cell") == set()
    assert pairs("same_site") == {("c1", "c2")}
    assert pairs("overlap") == {("c1", "c2"), ("c1", "c4"), ("c2", "c4")}
    # sectors rebuilt from azimuth/beam/range when geometry is missing give the same answer
    df = cell_pairs(cell_sites(with_geometry=False), mode="overlap")
    assert {(a, b) for a, b in zip(df["cell_a"], df["cell_b"]) if a < b} == pairs("overlap")
    with pytest.raises(ValueError, match="mode"):
        cell_pairs(cell_sites(), mode="nearby")


COLOC_CASES = [
    ("same_cell", "15min", None, {("P1", "P2")}),
    ("same_cell", "4min", None, set()),
    ("same_site", "15min", None, {("P1", "P2"), ("P1", "P3"), ("P2", "P3")}),
    (
        "overlap",
        "15min",
        None,
        {("P1", "P2"), ("P1", "P3"), ("P2", "P3"), ("P1", "P4"), ("P2", "P4"), ("P3", "P4"), ("P3", "P7"), ("P2", "P7")},  # P2-P7: exactly 15 min
    ),
    ("overlap", "15min", ["P4"], {("P4", "P1"), ("P4", "P2"), ("P4", "P3")}),
    ("overlap", "90min", ["P6"], {("P6", "P1"), ("P6", "P2"), ("P6", "P3"), ("P6", "P4"), ("P6", "P7")}),
]


@pytest.mark.parametrize("mode,window,phones,expected", COLOC_CASES)
def test_colocation(mode, window, phones, expected):
    out = colocation(MEET, cell_sites(), mode=mode, window=window, phones=phones)
    assert set(zip(out.column("phone_a").to_pylist(), out.column("phone_b").to_pylist())) == expected


def test_co_travel():
    rows = [
        ("P1", "Z", "c1", at(1, 10, 0)),
        ("P2", "Z", "c1", at(1, 10, 5)),
        ("P1", "Z", "c3", at(2, 10, 0)),
        ("P2", "Z", "c3", at(2, 10, 1)),
        ("P1", "Z", "c4", at(3, 10, 0)),
        ("P2", "Z", "c4", at(3, 10, 2)),
        ("P3", "Z", "c2", at(1, 10, 10)),  # meets both once, at S1
        ("P2", "Z", "c3", at(4, 9, 0)),  # alone
    ]
    out = co_travel(cdr(rows), cell_sites(), min_places=3, window="15min", mode="same_cell")
    assert out.to_pylist()[0]["places"] == ["S1", "S3", "S4"]
    assert [(r["phone_a"], r["phone_b"], r["n_places"], r["n_meetings"]) for r in out.to_pylist()] == [("P1", "P2", 3, 3)]
    two = co_travel(cdr(rows), cell_sites(), min_places=1, window="15min", mode="same_site")
    assert {(r["phone_a"], r["phone_b"]): r["n_places"] for r in two.to_pylist()} == {
        ("P1", "P2"): 3,
        ("P1", "P3"): 1,
        ("P2", "P3"): 1,
    }


def test_tower_dump():
    # (0, 0.005) is ~556 m north of S1: inside c1 (north) and c4 (west-facing, 786 m away), not c2 or c3.
    out = tower_dump(MEET, cell_sites(), lon=0.0, lat=0.005, time=at(1, 10, 0), before="30min", after="30min")
    assert (out.schema.metadata or {})[b"cells"] == b"c1,c4"
    assert {r["phone"]: r["cells"] for r in out.to_pylist()} == {"P1": ["c1"], "P2": ["c1"], "P4": ["c4"], "P7": ["c4"]}
    wider = tower_dump(MEET, cell_sites(), lon=0.0, lat=0.005, time=at(1, 10, 0), before="1h", after="1h")
    assert "P6" in wider.column("phone").to_pylist()
    nowhere = tower_dump(MEET, cell_sites(), lon=1.0, lat=1.0, time=at(1, 10, 0))
    assert nowhere.num_rows == 0
    with pytest.raises(ValueError, match="EPSG:4326"):
        tower_dump(MEET, cell_sites(), lon=500.0, lat=0.0, time=at(1, 10))


@pytest.mark.parametrize("radius_m,cells", [
    (0.0, b"c1,c4"),  # covering the point
    (500.0, b"c1,c4"),  # c2 faces south from S1, ~556 m away: not yet
    (600.0, b"c1,c2,c4"),
    (12_000.0, b"c1,c2,c3,c4"),  # c3 is ~11 km east
])
def test_tower_dump_radius(radius_m, cells):
    out = tower_dump(MEET, cell_sites(), lon=0.0, lat=0.005, time=at(1, 10, 0), radius_m=radius_m)
    assert (out.schema.metadata or {})[b"cells"] == cells
    with pytest.raises(ValueError, match="radius_m must be >= 0"):
        tower_dump(MEET, cell_sites(), lon=0.0, lat=0.005, time=at(1, 10, 0), radius_m=-1.0)
