"""Unsupervised entity anomaly detectors with per-feature explanations.

Two estimators with scikit-learn's shape and one scoring convention: higher
``score_samples`` means more anomalous, ``contributions`` gives each feature's
share in that score, ``predict`` flags the top ``contamination`` share seen in
training.

- :class:`IsolationForestDetector` wraps :class:`sklearn.ensemble.IsolationForest`
  and explains a score by the features split on along each isolation path.
- :class:`ECODDetector` is ECOD (empirical-CDF outlier detection): a feature's
  contribution is the negative log of its empirical tail probability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import IsolationForest


def _as_matrix(X, n_features: int | None = None) -> np.ndarray:
    try:
        a = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"X must be numeric (rows x features): {e}") from e
    if a.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features), got shape {a.shape}")
    if n_features is not None and a.shape[1] != n_features:
        raise ValueError(f"X has {a.shape[1]} features, the detector was fitted on {n_features}")
    if not np.isfinite(a).all():
        raise ValueError("X has NaN or infinite values; impute them before scoring")
    # Both detectors compare in float32, as the ONNX tree ensemble does.
    return a.astype(np.float32).astype(np.float64)


def _check_contamination(c: float) -> None:
    if not 0 < c < 0.5:
        raise ValueError(f"contamination must lie in (0, 0.5), got {c}")


def top_features(contrib: np.ndarray, names: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` largest contributions of each row as ``(feature, value)`` pairs."""
    contrib = np.asarray(contrib)
    k = min(k, contrib.shape[1])
    idx = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(contrib, idx, axis=1)
    names = np.asarray(names, dtype=object)
    return [list(zip(names[i].tolist(), v.tolist())) for i, v in zip(idx, vals)]


class _Detector:
    feature_names_: list[str]
    threshold_: float
    n_features_in_: int

    def _set_names(self, n: int, feature_names: Sequence[str] | None) -> None:
        if feature_names is None:
            feature_names = [f"x{i}" for i in range(n)]
        if len(feature_names) != n:
            raise ValueError(f"{len(feature_names)} feature names for {n} features")
        self.feature_names_ = list(feature_names)
        self.n_features_in_ = n

    def predict(self, X) -> np.ndarray:
        """1 where the score exceeds the training ``1 - contamination`` quantile, else 0."""
        return (self.score_samples(X) > self.threshold_).astype(np.int64)

    def explain(self, X, k: int = 3) -> list[list[tuple[str, float]]]:
        """Top ``k`` contributing features per row (see :func:`top_features`)."""
        return top_features(self.contributions(X), self.feature_names_, k)


