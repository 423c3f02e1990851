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
        "incidents": pa.array([3, 3, 1, 4, 2], pa.int64())}))
    return lake


def test_views_read_the_delta_tables(extensions, small_lake, tmp_path):
    out = tmp_path / "bi" / "lake.duckdb"
    result = bi.build_duckdb(small_lake, out)
    assert result["tables"] == ["gold.district_daily_counts", "reference.police_districts"]
    assert "bi.district_incident_rates" in result["curated"]
    assert any(s.startswith("bi.incidents ") and "silver.incidents" in s for s in result["skipped"])

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
