"""Per-cell time profiles (jobs/grid/profiles.py): arithmetic, no leakage, and their choice on validation."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.grid.profiles import choose_profile, profile_cycles, slot_multipliers


def test_cycles_follow_the_period_length():
    assert profile_cycles(1, 1 / 7) == ()
    assert profile_cycles(7, 1.0) == (7,)
    assert profile_cycles(21, 3.0) == (3, 21)
    assert profile_cycles(28, 4.0) == (4, 28)


def test_multipliers_by_hand():
    # two cells, cycle 2, window 4: cell 0 has 3 incidents in even periods and 1 in odd ones before period 10
    cell = np.array([0, 0, 0, 0, 1, 1])
    period = np.array([6, 8, 8, 9, 7, 9])
    m = slot_multipliers(cell, period, 2, [10, 11], cycle=2, window=4, prior=2.0)
    # area: 3 of 6 incidents in even slots -> share 0.5; cell 0, even slot: (3 + 2 * 0.5) / (4 + 2)
    assert m[0, 0] == pytest.approx(2 * (3 + 1) / 6)
    # cell 1 has none of its 2 incidents in even periods: (0 + 1) / (2 + 2)
    assert m[0, 1] == pytest.approx(2 * 1 / 4)
    # period 11 (odd) reads periods 7..10: cell 0 has period-9's one of 3 (8, 8, 9) -> (1 + 1) / (3 + 2); area 3 of 5
    area = 3 / 5
    assert m[1, 0] == pytest.approx(2 * (1 + 2 * area) / (3 + 2))
    assert m[1, 1] == pytest.approx(2 * (2 + 2 * area) / (2 + 2))


def test_a_cell_without_history_gets_the_area_and_uniform_history_gets_one():
    cell = np.repeat([0, 1], 40)
    period = np.tile(np.arange(40), 2)
    m = slot_multipliers(cell, period, 3, [20, 21, 22], cycle=7, window=14, prior=10.0)
    np.testing.assert_allclose(m, 1.0)  # every slot equally often, everywhere; cell 2 has no history


def test_a_period_never_reads_its_own_or_later_incidents():
    rng = np.random.default_rng(0)
    cell = rng.integers(0, 5, 400)
    period = rng.integers(0, 60, 400)
    scored = [40, 45, 50]
    base = slot_multipliers(cell, period, 5, scored, cycle=3, window=21, prior=5.0)
    for i, p in enumerate(scored):
        later = period >= p
        moved = slot_multipliers(np.concatenate([cell, cell[later]]), np.concatenate([period, period[later]]), 5,
                                 [p], cycle=3, window=21, prior=5.0)
        np.testing.assert_allclose(moved[0], base[i])
    # an earlier incident in the window does move it
    more = slot_multipliers(np.append(cell, 0), np.append(period, 39), 5, [40], cycle=3, window=21, prior=5.0)
    assert not np.allclose(more[0], base[0])


@pytest.mark.parametrize("kw, msg", [
    ({"cycle": 1, "window": 4, "prior": 1.0}, "cycle of at least 2"),
    ({"cycle": 3, "window": 4, "prior": 1.0}, "whole number"),
    ({"cycle": 2, "window": 4, "prior": 0.0}, "positive"),
])
def test_bad_settings_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        slot_multipliers(np.array([0]), np.array([0]), 1, [5], **kw)


def _world(rng, n_cells=200, n_periods=400, cycle=3, peaked=True):
    """Cells with a weekly rate, half of them busy in slot 0 of a 3-slot day and quiet otherwise."""
    rate = rng.gamma(0.5, 0.2, n_cells)
    shape = np.ones((n_cells, cycle))
    if peaked:
        shape[: n_cells // 2] = [2.6, 0.2, 0.2]
        shape[n_cells // 2:] = [0.2, 1.4, 1.4]
    lam = rate[None, :] * shape[:, np.arange(n_periods) % cycle].T
    y = rng.poisson(lam)
    cell = np.concatenate([np.repeat(np.arange(n_cells), y[p]) for p in range(n_periods)])
    period = np.concatenate([np.full(y[p].sum(), p) for p in range(n_periods)])
    return rate, y, cell, period


def test_a_real_profile_is_chosen_and_a_flat_world_gets_none():
    rng = np.random.default_rng(1)
    rate, y, cell, period = _world(rng)
    scored = np.arange(300, 400)
    pred = np.tile(rate, (len(scored), 1))  # a model that knows each cell's rate but not its time of day
    choice, table = choose_profile(pred, y[scored].astype(float), cell, period, scored, cycles=(3,), window=240,
                                   coverage=0.05)
    assert choice is not None and choice["cycle"] == 3 and choice["window"] == 240
    assert table["hit_rate"].max() > table.loc[table["cycle"] == 0, "hit_rate"].iloc[0]

    rate, y, cell, period = _world(np.random.default_rng(2), peaked=False)
    flat, table = choose_profile(np.tile(rate, (len(scored), 1)), y[scored].astype(float), cell, period, scored,
                                 cycles=(3,), window=240, coverage=0.05, priors=(1e6,))
    # with a prior that swamps every cell, the profile cannot reorder cells: no profile wins the tie
    assert flat is None
    assert len(table) == 2


def test_deviance_also_finds_a_real_profile_and_bad_criteria_are_refused():
    rng = np.random.default_rng(3)
    rate, y, cell, period = _world(rng)
    scored = np.arange(300, 400)
    pred = np.tile(rate, (len(scored), 1))
    choice, table = choose_profile(pred, y[scored].astype(float), cell, period, scored, cycles=(3,), window=240,
                                   coverage=0.05, criterion="deviance")
    assert choice is not None and choice["cycle"] == 3
    assert table["deviance"].min() < table.loc[table["cycle"] == 0, "deviance"].iloc[0]
    with pytest.raises(ValueError, match="criterion"):
        choose_profile(pred, y[scored].astype(float), cell, period, scored, cycles=(3,), window=240,
                       coverage=0.05, criterion="auc")


def _brute(cell, period, n, p, cut, cycle, window, prior):
    inw = (period >= cut - window) & (period < cut)
    same = inw & ((period - p) % cycle == 0)
    tot = np.bincount(cell[inw], minlength=n).astype(float)
    sl = np.bincount(cell[same], minlength=n).astype(float)
    area = sl.sum() / tot.sum()
    return cycle * (sl + prior * area) / (tot + prior)


def test_a_cutoff_reads_only_periods_before_it_and_matches_a_direct_count():
    rng = np.random.default_rng(4)
    cell, period = rng.integers(0, 6, 500), rng.integers(0, 90, 500)
    scored, cut = np.array([63, 64, 65, 70, 83]), np.array([63, 63, 63, 63, 77])
    m = slot_multipliers(cell, period, 6, scored, cycle=7, window=42, prior=3.0, cutoff=cut)
    for i, (p, c) in enumerate(zip(scored, cut)):
        np.testing.assert_allclose(m[i], _brute(cell, period, 6, p, c, 7, 42, 3.0))
    plain = slot_multipliers(cell, period, 6, scored, cycle=7, window=42, prior=3.0)
    for i, p in enumerate(scored):
        np.testing.assert_allclose(plain[i], _brute(cell, period, 6, p, p, 7, 42, 3.0))
    with pytest.raises(ValueError, match="own incidents"):
        slot_multipliers(cell, period, 6, [60], cycle=7, window=42, prior=3.0, cutoff=[61])
    with pytest.raises(ValueError, match="one period per scored"):
        slot_multipliers(cell, period, 6, [60, 61], cycle=7, window=42, prior=3.0, cutoff=[60])
