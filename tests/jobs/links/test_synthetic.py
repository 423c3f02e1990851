"""The power-law CDR generator's planted groups (the truth the benchmark scores communities against)."""

from __future__ import annotations

import pytest

from jobs.links.synthetic import power_law_cdr, power_law_groups


@pytest.mark.parametrize("p_in,low,high", [(1.0, 0.95, 1.0), (0.0, 0.0, 0.1)])
def test_power_law_groups_are_the_planted_ones(p_in, low, high):
    cdr = power_law_cdr(20_000, p_in=p_in, seed=3)
    truth = power_law_groups(20_000, seed=3)
    assert len(truth) == 1000 and len(set(truth.values())) == 20
    callers, callees = cdr["caller"].to_pylist(), cdr["callee"].to_pylist()
    assert set(callers) | set(callees) <= set(truth)
    inside = sum(truth[a] == truth[b] for a, b in zip(callers, callees)) / len(callers)
    # with p_in = 1 only the few self-calls moved to the next phone leave the group
    assert low <= inside <= high, inside
