"""Scoring link analysis against planted truth: community agreement, detection precision/recall.

Truth thresholds
----------------
The one set of thresholds the truth checks (``orchestration/links/checks.py``),
the tests (``tests/jobs/links/test_synth_truth.py``,
``tests/orchestration/links/test_link_assets.py``) and the benchmark
(``benchmarks/links.py``) hold the link analysis to, on a ``jobs.synth`` world
with planted groups, burners, transfer rings and mules:

==========================================  ===========
score                                        threshold
==========================================  ===========
communities vs planted groups: NMI           >= 0.80
communities vs planted groups: ARI           >= 0.70
burner phones: precision / recall            0.75 / 0.70
cycle rings (Jaccard >= 0.5): P / R          0.80 / 0.75
mule accounts: P / R                         0.80 / 0.80
==========================================  ===========

What they score is measured by ``benchmarks/links.py`` and recorded with its
command in ``docs/links.md``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

COMMUNITY_MIN_NMI = 0.80
COMMUNITY_MIN_ARI = 0.70
BURNER_MIN_PRECISION = 0.75
BURNER_MIN_RECALL = 0.70
RING_MIN_PRECISION = 0.80
RING_MIN_RECALL = 0.75
MULE_MIN_PRECISION = 0.80
MULE_MIN_RECALL = 0.80
#: A detected ring matches a planted one when the Jaccard index of their accounts reaches this.
RING_MIN_JACCARD = 0.5


def labels_from_table(table: pa.Table, key: str, label: str) -> dict[str, Hashable]:
    """``{key: label}`` from two columns of an Arrow table (e.g. phone -> community)."""
    if key not in table.column_names or label not in table.column_names:
        raise ValueError(f"table needs columns {key!r} and {label!r}; found {table.column_names}")
    return dict(zip(table.column(key).to_pylist(), table.column(label).to_pylist()))


def community_agreement(predicted: Mapping[str, Hashable], truth: Mapping[str, Hashable]) -> dict[str, float]:
    """NMI and ARI of predicted communities against planted groups, on the nodes both label.

    Parameters
    ----------
    predicted : mapping
        Node -> predicted community.
    truth : mapping
        Node -> planted group (nodes outside any group should be left out).

    Returns
    -------
    dict
        ``nmi`` (arithmetic normalisation), ``ari``, ``n`` (nodes scored),
        ``coverage`` (share of truth nodes that were predicted).

    Notes
    -----
    Normalised mutual information (Danon et al., 2005) and the adjusted Rand
    index (Hubert & Arabie, 1985), from scikit-learn.
    """
    common = sorted(set(predicted) & set(truth), key=str)
    if len(truth) == 0:
        raise ValueError("truth is empty: nothing to score against")
    if len(common) < 2:
        return {"nmi": 0.0, "ari": 0.0, "n": float(len(common)), "coverage": len(common) / len(truth)}
    p = [str(predicted[k]) for k in common]
    t = [str(truth[k]) for k in common]
    return {
        "nmi": float(normalized_mutual_info_score(t, p)),
        "ari": float(adjusted_rand_score(t, p)),
        "n": float(len(common)),
        "coverage": len(common) / len(truth),
    }


def precision_recall(detected: Iterable[Hashable], truth: Iterable[Hashable]) -> dict[str, float]:
    """Precision, recall and F1 of a detected set (e.g. burner phones, mule accounts)."""
    d, t = set(detected), set(truth)
    tp = len(d & t)
    precision = tp / len(d) if d else 0.0
    recall = tp / len(t) if t else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": float(tp), "fp": float(len(d - t)), "fn": float(len(t - d))}


def ring_precision_recall(
    detected: Sequence[Iterable[Hashable]], truth: Sequence[Iterable[Hashable]], *, min_jaccard: float = 0.5
) -> dict[str, float]:
    """Precision and recall of detected rings, a ring matching when the Jaccard index of members >= ``min_jaccard``.

    Precision is the share of detected rings matching some planted ring;
    recall the share of planted rings matched by some detected ring.
    """
    if not 0 < min_jaccard <= 1:
        raise ValueError(f"min_jaccard must be in (0, 1], got {min_jaccard}")
    ds = [set(x) for x in detected]
    ts = [set(x) for x in truth]
    if not ds or not ts:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "mean_best_jaccard": 0.0}
    jac = np.array([[len(a & b) / len(a | b) if a | b else 0.0 for b in ts] for a in ds])
    precision = float((jac.max(axis=1) >= min_jaccard).mean())
    recall = float((jac.max(axis=0) >= min_jaccard).mean())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "mean_best_jaccard": float(jac.max(axis=0).mean())}
