"""lake.duckdb: DuckDB views over Delta tables, read back through the file (extensions from PyPI wheels)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import shapely

from orchestration.platform import bi


@pytest.fixture(scope="module")
def extensions():
    try:
        return [bi.extension_path(e) for e in bi.EXTENSIONS]
    except (bi.ExtensionUnavailable, ImportError) as exc:
        pytest.skip(f"DuckDB extensions cannot be loaded here: {exc}")


@pytest.fixture
def small_lake(lake):
    squares = [shapely.box(0, 0, 0.01, 0.01), shapely.box(0.01, 0, 0.02, 0.01), shapely.box(5, 5, 5.1, 5.1)]
    # two cities whose area ids meet: "1" is a district of one and a precinct of the other
    lake.overwrite("reference", "police_districts", pa.table({
        "layer": ["city", "city", "other"], "area_id": ["1", "2", "1"], "name": ["North", "South", "Precinct 1"],
        "geometry": pa.array(shapely.to_wkb(squares).tolist(), pa.binary()), "area_km2": [1.2, 0.5, 9.0]}))
    lake.overwrite("gold", "district_daily_counts", pa.table({
        "source": ["s"] * 4 + ["t"], "layer": ["city"] * 4 + ["other"], "district": ["1", "1", "2", "2", "1"],
        "category": ["burglary"] * 5,
        "day": pa.array([dt.date(2020, 1, 1), dt.date(2020, 1, 31), dt.date(2020, 1, 5), dt.date(2020, 2, 1),
                         dt.date(2020, 1, 9)]),
        "local_day": pa.array([dt.date(2020, 1, 1), dt.date(2020, 1, 31), dt.date(2020, 1, 5), dt.date(2020, 2, 1),
                               dt.date(2020, 1, 9)]),
        "timezone": ["UTC"] * 5,
        "incidents": pa.array([3, 3, 1, 4, 2], pa.int64())}))
    return lake


def test_views_read_the_delta_tables(extensions, small_lake, tmp_path):
    out = tmp_path / "bi" / "lake.duckdb"
    result = bi.build_duckdb(small_lake, out)
    assert result["tables"] == ["gold.district_daily_counts", "reference.police_districts"]
    assert "bi.district_incident_rates" in result["curated"]
    assert any(s.startswith("bi.incidents ") and "silver.incidents" in s for s in result["skipped"])
    assert any(s.startswith("bi.incidents ") and "reference.source_catalog" in s for s in result["skipped"])

    con = bi.connect(out, read_only=True)
    rates = con.execute("SELECT district, month, incidents, incidents_per_km2 FROM bi.district_incident_rates "
                        "WHERE source = 's' ORDER BY district, month").fetchall()
    assert [(d, m.date() if hasattr(m, "date") else m, n) for d, m, n, _ in rates] == [
        ("1", dt.date(2020, 1, 1), 6), ("2", dt.date(2020, 1, 1), 1), ("2", dt.date(2020, 2, 1), 4)]
    assert rates[0][3] == pytest.approx(6 / 1.2)
    # each source's total is gold's, and each district its own city's area
    assert con.execute("SELECT source, sum(incidents) FROM bi.district_incident_rates GROUP BY source "
                       "ORDER BY source").fetchall() == \
        con.execute("SELECT source, sum(incidents) FROM gold.district_daily_counts GROUP BY source "
                    "ORDER BY source").fetchall() == [("s", 11), ("t", 2)]
    assert con.execute("SELECT area_km2 FROM bi.district_incident_rates WHERE source = 't'").fetchone()[0] == 9.0
    wkt = con.execute("SELECT wkt FROM bi.police_districts WHERE area_id = '2'").fetchone()[0]
    assert shapely.equals(shapely.from_wkt(wkt), shapely.box(0.01, 0, 0.02, 0.01))
    con.close()

    # views are live: a new Delta commit shows without rebuilding the file
    small_lake.overwrite("gold", "district_daily_counts", pa.table({
        "source": ["s"], "district": ["1"], "category": ["burglary"], "day": pa.array([dt.date(2021, 5, 2)]),
        "incidents": pa.array([7], pa.int64())}))
    con = bi.connect(out, read_only=True)
    assert con.execute("SELECT sum(incidents) FROM gold.district_daily_counts").fetchone()[0] == 7
    con.close()


def test_copy_stores_snapshots_readable_without_extensions(extensions, small_lake, tmp_path):
    import duckdb

    out = tmp_path / "snap.duckdb"
    bi.build_duckdb(small_lake, out, views_sql=None, copy=True)
    con = duckdb.connect(str(out), read_only=True)  # no extension loaded
    assert con.execute("SELECT sum(incidents) FROM gold.district_daily_counts").fetchone()[0] == 13
    con.close()


def test_curated_views_parse_requirements():
    parsed = bi.curated_views(bi.VIEWS_SQL.read_text())
    assert len(parsed) >= 4
    for needs, statement in parsed:
        assert needs, f"statement without a '-- requires:' line: {statement[:80]}"
        code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
        assert code.upper().count("CREATE ") == 1


def test_local_columns_read_each_feed_in_its_own_zone(extensions, small_lake, tmp_path):
    """The same UTC instant is New Year's Eve in Chicago and New Year's Day in UTC; months follow local days."""
    from jobs.schemas import SOURCE_CATALOG

    instant = dt.datetime(2018, 1, 1, 3, 30, tzinfo=dt.timezone.utc)
    small_lake.overwrite("silver", "incidents", pa.table({
        "incident_id": ["a", "b", "c"], "source": ["chi", "utc_feed", "unlisted"], "category": ["robbery"] * 3,
        "source_category": ["x"] * 3, "location_type": ["street"] * 3, "district": ["1"] * 3,
        "status": ["open"] * 3, "weapon": ["none"] * 3, "occurred_at": pa.array([instant] * 3, pa.timestamp("us", tz="UTC")),
        "lon": [0.0] * 3, "lat": [0.0] * 3, "h3": ["x"] * 3,
        "geometry": pa.array([shapely.to_wkb(shapely.Point(0, 0))] * 3, pa.binary())}))
    small_lake.overwrite("reference", "source_catalog", pa.Table.from_pylist([
        {"source": "chi", "table": "incidents", "timezone": "America/Chicago"},
        {"source": "utc_feed", "table": "incidents", "timezone": "UTC"}], schema=SOURCE_CATALOG))
    small_lake.overwrite("gold", "district_daily_counts", pa.table({
        "source": ["chi"], "layer": ["city"], "district": ["1"], "category": ["robbery"],
        "day": pa.array([dt.date(2018, 1, 1)]), "local_day": pa.array([dt.date(2017, 12, 31)]),
        "timezone": ["America/Chicago"], "incidents": pa.array([1], pa.int64())}))
    out = tmp_path / "lake.duckdb"
    bi.build_duckdb(small_lake, out)
    con = bi.connect(out, read_only=True)
    rows = con.execute("SELECT source, timezone, occurred_day_utc, occurred_day_local, occurred_hour_utc, "
                       "occurred_hour_local, occurred_at_local FROM bi.incidents ORDER BY source").fetchall()
    assert rows == [
        ("chi", "America/Chicago", dt.date(2018, 1, 1), dt.date(2017, 12, 31), 3, 21, dt.datetime(2017, 12, 31, 21, 30)),
        ("unlisted", "UTC", dt.date(2018, 1, 1), dt.date(2018, 1, 1), 3, 3, dt.datetime(2018, 1, 1, 3, 30)),
        ("utc_feed", "UTC", dt.date(2018, 1, 1), dt.date(2018, 1, 1), 3, 3, dt.datetime(2018, 1, 1, 3, 30)),
    ]
    month = con.execute("SELECT month, timezone FROM bi.district_incident_rates").fetchall()
    assert month == [(dt.date(2017, 12, 1), "America/Chicago")]  # counted in December, as Chicago reads it
    con.close()
