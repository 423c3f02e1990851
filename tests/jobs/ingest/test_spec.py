"""Spec validation: a readable error naming the file and the key."""

from __future__ import annotations

import pytest

from jobs.ingest.spec import SpecError, load_spec

VALID = """
name: demo
table: incidents
fields:
  occurred_at: {column: date, format: "%Y-%m-%d", timezone: America/Chicago}
  category: {constant: robbery}
coordinates: {x: lon, y: lat}
"""


def write(tmp_path, text):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def test_bundled_spec_loads(chicago_spec):
    assert chicago_spec.table == "incidents"
    assert chicago_spec.required_columns == ["date", "loc_cat", "longitude", "latitude"]
    assert chicago_spec.resolve_files()[0].name == "aggravated_assaults_2010_2017.csv.gz"


def test_valid_minimal(tmp_path):
    spec = load_spec(write(tmp_path, VALID))
    assert spec.name == "demo" and spec.format.kind == "csv"


@pytest.mark.parametrize(
    "change,message",
    [
        (("table: incidents", "table: crimes"), "unknown table 'crimes'"),
        (("timezone: America/Chicago", "timezone: Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("coordinates: {x: lon, y: lat}", "coordinates: {x: lon, y: lat}\ntimezone: Europe/Atlantis"),
         "unknown time zone 'Europe/Atlantis'"),
        (("{constant: robbery}", "{constant: burglary, column: x}"), "exactly one of"),
        (("coordinates: {x: lon, y: lat}", "coordinates: {x: lon}"), "give both 'x' and 'y'"),
        (("name: demo", "name: Demo City"), "name"),
        (("category: {constant: robbery}", "colour: {constant: red}"), "not settable fields"),
        (("coordinates: {x: lon, y: lat}", "coordinates: {x: lon, y: lat}\nbounds: [-87.5, 41.6, -88.0, 42.1]"),
         "min < max"),
        (("coordinates: {x: lon, y: lat}", "coordinates: {x: lon, y: lat}\nbounds: [-88.0, 41.6, -87.5]"), "bounds"),
    ],
)
def test_invalid_specs(tmp_path, change, message):
    path = write(tmp_path, VALID.replace(*change))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_local_timezone_the_spec_s_then_the_occurred_at_field_s_then_utc(tmp_path):
    assert load_spec(write(tmp_path, VALID)).local_timezone == "America/Chicago"
    assert load_spec(write(tmp_path, VALID + "timezone: Europe/Paris\n")).local_timezone == "Europe/Paris"
    naive = VALID.replace(', timezone: America/Chicago', '')
    assert load_spec(write(tmp_path, naive)).local_timezone == "UTC"


def test_display_time_zone_re_parses_nothing(tmp_path):
    """A spec's ``timezone`` changes how times are shown, not what a parse makes of a row: the receipts'
    fingerprint, whose change re-parses every receipt, stays the same."""
    from orchestration.ingest.receipts import spec_fingerprint

    before = spec_fingerprint(load_spec(write(tmp_path, VALID)), b"k")
    assert spec_fingerprint(load_spec(write(tmp_path, VALID + "timezone: Europe/Paris\n")), b"k") == before
    changed = VALID.replace("America/Chicago", "Europe/Paris")  # the parse's zone: every row may move
    assert spec_fingerprint(load_spec(write(tmp_path, changed)), b"k") != before


def test_unknown_key_is_rejected(tmp_path):
    with pytest.raises(SpecError, match="delimitr"):
        load_spec(write(tmp_path, VALID + "format: {kind: csv, delimitr: ';'}\n"))


def test_category_targets_must_be_canonical(tmp_path):
    with pytest.raises(SpecError, match="not canonical offense categories"):
        load_spec(write(tmp_path, VALID + "categories: {mapping: {ROBBERY: mugging}}\n"))


def test_not_yaml_and_missing(tmp_path):
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(write(tmp_path, "name: [unclosed"))
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "missing.yaml")
