"""Which phone a CDR row speaks for (jobs/cdr.py), shared by the fusion and link kernels."""

from __future__ import annotations

import pyarrow as pa
import pytest

from jobs.cdr import other_party, served_party

CASES = [
    # direction per row (None: no direction column), expected served, expected other
    (["out", "in", None, "in"], ["A", "b2", "C", "d2"], ["a2", "B", "c2", "D"]),
    (None, ["A", "B", "C", "D"], ["a2", "b2", "c2", "d2"]),
]


@pytest.mark.parametrize("direction, served, other", CASES)
@pytest.mark.parametrize("chunked", [False, True])
def test_served_and_other_party(direction, served, other, chunked):
    cols = {"caller": ["A", "B", "C", "D"], "callee": ["a2", "b2", "c2", "d2"]}
    if direction is not None:
        cols["direction"] = direction
    table = pa.table(cols)
    if chunked:
        table = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert isinstance(served_party(table), pa.Array)
    assert served_party(table).to_pylist() == served
    assert other_party(table).to_pylist() == other


def test_empty_table():
    empty = pa.table({"caller": pa.array([], pa.string()), "callee": pa.array([], pa.string()),
                      "direction": pa.array([], pa.string())})
    assert served_party(empty).to_pylist() == [] and other_party(empty).to_pylist() == []
