"""Training the registered hotspot model on gold ``cell_features``, with a held-out tail for the champion gate.

The ``hotspot_model`` asset reads the table and the parameters it was built
with (stored beside it) and calls :func:`train_hotspot_model`; the last
``holdout_weeks`` weeks of the table are kept out of training so that the
champion gate (:mod:`models.hotspots.gate`) can score the new model on weeks it
never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.grid.cell_features import next_period_start
from jobs.grid.params import CellFeatureParams
from models.hotspots.learned import LearnedForecaster, LightGBMPoissonModel, stacked_model
from models.hotspots.serving import FeatureSpec
from models.onnx_export import ParityReport

#: Run param of a registered hotspot model: the first week it did not train on (ISO date).
TRAINED_TO = "trained_to"
#: Description of the registered hotspot model (MLflow's model page).
DESCRIPTION = (
    "Crime risk per H3 cell of the study area for the coming week: expected incident counts from a LightGBM "
    "Poisson model (small monotone trees over each cell's decayed and rolling counts, neighbourhood rates and "
    "kernel-density intensity) trained on gold cell_features, exported to ONNX. Registered by the hotspot_model "
    "asset with alias challenger; the champion gate moves alias champion, which hotspot_forecast serves, or "
    "registers the baseline that beat it as a version of its own (tag method). A model version's description "
    "names its method, period, H3 resolution and the last day of data it saw."
)
#: Period codes of ``CellFeatureParams.freq`` in run names.
FREQ_WORDS = {"W": "week", "D": "day", "8h": "8h"}


def require_weekly(feats: pa.Table, timezone: str = "UTC") -> None:
    """Refuse a ``cell_features`` table of daily rows where a weekly model is trained (weeks start on a local
    Monday of ``timezone``)."""
    local = pc.cast(feats.column("period_start"), pa.timestamp("us", tz=timezone))
    days = pc.unique(pc.day_of_week(local)).to_pylist()
    if feats.num_rows and days != [0]:
        raise ValueError("gold/cell_features holds daily rows (period: day); hotspot_model trains on weekly "
                         "features: materialise cell_features with period: week first")


def holdout_split(feats: pa.Table, holdout_periods: int, timezone: str = "UTC") -> tuple[pa.Table, pd.Timestamp]:
    """``(rows before the last holdout_periods periods, start of the first held-out period)``.

    With ``holdout_periods=0`` every row trains and the cut-off is the start of the week after the last
    period (weeks of ``timezone``).
    """
    starts = sorted(pc.unique(feats.column("period_start")).to_pylist())
    if holdout_periods < 0 or holdout_periods >= len(starts):
        raise ValueError(f"cannot hold out {holdout_periods} of the table's {len(starts)} periods: lower "
                         "backtest_weeks or build cell_features over more weeks (train_weeks)")
    if holdout_periods == 0:
        return feats, next_period_start(starts[-1], "W", timezone)
    cut = starts[-holdout_periods]
    keep = pc.less(feats.column("period_start"), pa.scalar(cut, feats.schema.field("period_start").type))
    return feats.filter(keep), pd.Timestamp(cut)


@dataclass(frozen=True)
class TrainedHotspotModel:
    """A fitted model, its ONNX export and parity, the spec serving needs, and the span it trained on."""

    model: LightGBMPoissonModel
    onnx_model: object
    parity: ParityReport
    spec: FeatureSpec
    trained_to: pd.Timestamp  # first week not trained on
    origin: pd.Timestamp  # the week after the table's last week

    def run_params(self) -> dict:
        """What the model registry logs about the fit; the champion gate reads :data:`TRAINED_TO` back."""
        m = self.model
        # instants, not dates: a local Monday 00:00 east of UTC falls on Sunday in UTC
        return {**m.best_params_, "n_trees": m.best_iteration_, "origin": self.origin.isoformat(),
                TRAINED_TO: self.trained_to.isoformat(), "resolution": self.spec.resolution,
                "n_features": len(m.feature_names_), "selection": m.selection, "learning_rate": m.learning_rate}

    def importance(self, feats: pa.Table, weeks: int = 8) -> pd.Series:
        """Mean absolute TreeSHAP term per feature over the rows of the last ``weeks`` weeks ``feats`` (the
        table the model trained on) holds before :attr:`trained_to`
        (:func:`models.hotspots.explain.global_importance`)."""
        from models.hotspots.explain import contributions, global_importance

        start = pa.scalar(self.trained_to - pd.Timedelta(weeks=weeks), feats.schema.field("period_start").type)
        end = pa.scalar(self.trained_to, feats.schema.field("period_start").type)
        ps = feats.column("period_start")
        rows = feats.filter(pc.and_(pc.greater_equal(ps, start), pc.less(ps, end)))
        X = np.column_stack([rows.column(c).to_numpy(zero_copy_only=False) for c in self.model.feature_names_])
        return global_importance(contributions(self.model.model_.booster_, X), self.model.feature_names_)

    def run_name(self, model_name: str) -> str:
        """``hotspot_lgbm lightgbm week h3r9 data-end 2017-12-31``: the model, its period and cells, and the last day
        of gold cell_features it saw (the held-out tail included: the table's last period ends the day before
        ``origin``)."""
        from models.registry import what_ran

        freq = self.spec.freq
        period = FREQ_WORDS.get(freq, freq) if isinstance(freq, str) else freq.isoformat()
        return what_ran(model_name, "lightgbm", period, f"h3r{self.spec.resolution}",
                        data_end=self.origin - pd.Timedelta(days=1))


def train_hotspot_model(feats: pa.Table, params: CellFeatureParams, *, holdout_weeks: int, seed: int = 0,
                        valid_weeks: int = 8) -> TrainedHotspotModel:
    """Fit the stacked model on the weeks of ``feats`` before its last ``holdout_weeks``; export and check ONNX.

    ``params`` are the parameters ``feats`` was built with (gold ``cell_features``
    stores them); they become the model's :class:`FeatureSpec`, so serving
    builds the same columns. Parity is checked on the table's last week.
    """
    tz = params.timezone
    require_weekly(feats, tz)
    train, trained_to = holdout_split(feats, holdout_weeks, tz)
    model = stacked_model(seed, n_valid_periods=valid_weeks).fit(train)
    onnx_model = model.to_onnx()
    last = pc.max(feats.column("period_start"))
    parity = model.check_onnx_parity(feats.filter(pc.equal(feats.column("period_start"), last)))
    return TrainedHotspotModel(model=model, onnx_model=onnx_model, parity=parity,
                               spec=FeatureSpec(tuple(model.feature_names_), params), trained_to=trained_to,
                               origin=next_period_start(last.as_py(), "W", tz))


def weekly_forecaster(train_weeks: int, burn_in_weeks: int, seed: int = 0, valid_weeks: int = 8,
                      timezone: str = "UTC") -> LearnedForecaster:
    """The learned model as the backtest refits it: weekly (local weeks of ``timezone``), the stacked model,
    ``train_weeks`` before each origin."""
    return LearnedForecaster(freq="W", train_periods=train_weeks, burn_in_periods=burn_in_weeks,
                             model=stacked_model(seed, n_valid_periods=valid_weeks), timezone=timezone)
