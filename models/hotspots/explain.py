"""Why a cell ranks where it does: per-cell drivers and a model's global importance (TreeSHAP).

The learned model is a LightGBM Poisson regressor: its raw score is the log of
the expected count, and LightGBM's ``pred_contrib`` splits that score exactly
into one additive term per feature plus a bias (TreeSHAP, Lundberg et al. 2020).
A term ``c`` therefore multiplies the expected count by ``exp(c)``: a driver is
shown as ``feature ×1.52`` (raises the expected count by 52 %) or
``feature ×0.80`` (lowers it by 20 %). Serving runs the ONNX graph; the drivers
come from the native booster logged beside it (:data:`NATIVE_FILE`), over the
same feature matrix.

Notes
-----
Lundberg, S. M. et al. (2020). From local explanations to global understanding
with explainable AI for trees. Nature Machine Intelligence 2, 56-67.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["NATIVE_FILE", "contributions", "global_importance", "load_booster", "plot_importance", "top_drivers"]

#: Run artifact holding the native LightGBM booster (text format) of a registered hotspot model.
NATIVE_FILE = "native/lightgbm.txt"


def load_booster(text: str):
    """A LightGBM booster from its text dump (``Booster.model_to_string()``)."""
    import lightgbm as lgb

    return lgb.Booster(model_str=text)


def contributions(booster, X: np.ndarray) -> np.ndarray:
    """``(n, n_features + 1)`` TreeSHAP terms of the raw (log) score; the last column is the bias."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != booster.num_feature():
        raise ValueError(f"expected an (n, {booster.num_feature()}) feature matrix, got {X.shape}")
    return np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)


def top_drivers(contrib: np.ndarray, names: Sequence[str], k: int = 3, min_effect: float = 0.01) -> list[str]:
    """Per row, the ``k`` features that move the expected count most, as ``"name ×1.52; other ×0.80"``.

    Features whose term changes the count by less than ``min_effect`` (1 %) are
    left out; a row with none gets ``""``. Ties break by feature order.
    """
    contrib = np.asarray(contrib, dtype=np.float64)
    if contrib.ndim != 2 or contrib.shape[1] != len(names) + 1:
        raise ValueError(f"contributions need {len(names) + 1} columns (features + bias), got {contrib.shape}")
    terms = contrib[:, :-1]
    order = np.argsort(-np.abs(terms), axis=1, kind="stable")[:, :k]
    out = []
    for row, idx in zip(terms, order):
        parts = [f"{names[j]} ×{np.exp(row[j]):.2f}" for j in idx if abs(np.expm1(row[j])) >= min_effect]
        out.append("; ".join(parts))
    return out


def global_importance(contrib: np.ndarray, names: Sequence[str]) -> pd.Series:
    """Mean absolute TreeSHAP term per feature (log-count units), largest first."""
    contrib = np.asarray(contrib, dtype=np.float64)
    if contrib.shape[1] != len(names) + 1:
        raise ValueError(f"contributions need {len(names) + 1} columns (features + bias), got {contrib.shape}")
    return pd.Series(np.abs(contrib[:, :-1]).mean(axis=0), index=list(names)).sort_values(ascending=False)


def plot_importance(importance: pd.Series, title: str, top: int = 20):
    """Horizontal bar chart of :func:`global_importance` (a matplotlib Figure; nothing shown or saved)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(shown) + 1.4), layout="constrained")
    ax.barh(shown.index, shown.to_numpy(), color="#3b6ea5")
    ax.set_xlabel("mean |TreeSHAP term| (log expected count; 0.1 ≈ ×1.105)")
    ax.set_title(title)
    return fig
