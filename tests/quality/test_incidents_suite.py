"""The incidents suite fails on the rows it should, and names them."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from quality.incidents import check_incidents

BBOX = (-87.95, 41.64, -87.52, 42.03)
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def frame(**changes):
    base = {
        "incident_id": ["a", "b", "c"],
        "occurred_at": pd.to_datetime(["2016-01-01", "2016-01-02", "2016-01-03"], utc=True),
        "category": ["robbery"] * 3,
        "lon": [-87.6] * 3,
        "lat": [41.8] * 3,
        "h3": ["8c2664cc0db31ff"] * 3,
    }
    base.update(changes)
    return pd.DataFrame(base)


def test_clean_frame_passes():
    assert check_incidents(frame(), bbox=BBOX, now=NOW).success


def test_each_broken_rule_is_reported_with_examples():
    df = frame(
        incident_id=["a", "a", "c"],
        occurred_at=pd.to_datetime(["2016-01-01", "2030-01-02", "1980-01-03"], utc=True),
        category=["robbery", "mugging", "robbery"],
        lon=[-87.6, -73.9, -87.6],
    )
    report = check_incidents(df, bbox=BBOX, now=NOW)
    assert not report.success
    failed = {(o.expectation, o.column) for o in report.failed}
    assert failed == {
        ("expect_column_values_to_be_unique", "incident_id"),
        ("expect_column_values_to_be_between", "occurred_at"),
        ("expect_column_values_to_be_in_set", "category"),
        ("expect_column_values_to_be_between", "lon"),
    }
    markdown = report.to_markdown()
    assert "FAILED" in markdown and "mugging" in markdown or "b" in markdown
