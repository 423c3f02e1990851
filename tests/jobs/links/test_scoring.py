"""Scoring helpers: NMI/ARI, precision/recall, ring matching."""

from __future__ import annotations

import pytest

from jobs.links.scoring import community_agreement, precision_recall, ring_precision_recall


def test_community_agreement_is_label_invariant():
    truth = {"a": 0, "b": 0, "c": 1, "d": 1}
    pred = {"a": 7, "b": 7, "c": 3, "d": 3, "extra": 9}
    s = community_agreement(pred, truth)
    assert s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0) and s["n"] == 4
    mixed = community_agreement({"a": 0, "b": 1, "c": 0, "d": 1}, truth)
    assert mixed["nmi"] == pytest.approx(0.0, abs=1e-12) and mixed["ari"] < 0
    assert community_agreement({"a": 1}, truth)["coverage"] == 0.25


PR_CASES = [
    ({"a", "b", "c"}, {"a", "b", "d", "e"}, 2 / 3, 0.5),
    (set(), {"a"}, 0.0, 0.0),
    ({"a"}, {"a"}, 1.0, 1.0),
]


@pytest.mark.parametrize("detected,truth,p,r", PR_CASES)
def test_precision_recall(detected, truth, p, r):
    s = precision_recall(detected, truth)
    assert s["precision"] == pytest.approx(p) and s["recall"] == pytest.approx(r)


def test_ring_precision_recall():
    truth = [{"a", "b", "c"}, {"x", "y"}]
    detected = [{"a", "b", "c", "d"}, {"q", "r"}]  # first matches (J = 0.75), second does not
    s = ring_precision_recall(detected, truth)
    assert s["precision"] == 0.5 and s["recall"] == 0.5
    assert ring_precision_recall(detected, truth, min_jaccard=0.8)["precision"] == 0.0
    with pytest.raises(ValueError):
        ring_precision_recall(detected, truth, min_jaccard=0)
