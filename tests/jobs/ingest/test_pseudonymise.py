"""Keyed pseudonymisation: deterministic, key-dependent, normalisation-invariant, null-preserving."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest

from jobs.ingest.pseudonymise import DEMO_KEY, normalise, pseudonymise, pseudonymise_columns

KEY2 = b"another-key-of-enough-length-123"


@pytest.mark.parametrize(
    "kind, spellings",
    [
        ("phone", ["+1 (312) 555-0123", "312.555.0123", "0013125550123", "+13125550123", " 1-312-555-0123 "]),
        ("imei", ["490154203237518", "49015420323751", "49-015420-323751-8", "4901542032375101"]),
        ("imsi", ["310260123456789", "310 260 123456789"]),
        ("account", ["US12CFBK00001234567890", "us12 cfbk 0000 1234 5678 90", "US12-CFBK-0000-1234-5678-90"]),
        ("handle", ["@DeShawn_Walker", "deshawn_walker", "  @@DESHAWN_WALKER"]),
        ("name", ["Maria  Lopez", "maria lopez", " MARIA LOPEZ "]),
        ("email", ["Maria.Lopez@Example.com ", "maria.lopez@example.com"]),
    ],
)
def test_spellings_of_one_identifier_give_one_pseudonym(kind, spellings):
    out = pseudonymise(pa.array(spellings), key=DEMO_KEY, kind=kind).to_pylist()
    assert len(set(out)) == 1
    assert len(out[0]) == 32 and int(out[0], 16) >= 0


@pytest.mark.parametrize(
    "kind, raw, expected",
    [
        ("phone", "+44 20 7946 0958", "442079460958"),
        ("phone", "(312) 555-0123", "13125550123"),
        ("imei", "35-332509-123456-7", "35332509123456"),
        ("handle", "@Foo", "foo"),
        ("account", "gb82 west 1234", "GB82WEST1234"),
    ],
)
def test_normalise_table(kind, raw, expected):
    assert normalise(pa.array([raw]), kind=kind).to_pylist() == [expected]


def test_matches_reference_hmac():
    out = pseudonymise(pa.array(["+1 312 555 0123"]), key=DEMO_KEY, kind="phone").to_pylist()[0]
    ref = hmac.new(DEMO_KEY, b"phone\x0013125550123", hashlib.sha256).hexdigest()[:32]
    assert out == ref


def test_deterministic_and_key_dependent():
    a = pa.array(["13125550123", "17735550000"])
    assert pseudonymise(a, key=DEMO_KEY, kind="phone").equals(pseudonymise(a, key=DEMO_KEY, kind="phone"))
    assert set(pseudonymise(a, key=DEMO_KEY, kind="phone").to_pylist()).isdisjoint(
        pseudonymise(a, key=KEY2, kind="phone").to_pylist())
    # the kind separates domains: the same digits as a phone and as an IMSI do not join
    assert pseudonymise(a, key=DEMO_KEY, kind="phone").to_pylist() != pseudonymise(a, key=DEMO_KEY, kind="imsi").to_pylist()


def test_nulls_and_empty_strings_stay_null():
    out = pseudonymise(pa.array(["+13125550123", None, "", "---"]), key=DEMO_KEY, kind="phone")
    assert out.null_count == 3 and out[0].is_valid


def test_chunked_and_list_and_prefix():
    chunked = pa.chunked_array([["3125550123"], [None, "+13125550123"]])
    out = pseudonymise(chunked, key=DEMO_KEY, kind="phone", prefix=True).to_pylist()
    assert out[0] == out[2] and out[0].startswith("phone:") and out[1] is None
    lists = pa.array([["(312) 555-0123", "+17735550000"], None, []]).slice(0)
    got = pseudonymise(lists, key=DEMO_KEY, kind="phone").to_pylist()
    assert got[0][0] == out[0].removeprefix("phone:") and got[1] is None and got[2] == []
    sliced = pseudonymise(pa.array([["a"], ["b", "c"]]).slice(1), key=DEMO_KEY, kind="handle").to_pylist()
    assert sliced == [pseudonymise(pa.array(["b", "c"]), key=DEMO_KEY, kind="handle").to_pylist()]


def test_columns_helper_keeps_layout():
    t = pa.table({"a_number": ["+13125550123"], "imei": ["490154203237518"], "n": [1]})
    out = pseudonymise_columns(t, {"a_number": "phone", "imei": "imei"}, key=DEMO_KEY)
    assert out.column_names == t.column_names and out["n"].equals(t["n"])
    assert out["imei"][0].as_py() == pseudonymise(pa.array(["49015420323751"]), key=DEMO_KEY, kind="imei")[0].as_py()


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"key": "text-key-not-bytes-123"}, TypeError),
        ({"key": b"short"}, ValueError),
        ({"key": DEMO_KEY, "kind": "passport"}, ValueError),
        ({"key": DEMO_KEY, "hex_chars": 8}, ValueError),
    ],
)
def test_rejects_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        pseudonymise(pa.array(["x"]), **kwargs)


def test_rejects_non_string_values():
    with pytest.raises(TypeError, match="string"):
        pseudonymise(pa.array([1, 2]), key=DEMO_KEY, kind="phone")


def test_each_distinct_value_hashed_once_equals_the_row_wise_hash():
    # distinct spellings are hashed once and expanded with a take: the same pseudonyms as hashing each row
    import random

    rng = random.Random(7)
    values = [rng.choice(["+1 312 555 %04d" % rng.randrange(50), None, "", "N/A", "0013125550000"])
              for _ in range(2000)]
    got = pseudonymise(pa.array(values, pa.string()), key=DEMO_KEY, kind="phone").to_pylist()
    norm = normalise(pa.array(values, pa.string()), kind="phone").to_pylist()
    want = [None if v is None else hmac.new(DEMO_KEY, b"phone\x00" + v.encode(), hashlib.sha256).hexdigest()[:32]
            for v in norm]
    assert got == want


def test_pseudonymise_encoded_equals_pseudonymise():
    import pyarrow.compute as pc

    from jobs.ingest.pseudonymise import pseudonymise_encoded

    values = pa.array(["+1 (312) 555-0123", None, "312.555.0123", "N/A", "", "+44 20 7946 0000", "N/A"] * 3)
    encoded = pc.dictionary_encode(values)
    got = pseudonymise_encoded(encoded, normalise(encoded.dictionary, kind="phone"), key=DEMO_KEY, kind="phone")
    assert got.equals(pseudonymise(values, key=DEMO_KEY, kind="phone"))
    with pytest.raises(ValueError, match="at least 16"):
        pseudonymise_encoded(encoded, encoded.dictionary, key=b"short", kind="phone")