class IsolationForestDetector(_Detector):
    """Isolation Forest with path-length feature attribution.

    Parameters
    ----------
    n_estimators, max_samples : int
        Trees and subsample size (Liu et al.'s defaults: 100 and 256).
    contamination : float
        Share of training rows ``predict`` flags.
    log_transform : bool
        Fit on ``log1p`` of non-negative features. Isolation splits are drawn
        uniformly between a feature's min and max, so a heavy right tail (fan-in
        counts, amounts) would waste most splits on a few extreme values.
    seed : int
        Random state of the forest.

    Notes
    -----
    Liu, Ting & Zhou 2008, "Isolation Forest", ICDM: score ``2^(-E[h(x)]/c(psi))``
    with ``h`` the path length and ``c`` the average unsuccessful-search length
    of a BST. Attribution: a local, depth-based importance in the spirit of
    DIFFI (Carletti, Terzi & Susto 2023, "Interpretable anomaly detection with
    DIFFI", *Engineering Applications of AI* 119): every split on the path of
    ``x`` in tree ``t`` credits its feature with ``1 / h_t(x)``, so features that
    isolate a row in few splits get most credit. Credits are a constant per leaf,
    which is what lets the ONNX export compute them in the same tree-ensemble op
    as the score.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int = 256,
        contamination: float = 0.01,
        log_transform: bool = True,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.log_transform = log_transform
        self.seed = seed

    def _pre(self, X: np.ndarray) -> np.ndarray:
        if self.log_transform:
            X = np.where(self.log_mask_[None, :], np.log1p(np.maximum(X, 0.0)), X)
        return X

    def fit(self, X, y=None, feature_names: Sequence[str] | None = None) -> IsolationForestDetector:
        """Fit the forest on rows of ``X`` (``y`` is ignored)."""
        _check_contamination(self.contamination)
        a = _as_matrix(X)
        self._set_names(a.shape[1], feature_names)
        self.log_mask_ = (a.min(axis=0) >= 0) if self.log_transform else np.zeros(a.shape[1], bool)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(a)),
            random_state=self.seed,
        ).fit(self._pre(a).astype(np.float32))
        self._build_leaf_tables()
        self.threshold_ = float(np.quantile(self.score_samples(a), 1 - self.contamination))
        return self

    def _build_leaf_tables(self) -> None:
        """Per tree: each leaf's path length ``h`` and per-feature credits ``count_f / h``."""
        f = self.forest_
        F = self.n_features_in_
        self.leaf_h_, self.leaf_credit_ = [], []
        for tree, feats, depth, avg in zip(
            f.estimators_, f.estimators_features_, f._decision_path_lengths, f._average_path_length_per_tree
        ):
            t = tree.tree_
            h = depth + avg - 1.0
            counts = np.zeros((t.node_count, F))
            stack = [(0, np.zeros(F))]
            while stack:
                node, c = stack.pop()
                counts[node] = c
                if t.children_left[node] != -1:
                    c2 = c.copy()
                    c2[feats[t.feature[node]]] += 1.0
                    stack += [(t.children_left[node], c2), (t.children_right[node], c2)]
            with np.errstate(divide="ignore", invalid="ignore"):
                credit = np.where(h[:, None] > 0, counts / h[:, None], 0.0)
            self.leaf_h_.append(h)
            self.leaf_credit_.append(credit)
        self.denominator_ = len(f.estimators_) * _avg_path_length(f.max_samples_)

    def _leaves(self, X: np.ndarray) -> list[np.ndarray]:
        Xp = self._pre(_as_matrix(X, self.n_features_in_)).astype(np.float32)
        return [t.apply(Xp[:, feats]) for t, feats in zip(self.forest_.estimators_, self.forest_.estimators_features_)]

    def score_samples(self, X) -> np.ndarray:
        """Anomaly score in (0, 1): ``2^(-E[h]/c)`` (Liu et al.; 0.5 and above is unusual)."""
        if not hasattr(self, "forest_"):
            raise ValueError("fit the detector before scoring")
        Xp = self._pre(_as_matrix(X, self.n_features_in_)).astype(np.float32)
        return -self.forest_.score_samples(Xp)

    def contributions(self, X) -> np.ndarray:
        """Path-length credit of each feature per row, summed over trees (rows x features)."""
        out = None
        for leaves, credit in zip(self._leaves(X), self.leaf_credit_):
            c = credit[leaves]
            out = c if out is None else out + c
        return out


