"""The anomaly report's default time zone: the local zone its feeds' specs share, else UTC."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.anomalies.inputs import ReportConfig, feeds_timezone
from orchestration.resources.sources import SourceCatalog


def spec(folder: Path, name: str, table: str, zone: str | None) -> str:
    path = folder / f"{name}.yaml"
    fields = {"cdr_events": "caller: {column: a}", "transactions": "account: {column: a}",
              "incidents": "occurred_at: {column: d, format: iso8601}\n  category: {constant: robbery}\n"
                           "coordinates: {x: lon, y: lat}"}[table]
    path.write_text(f"name: {name}\ntable: {table}\n" + (f"timezone: {zone}\n" if zone else "") +
                    f"fields:\n  {fields}\n")
    return str(path)


@pytest.mark.parametrize("feeds, expected", [
    ([("cdr", "cdr_events", "America/Chicago"), ("tx", "transactions", "America/Chicago"),
      ("nyc", "incidents", "America/New_York")], "America/Chicago"),   # the cities' incidents do not choose
    ([("cdr", "cdr_events", "America/Chicago"), ("tx", "transactions", "Europe/Paris")], "UTC"),  # they differ
    ([("cdr", "cdr_events", None)], "UTC"),
    ([("nyc", "incidents", "America/New_York")], "UTC"),                # no feed the report shows by the hour
])
def test_feeds_timezone(tmp_path, feeds, expected):
    paths = [spec(tmp_path, n, t, z) for n, t, z in feeds]
    assert feeds_timezone(SourceCatalog(spec_paths=paths)) == expected


def test_report_config_checks_the_zone():
    assert ReportConfig().timezone == "" and ReportConfig(timezone="Asia/Tokyo").timezone == "Asia/Tokyo"
    with pytest.raises(Exception, match="unknown time zone 'Mars/Base'"):
        ReportConfig(timezone="Mars/Base")
