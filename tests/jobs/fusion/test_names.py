"""Tests for jobs.fusion.names: fuzzy person matching on raw bronze names, ids and scores out."""

from __future__ import annotations

import pyarrow as pa
import pytest

from jobs.fusion import names
from jobs.fusion.names import fuzzy_person_matches, name_tokens
from jobs.fusion.schemas import MATCHES

BASE = ("P1", "Aaliyah Holmes", "1998-02-28")
CASES = [
    # (other record, matched?)
    (("P2", "Aaliyah Homles", "1998-02-28"), True),  # transposed letters
    (("P2", "HOLMES, AALIYAH", "1998-02-28"), True),  # reordered with comma, upper case
    (("P2", "Holmes Aaliyah", "1998-02-28"), True),  # first and last swapped, no comma
    (("P2", "Aaliyah J. Holmes", "1998-02-27"), True),  # middle initial, DOB one day off
    (("P2", "Aaliyah Holmes", "1998-28-02"), False),  # unparsable DOB
    (("P2", "Aaliyah Holmes", "1998-03-28"), False),  # different DOB
    (("P2", "Aaliyah Homles", "1975-02-28"), False),  # typo and different DOB
    (("P2", "Aaliyah Brown", "1998-02-28"), False),  # same first name and DOB, other last name
    (("P2", "Marcus Holmes", "1998-02-28"), False),  # same last name and DOB (a twin)
]


def _bronze(rows):
    pid, name, dob = zip(*rows)
    return pa.table({"person_id": list(pid), "name": list(name), "date_of_birth": list(dob),
                     "source_row": list(range(len(rows)))})


@pytest.mark.parametrize("other, matched", CASES)
def test_pairs(other, matched):
    out = fuzzy_person_matches(_bronze([BASE, other]))
    assert out.schema == MATCHES
    assert out.num_rows == int(matched)
    if matched:
        r = out.to_pylist()[0]
        assert (r["person_id_a"], r["person_id_b"]) == ("P1", "P2")
        assert 0.85 <= r["score"] <= 1.0
        assert r["evidence"].startswith("fuzzy name + date of birth")


def test_output_has_no_raw_name():
    rows = [BASE, ("P2", "Aaliyah Homles", "1998-02-28"), ("P3", "HOLMES, AALIYAH", "1998-02-28")]
    out = fuzzy_person_matches(_bronze(rows))
    assert out.num_rows == 3
    text = " ".join(str(v) for row in out.to_pylist() for v in row.values()).casefold()
    assert "aaliyah" not in text and "holm" not in text


def test_day_month_swap_scores_below_equal_dob():
    rows = [("P1", "Maria Rodriguez", "1980-06-01"), ("P2", "Maria Rodriguez", "1980-01-06"),
            ("P3", "Maria Rodriguez", "1980-06-01")]
    out = {(r["person_id_a"], r["person_id_b"]): r["score"] for r in fuzzy_person_matches(_bronze(rows)).to_pylist()}
    assert out[("P1", "P3")] == pytest.approx(1.0)
    assert out[("P1", "P2")] == pytest.approx(names.DOB_NEAR_FACTOR)


def test_threshold_and_date_columns():
    rows = [BASE, ("P2", "Aaliyah Homles", "1998-02-28")]
    assert fuzzy_person_matches(_bronze(rows), threshold=1.0).num_rows == 0
    t = _bronze(rows)
    t = t.set_column(2, "date_of_birth", pa.array([None, None], pa.string()))
    assert fuzzy_person_matches(t).num_rows == 0


def test_name_tokens():
    assert name_tokens("  SMITH,  Jon ") == ("jon", "smith")
    assert name_tokens("José  Q. Núñez") == ("jose", "nunez")
    assert name_tokens("J.") is None and name_tokens(None) is None


def test_difflib_fallback_still_matches_a_typo(monkeypatch):
    monkeypatch.setattr(names, "_JW", None)
    out = fuzzy_person_matches(_bronze([BASE, ("P2", "Aaliyah Homles", "1998-02-28")]))
    assert out.num_rows == 1


def test_errors():
    with pytest.raises(ValueError, match="threshold"):
        fuzzy_person_matches(_bronze([BASE]), threshold=1.5)
    with pytest.raises(ValueError, match="name"):
        fuzzy_person_matches(_bronze([BASE]).drop_columns(["name"]))
