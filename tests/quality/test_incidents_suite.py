"""The incidents suite fails on the rows it should, and names them."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from quality.canonical import check_table
from quality.incidents import check_incidents

BBOXES = {"chicago": (-87.95, 41.64, -87.52, 42.03)}
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def frame(**changes):
    base = {
        "incident_id": ["a", "b", "c"],
        "source": ["chicago", "chicago", "sf"],
        "occurred_at": pd.to_datetime(["2016-01-01", "2016-01-02", "2016-01-03"], utc=True),
        "category": ["robbery"] * 3,
        "lon": [-87.6, -87.6, -122.4],
        "lat": [41.8, 41.8, 37.7],
        "h3": ["8c2664cc0db31ff"] * 3,
    }
    base.update(changes)
    return pd.DataFrame(base)


def test_clean_frame_passes():
    # the San Francisco row has no study area: valid coordinates are enough
    assert check_incidents(frame(), bboxes=BBOXES, now=NOW).success


def test_each_broken_rule_is_reported_with_examples():
    df = frame(
        incident_id=["a", "a", "c"],
        occurred_at=pd.to_datetime(["2016-01-01", "2030-01-02", "1980-01-03"], utc=True),
        category=["robbery", "mugging", "robbery"],
        lon=[-87.6, -73.9, -122.4],
    )
    report = check_incidents(df, bboxes=BBOXES, now=NOW)
    assert not report.success
    failed = {(o.expectation, o.column) for o in report.failed}
    assert failed == {
        ("expect_column_values_to_be_unique", "incident_id"),
        ("expect_column_values_to_be_between", "occurred_at"),
        ("expect_column_values_to_be_in_set", "category"),
        ("expect_column_values_to_be_in_set", "inside_study_area"),
    }
    assert "FAILED" in report.to_markdown()


def test_canonical_suite_for_cdrs():
    df = pd.DataFrame({
        "event_id": ["e1", "e1"], "caller": ["x", None], "callee": ["y", "z"],
        "start_time": pd.to_datetime(["2017-01-01", "2017-01-02"], utc=True), "duration_s": [10, 20],
        "kind": ["voice", "fax"], "direction": ["out", "in"], "cell_id": ["c", "c"], "imei": ["i", "i"],
        "imsi": ["s", "s"], "source": ["s", "s"], "ingest_id": ["g", "g"], "source_file": ["f", "f"], "source_row": [1, 2],
    })
    report = check_table("cdr_events", df, now=NOW)
    failed = {(o.expectation, o.column) for o in report.failed}
    assert failed == {
        ("expect_column_values_to_be_unique", "event_id"),
        ("expect_column_values_to_not_be_null", "caller"),
        ("expect_column_values_to_be_in_set", "kind"),
    }
