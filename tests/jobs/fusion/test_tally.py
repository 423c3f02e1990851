"""Key tallies: equal multisets give equal tallies; a key twice, missing or extra does not; change feeds add up."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from jobs.fusion.tally import combine, tally

KEYS = [f"cdr_events:{i:06d}" for i in range(50)]
CASES = {  # name: (keys, equal to KEYS' tally)
    "same keys, other order": (KEYS[::-1], True),
    "one key twice, another missing": (KEYS[:-1] + KEYS[:1], False),
    "one key missing": (KEYS[:-1], False),
    "one key extra": (KEYS + ["cdr_events:x"], False),
    "one key changed": (KEYS[:-1] + ["cdr_events:000049 "], False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_tally_tells_multisets_apart(name):
    keys, equal = CASES[name]
    assert (tally(pa.array(keys)) == tally(pa.array(KEYS))) is equal


def test_signed_changes_add_up_to_the_new_table():
    before = pa.array(KEYS)
    # a change feed: two keys deleted, three inserted, one replaced (delete + insert of the same key)
    feed = pa.array(["cdr_events:000003", "cdr_events:000007", "n1", "n2", "n3", "cdr_events:000010",
                     "cdr_events:000010"])
    signs = np.array([-1, -1, 1, 1, 1, -1, 1])
    after = [k for k in KEYS if k not in ("cdr_events:000003", "cdr_events:000007")] + ["n1", "n2", "n3"]
    assert combine(tally(before), tally(feed, signs)) == tally(pa.array(after))
    assert combine(tally(before.slice(0, 20)), tally(before.slice(20))) == tally(before)
    assert tally(pa.array([], pa.string())) == (0, 0)


def test_signs_must_match_the_keys():
    with pytest.raises(ValueError, match="signs"):
        tally(pa.array(["a", "b"]), np.array([1]))