def _avg_path_length(n: int) -> float:
    """``c(n)``: average path length of an unsuccessful BST search (Liu et al. 2008)."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


class ECODDetector(_Detector):
    """ECOD: outlier score from per-feature empirical tail probabilities.

    Parameters
    ----------
    max_bins : int
        Most distinct values kept per feature; with more, the empirical CDF is
        kept at ``max_bins`` quantiles (exact for counts with fewer values).
    contamination : float
        Share of training rows ``predict`` flags.

    Notes
    -----
    Li, Zhao, Hu, Botta, Ionescu & Chen 2022, "ECOD: Unsupervised Outlier
    Detection Using Empirical Cumulative Distribution Functions", *IEEE TKDE*
    35(12); PyOD's ``ECOD``. For each feature the left and right tail
    probabilities ``F(x) = P(X <= x)`` and ``P(X >= x)`` are read from the
    training data; the score is the largest of the summed ``-log`` left tails,
    the summed right tails, and the sum over each feature's skew-directed tail.
    A feature's contribution is its term in the winning sum, so explanations add
    up to the score exactly. No parameters to tune, no randomness, and it works
    on raw skewed counts because only ranks matter. Tail probabilities are
    floored at ``1 / (n + 1)``.
    """

    def __init__(self, max_bins: int = 1024, contamination: float = 0.01) -> None:
        self.max_bins = max_bins
        self.contamination = contamination

    def fit(self, X, y=None, feature_names: Sequence[str] | None = None) -> ECODDetector:
        """Store each feature's empirical CDF (``y`` is ignored)."""
        _check_contamination(self.contamination)
        if self.max_bins < 2:
            raise ValueError(f"max_bins must be >= 2, got {self.max_bins}")
        a = _as_matrix(X)
        n, F = a.shape
        if n < 2:
            raise ValueError("ECOD needs at least two rows to fit")
        self._set_names(F, feature_names)
        self.n_train_ = n
        self.grid_, self.cnt_le_, self.cnt_ge_ = [], [], []
        for j in range(F):
            col = np.sort(a[:, j])
            u = np.unique(col)
            if len(u) > self.max_bins:
                u = np.unique(np.quantile(col, np.linspace(0, 1, self.max_bins), method="inverted_cdf"))
            u = u.astype(np.float32).astype(np.float64)
            self.grid_.append(u)
            self.cnt_le_.append(np.searchsorted(col, u, side="right").astype(np.float64))
            self.cnt_ge_.append((n - np.searchsorted(col, u, side="left")).astype(np.float64))
        m = a.mean(0)
        sd = a.std(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = np.where(sd > 0, ((a - m) ** 3).mean(0) / sd**3, 0.0)
        self.skew_sign_ = np.where(skew < 0, -1, 1)
        self.threshold_ = float(np.quantile(self.score_samples(a), 1 - self.contamination))
        return self

    def tail_tables(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per feature: grid, ``-log`` left tail of each left-closed interval, ``-log`` right tail of each right-closed one.

        Left: ``len(grid) + 1`` values for ``(-inf, g0), [g0, g1), ..., [g_last, inf)``.
        Right: ``len(grid) + 1`` values for ``(-inf, g0], (g0, g1], ..., (g_last, inf)``.
        """
        n = self.n_train_
        floor = 1.0 / (n + 1)
        out = []
        for g, le, ge in zip(self.grid_, self.cnt_le_, self.cnt_ge_):
            left = -np.log(np.maximum(np.concatenate([[0.0], le]) / n, floor))
            right = -np.log(np.maximum(np.concatenate([ge, [0.0]]) / n, floor))
            out.append((g, left, right))
        return out

    def _tails(self, X) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "grid_"):
            raise ValueError("fit the detector before scoring")
        a = _as_matrix(X, self.n_features_in_)
        L = np.empty_like(a)
        R = np.empty_like(a)
        for j, (g, left, right) in enumerate(self.tail_tables()):
            L[:, j] = left[np.searchsorted(g, a[:, j], side="right")]
            R[:, j] = right[np.searchsorted(g, a[:, j], side="left")]
        return L, R

    def _parts(self, X) -> tuple[np.ndarray, np.ndarray]:
        L, R = self._tails(X)
        auto = np.where(self.skew_sign_[None, :] < 0, L, R)
        stacked = np.stack([L, R, auto], axis=1)  # rows x 3 x features
        sums = stacked.sum(axis=2)
        win = np.argmax(sums, axis=1)
        return sums[np.arange(len(sums)), win], stacked[np.arange(len(sums)), win]

    def score_samples(self, X) -> np.ndarray:
        """``max(O_left, O_right, O_auto)``; higher is more anomalous."""
        return self._parts(X)[0]

    def contributions(self, X) -> np.ndarray:
        """Each feature's ``-log`` tail term in the winning sum (rows x features; rows sum to the score)."""
        return self._parts(X)[1]
