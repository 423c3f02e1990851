"""Learned hotspot model: LightGBM with a Poisson objective on ``cell_features``.

Hyper-parameters are chosen on the last periods before the origin (time-ordered
validation, never random splits); the model exports to ONNX with a parity check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, clone

from jobs.grid.cell_features import cell_features, feature_columns, period_grid, resolve_params
from jobs.grid.params import CellFeatureParams
from jobs.grid.profiles import choose_profile, profile_cycles, slot_multipliers
from models.hotspots.base import GridForecaster, horizon_days, to_ns
from models.onnx_export import (
    PARITY_ATOL,
    PARITY_RTOL,
    ParityReport,
    check_parity,
    lightgbm_to_onnx,
    onnx_predict,
    onnx_session,
)

#: ``cell_features`` settings of the learned model unless told otherwise (weekly): the baselines'
#: own signals (long-run and exponentially decayed counts, kernel-smoothed) for stacking.
DEFAULT_FEATURE_PARAMS = CellFeatureParams(
    windows=(1, 4, 13, 52), decay_half_lives=(13, 52, 104), max_categories=0, max_location_types=0,
)
#: Features of the default learned model (a stack of the baselines' signals); measured on the
#: 2016-2017 weekly Chicago backtest to do better than every column (docs/forecasting.md).
STACK_FEATURES: tuple[str, ...] = (
    "decay_13", "decay_52", "decay_104", "kde_decay_13", "kde_decay_52", "kde_decay_104",
    "roll_52", "ring_roll_52", "rate_all", "ring_rate_all", "kde_intensity",
)
#: Settings of the default learned model: small, monotone trees over ``STACK_FEATURES``.
STACK_MODEL_PARAMS: dict = {
    "features": STACK_FEATURES,
    "monotone": True,
    "param_grid": ({"num_leaves": 7, "min_child_samples": 500}, {"num_leaves": 15, "min_child_samples": 300}),
    "learning_rate": 0.1,
    "max_estimators": 250,
    "early_stopping_rounds": 30,
    "zero_fraction": 0.3,
}


def stacked_model(seed: int = 0, **overrides) -> "LightGBMPoissonModel":
    """The default learned model: :class:`LightGBMPoissonModel` with ``STACK_MODEL_PARAMS``."""
    return LightGBMPoissonModel(**{**STACK_MODEL_PARAMS, "seed": seed, **overrides})


def periods_per_week(freq: str | pd.Timedelta) -> int:
    """Whole periods of ``freq`` in a week: 1 for "W", 7 for "D", 21 for "8h"."""
    k = 7.0 / horizon_days(freq)
    if k < 1 or abs(k - round(k)) > 1e-9:
        raise ValueError(f"a week must hold a whole number of {freq!r} periods (got {k:g})")
    return int(round(k))


def default_feature_params(freq: str | pd.Timedelta = "W") -> CellFeatureParams:
    """``DEFAULT_FEATURE_PARAMS`` at period ``freq``, every window and half-life kept in weeks of time.

    The defaults are counted in periods; for days or 8-hour shifts they are scaled so
    that ``roll_52`` still means a year (``roll_364`` days, ``roll_1092`` shifts) and the
    decay half-lives still mean 13, 52 and 104 weeks. Measured on the Chicago
    backtest: period-counted windows (13 *days* of decay) made the daily and shift
    models worse than plain counts (docs/forecasting.md, robustness).
    """
    k = periods_per_week(freq)
    params = DEFAULT_FEATURE_PARAMS.replace(freq=freq)
    if k == 1:
        return params
    return params.replace(
        windows=tuple(w * k for w in params.windows),
        decay_half_lives=tuple(h * k for h in params.decay_half_lives),
        kernel_window=13 * k, mix_window=52 * k, recency_cap=104 * k, category_windows=(4 * k, 52 * k),
    )


def stack_features(freq: str | pd.Timedelta = "W") -> tuple[str, ...]:
    """``STACK_FEATURES`` named for the windows of :func:`default_feature_params` at ``freq``."""
    k = periods_per_week(freq)
    if k == 1:
        return STACK_FEATURES

    def rename(name: str) -> str:
        head, _, tail = name.rpartition("_")
        return f"{head}_{int(tail) * k}" if tail.isdigit() and head in ("decay", "kde_decay", "roll", "ring_roll") else name

    return tuple(rename(f) for f in STACK_FEATURES)

#: Small default grid; every entry is tried, each with early stopping.
DEFAULT_PARAM_GRID: tuple[dict, ...] = (
    {"num_leaves": 15, "min_child_samples": 200},
    {"num_leaves": 63, "min_child_samples": 50},
)


def _as_frame(features: pa.Table | pd.DataFrame) -> pd.DataFrame:
    return features.to_pandas() if isinstance(features, pa.Table) else features


def _period_hit_rate(pred: np.ndarray, y: np.ndarray, period: np.ndarray, coverage: float) -> float:
    """Mean over periods of the share of incidents in the top ``coverage`` of rows."""
    df = pd.DataFrame({"p": period, "s": pred, "y": y})
    rates = []
    for _, g in df.groupby("p", sort=True):
        total = g["y"].sum()
        if total <= 0:
            continue
        k = max(1, int(round(coverage * len(g))))
        top = np.argsort(-g["s"].to_numpy(), kind="stable")[:k]
        rates.append(g["y"].to_numpy()[top].sum() / total)
    return float(np.mean(rates)) if rates else float("nan")


def smoothed_target(df: pd.DataFrame, target: str, periods: int) -> pd.DataFrame:
    """``df`` with ``target`` replaced by each cell's mean over its period and the ``periods - 1`` after it.

    Rows whose window passes the table's last period are dropped. Cells are told apart by ``h3``.
    """
    if not isinstance(periods, (int, np.integer)) or periods < 1:
        raise ValueError(f"target_periods must be a positive int, got {periods!r}")
    if "h3" not in df.columns:
        raise ValueError("a smoothed target needs the cells' h3 column (a cell_features table)")
    uniq = np.unique(df["period_start"].to_numpy())
    if len(uniq) <= periods:
        raise ValueError(f"target_periods={periods} needs more than {periods} periods, got {len(uniq)}")
    pos = np.searchsorted(uniq, df["period_start"].to_numpy())
    cell = pd.factorize(df["h3"])[0]
    counts = np.zeros((cell.max() + 1, len(uniq)))
    counts[cell, pos] = df[target].to_numpy(np.float64)
    csum = np.concatenate([np.zeros((counts.shape[0], 1)), np.cumsum(counts, axis=1)], axis=1)
    ahead = (csum[:, periods:] - csum[:, :-periods]) / periods  # mean of [p, p + periods)
    keep = pos <= len(uniq) - periods
    out = df[keep].copy()
    out[target] = ahead[cell[keep], pos[keep]]
    return out


class LightGBMPoissonModel(BaseEstimator):
    """LightGBM regressor (Poisson objective) over a ``cell_features`` table.

    Parameters
    ----------
    param_grid
        Candidate settings (dicts of ``LGBMRegressor`` arguments), each fitted
        with early stopping on the validation periods.
    n_valid_periods
        The last periods of the training table held out, in time order, for the
        choice of settings and number of trees.
    selection
        ``"hit_rate"`` (mean share of incidents in the top ``selection_coverage``
        of cells per validation period) or ``"deviance"`` (Poisson deviance).
    selection_coverage
        Share of cells flagged by the ``"hit_rate"`` selection.
    learning_rate, max_estimators, early_stopping_rounds, subsample, max_bin
        Boosting settings shared by every candidate.
    zero_fraction
        Share of zero-count training rows kept (each weighted ``1 / zero_fraction``,
        so the Poisson likelihood stays unbiased in expectation); most cell-periods
        are empty, and this cuts training time several-fold. Validation rows are
        never sampled.
    seed, n_jobs
        Random seed of LightGBM's bagging and feature sampling; threads.
    features
        Feature columns to use (default: every feature column of the table).
    monotone
        Constrain the prediction to be non-decreasing in every count-like feature
        (names starting ``lag``, ``roll``, ``ring_``, ``rate``, ``kde``, ``decay``,
        ``near_repeat``, ``cat_``), so more past crime never lowers a cell's risk.
    objective, tweedie_variance_power
        ``"poisson"`` (default) or ``"tweedie"`` (compound Poisson-gamma, variance
        ``mu ** tweedie_variance_power``, for counts more dispersed than Poisson); both
        use a log link, so predictions stay expected counts. Early stopping and the
        deviance selection read the Poisson deviance either way.
    target_periods
        Train on each cell's mean count over the period and the ``target_periods - 1``
        after it, not on the period's count alone (rows whose window passes the end of
        the table are left out). The mean is the same expected count per period with
        less noise: a day of about 40 assaults over 6,000 cells is mostly zeros, and a
        model fitted to them ranks cells on noise (docs/forecasting.md, robustness).

    Attributes
    ----------
    model_, feature_names_, best_params_, best_iteration_, validation_

    Notes
    -----
    Gradient boosting (Ke et al. 2017, "LightGBM: a highly efficient gradient
    boosting decision tree", NeurIPS) with the Poisson log-likelihood, as in
    count-based crime forecasting on grids (e.g. Mohler and Porter 2018,
    "Rotational grid, PAI-maximizing crime forecasts", Stat. Anal. Data Min.).
    Validation follows rolling time order (Tashman 2000, "Out-of-sample tests of
    forecasting accuracy", Int. J. Forecasting).
    """

    def __init__(
        self,
        param_grid: Sequence[Mapping] | None = None,
        n_valid_periods: int = 26,
        selection: str = "hit_rate",
        selection_coverage: float = 0.01,
        learning_rate: float = 0.1,
        max_estimators: int = 300,
        early_stopping_rounds: int = 30,
        subsample: float = 0.8,
        max_bin: int = 63,
        zero_fraction: float = 0.2,
        seed: int = 0,
        n_jobs: int = 2,
        features: Sequence[str] | None = None,
        monotone: bool = False,
        target_periods: int = 1,
        objective: str = "poisson",
        tweedie_variance_power: float = 1.5,
    ):
        self.param_grid = param_grid
        self.n_valid_periods = n_valid_periods
        self.selection = selection
        self.selection_coverage = selection_coverage
        self.learning_rate = learning_rate
        self.max_estimators = max_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.subsample = subsample
        self.max_bin = max_bin
        self.zero_fraction = zero_fraction
        self.seed = seed
        self.n_jobs = n_jobs
        self.features = features
        self.monotone = monotone
        self.target_periods = target_periods
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power

    def _regressor(self, params: Mapping, n_estimators: int):
        import lightgbm as lgb

        extra = {"tweedie_variance_power": self.tweedie_variance_power} if self.objective == "tweedie" else {}
        return lgb.LGBMRegressor(
            objective=self.objective,
            **extra,
            learning_rate=self.learning_rate,
            n_estimators=n_estimators,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=0.9,
            max_bin=self.max_bin,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            verbose=-1,
            **({"monotone_constraints": self._monotone_vector()} if self.monotone else {}),
            **dict(params),
        )

    def _monotone_vector(self) -> list[int]:
        prefixes = ("lag", "roll", "ring_", "rate", "kde", "decay", "near_repeat", "cat_")
        return [1 if f.startswith(prefixes) else 0 for f in self.feature_names_]

    def fit(self, features: pa.Table | pd.DataFrame, target: str = "target") -> "LightGBMPoissonModel":
        """Fit on a ``cell_features`` table; the last ``n_valid_periods`` periods choose the settings."""
        import lightgbm as lgb

        if self.selection not in ("hit_rate", "deviance"):
            raise ValueError(f"selection must be 'hit_rate' or 'deviance', got {self.selection!r}")
        if self.objective not in ("poisson", "tweedie"):
            raise ValueError(f"objective must be 'poisson' or 'tweedie', got {self.objective!r}")
        if self.objective == "tweedie" and not 1 < self.tweedie_variance_power < 2:
            raise ValueError(f"tweedie_variance_power must be between 1 and 2 (exclusive), got {self.tweedie_variance_power!r}")
        df = _as_frame(features)
        for col in ("period_start", target):
            if col not in df.columns:
                raise ValueError(f"features need column {col!r} (a cell_features table)")
        self.feature_names_ = feature_columns(df) if self.features is None else list(self.features)
        absent = [f for f in self.feature_names_ if f not in df.columns]
        if absent:
            raise ValueError(f"features {absent} are not columns of the table; it has {feature_columns(df)}")
        if not self.feature_names_:
            raise ValueError("features have no feature columns")
        if self.target_periods != 1:
            df = smoothed_target(df, target, self.target_periods)
        X = df[self.feature_names_].to_numpy(np.float32)
        y = df[target].to_numpy(np.float64)
        periods = df["period_start"].to_numpy()
        uniq = np.unique(periods)
        if len(uniq) <= self.n_valid_periods:
            raise ValueError(
                f"need more than n_valid_periods={self.n_valid_periods} periods to validate, got {len(uniq)}; "
                "pass a longer training span or lower n_valid_periods"
            )
        if not 0 < self.zero_fraction <= 1:
            raise ValueError(f"zero_fraction must be in (0, 1], got {self.zero_fraction}")
        cut = uniq[-self.n_valid_periods]
        rng = np.random.default_rng(self.seed)
        sampled = (y > 0) | (rng.random(len(y)) < self.zero_fraction)
        w = np.where(y > 0, 1.0, 1.0 / self.zero_fraction)
        tr, va = (periods < cut) & sampled, periods >= cut
        grid = list(self.param_grid) if self.param_grid is not None else list(DEFAULT_PARAM_GRID)
        results = []
        for params in grid:
            reg = self._regressor(params, self.max_estimators)
            reg.fit(
                X[tr], y[tr], sample_weight=w[tr], eval_X=(X[va],), eval_y=(y[va],), eval_metric="poisson",
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            best_it = int(reg.best_iteration_ or self.max_estimators)
            pred = reg.predict(X[va], num_iteration=best_it)
            dev = float(2 * np.mean(np.where(y[va] > 0, y[va] * np.log(np.maximum(y[va], 1e-12) / pred), 0) - (y[va] - pred)))
            hit = _period_hit_rate(pred, y[va], periods[va], self.selection_coverage)
            results.append({"params": dict(params), "best_iteration": best_it, "deviance": dev, "hit_rate": hit})
        key = (lambda r: -r["hit_rate"]) if self.selection == "hit_rate" else (lambda r: r["deviance"])
        best = min(results, key=lambda r: (key(r), r["deviance"]))
        self.validation_ = pd.DataFrame(results)
        self.best_params_ = best["params"]
        # Refit on every period with the chosen size, scaled for the extra data.
        self.best_iteration_ = max(1, int(round(best["best_iteration"] * len(uniq) / (len(uniq) - self.n_valid_periods))))
        self.model_ = self._regressor(self.best_params_, self.best_iteration_).fit(X[sampled], y[sampled], sample_weight=w[sampled])
        self._session = None
        return self

    def _X(self, features: pa.Table | pd.DataFrame | np.ndarray) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ValueError("LightGBMPoissonModel is not fitted; call fit(features) first")
        if isinstance(features, np.ndarray):
            if features.ndim != 2 or features.shape[1] != len(self.feature_names_):
                raise ValueError(f"expected an (n, {len(self.feature_names_)}) array, got {features.shape}")
            return features.astype(np.float32, copy=False)
        df = _as_frame(features)
        missing = [c for c in self.feature_names_ if c not in df.columns]
        if missing:
            raise ValueError(f"features lack columns the model was trained on: {missing}")
        return df[self.feature_names_].to_numpy(np.float32)

    def predict(self, features: pa.Table | pd.DataFrame | np.ndarray) -> np.ndarray:
        """Expected count per row (native LightGBM)."""
        return self.model_.predict(self._X(features)).astype(np.float64)

    def to_onnx(self):
        """ONNX ``ModelProto`` of the fitted model (onnxmltools, opset 15)."""
        self._X(np.zeros((0, len(getattr(self, "feature_names_", [])))))
        return lightgbm_to_onnx(self.model_, len(self.feature_names_))

    def predict_onnx(self, features: pa.Table | pd.DataFrame | np.ndarray) -> np.ndarray:
        """Expected count per row from the ONNX export run by ONNX Runtime."""
        X = self._X(features)
        if getattr(self, "_session", None) is None:
            self._session = onnx_session(self.to_onnx())
        return onnx_predict(self._session, X)

    def check_onnx_parity(
        self, features: pa.Table | pd.DataFrame | np.ndarray, *, rtol: float = PARITY_RTOL, atol: float = PARITY_ATOL
    ) -> ParityReport:
        """Raise ``OnnxParityError`` when ONNX and native predictions differ beyond the tolerance."""
        X = self._X(features)
        return check_parity(self.predict(X), self.predict_onnx(X), rtol=rtol, atol=atol)


#: Training periods below which :class:`LearnedForecaster` shortens its burn-in to fit a short history.
MIN_TRAIN_PERIODS = 16
#: The shortest burn-in it shortens to.
MIN_BURN_IN = 4


class LearnedForecaster(GridForecaster):
    """Grid forecaster backed by :class:`LightGBMPoissonModel` on ``cell_features``.

    Parameters
    ----------
    freq
        Period of the features and of every forecast ("W", "D", "8h"); ``predict``
        refuses other horizons.
    train_periods
        Training periods before the origin (the most recent ones).
    burn_in_periods
        Periods after the first incident left out of training, so that the
        trailing windows are filled. When that would leave fewer than
        :data:`MIN_TRAIN_PERIODS` training periods (a short history), half of
        the history is the burn-in instead (at least :data:`MIN_BURN_IN`);
        ``burn_in_used_`` says which.
    feature_params
        :class:`jobs.grid.params.CellFeatureParams` (or a mapping of its fields) of the
        features (default :func:`default_feature_params` of ``freq``: the same windows in
        weeks of time). Its ``freq``, ``anchor`` and ``resolution`` are set from this
        forecaster and the cells; ``feature_params_`` holds the resolved parameters.
    model
        The estimator (default :func:`stacked_model` when ``feature_params`` is left
        at its default, else ``LightGBMPoissonModel()`` over every feature). The
        default stack at a day or a shift trains on each cell's mean count over a
        week of periods (``target_periods`` 7 or 21): on the 2016 Chicago backtest
        that took it from x0.954 to x0.979 of KDE for days and from x0.910 to
        x0.986 of trailing counts for shifts (PAI at 1 %, docs/forecasting.md).
    anchor
        Period grid anchor; by default the ``origin`` given to ``fit``, else the
        standard grid of ``freq``.
    engine
        ``"native"`` or ``"onnx"`` scoring.
    timezone
        The clock of the periods and calendar features: days, shifts and weeks
        start at local wall-clock boundaries of this IANA zone (the study area's).
    profile
        ``"auto"``: for days and shifts, multiply the model's expected count by each
        cell's time profile (its share of last year's incidents in the period's day of
        the week, shift of the day or shift of the week, shrunk toward the area's;
        :mod:`jobs.grid.profiles`) when one ranks the last 13 weeks of training
        periods better than none by more than its standard error; the cycle and the
        prior are chosen there too, and ``profile_`` / ``profile_validation_`` say what
        was chosen. A model that reads the period's ``day_of_week`` or ``hour`` gets
        none (it has its own view of time). ``"off"``: never.

    Notes
    -----
    Features of each scored period read only incidents before its start
    (``cell_features``), and the model sees only periods that end before the
    origin.
    """

    #: Its score of a period is the expected count (Poisson objective): calibration uses it as is.
    predicts_counts = True

    def __init__(
        self,
        freq: str = "W",
        train_periods: int = 104,
        burn_in_periods: int = 52,
        feature_params: CellFeatureParams | Mapping | None = None,
        model: LightGBMPoissonModel | None = None,
        anchor=None,
        engine: str = "native",
        timezone: str = "UTC",
        profile: str = "auto",
    ):
        self.freq = freq
        self.train_periods = train_periods
        self.burn_in_periods = burn_in_periods
        self.feature_params = feature_params
        self.model = model
        self.anchor = anchor
        self.engine = engine
        self.timezone = timezone
        self.profile = profile

    def fit(self, events: pa.Table, cells, origin=None) -> "LearnedForecaster":
        if self.engine not in ("native", "onnx"):
            raise ValueError(f"engine must be 'native' or 'onnx', got {self.engine!r}")
        if self.profile not in ("auto", "off"):
            raise ValueError(f"profile must be 'auto' or 'off', got {self.profile!r}")
        super().fit(events, cells, origin)
        ts = events.column("occurred_at")
        if origin is not None:
            keep = pc.less(ts, pa.scalar(pd.Timestamp(to_ns(origin), tz="UTC"), ts.type))
            events = events.filter(keep)
        self.incidents_ = events.select([c for c in events.column_names if c in ("occurred_at", "h3", "lon", "lat", "category", "location_type")])
        if self.events_.t_ns.size == 0:
            raise ValueError("LearnedForecaster needs events inside the study area to fit")
        self.anchor_ = self.anchor if self.anchor is not None else origin
        pg = period_grid(self.freq, self.anchor_, self.timezone)
        origin_ns = to_ns(origin) if origin is not None else int(pg.start_ns(pg.index_of(self.events_.t_ns[-1]) + 1))
        last_p = int(pg.index_of(np.array([origin_ns]))[0]) - 1
        if int(pg.start_ns(last_p + 1)) > origin_ns:  # origin inside a period: that period is incomplete
            last_p -= 1
        first_ev = int(pg.index_of(self.events_.t_ns[:1])[0])
        burn_in = self.burn_in_periods
        if last_p - max(first_ev + burn_in, last_p - self.train_periods + 1) + 1 < MIN_TRAIN_PERIODS:
            # a short history (a new feed, a city with a year of data): half of it fills the trailing
            # windows, the other half trains; burn_in_used_ records the choice
            burn_in = max(MIN_BURN_IN, min(burn_in, (last_p - first_ev + 1) // 2))
        self.burn_in_used_ = burn_in
        first_p = max(first_ev + burn_in, last_p - self.train_periods + 1)
        if last_p - first_p < 2:
            raise ValueError(
                f"too little history before the origin for training: {last_p - first_p + 1} periods after the "
                f"{burn_in}-period burn-in (the learned model needs at least {MIN_BURN_IN + 3} periods of "
                f"incidents before the first forecast); start later or pass more events"
            )
        given = self.feature_params
        params = default_feature_params(self.freq) if given is None else \
            given if isinstance(given, CellFeatureParams) else CellFeatureParams.from_dict(given)
        params = params.replace(freq=self.freq, anchor=self.anchor_, resolution=self.grid_.resolution,
                                timezone=self.timezone)
        self.feature_params_ = resolve_params(params, self.incidents_, self.grid_.h3)
        feats = cell_features(
            self.incidents_, self.grid_.h3, self.feature_params_,
            start=pd.Timestamp(int(pg.start_ns(first_p)), tz="UTC"),
            end=pd.Timestamp(int(pg.start_ns(last_p)), tz="UTC"),
        )
        if self.model is not None:
            self.model_ = clone(self.model)
            if self.feature_params is None and self.model_.features is not None \
                    and tuple(self.model_.features) == STACK_FEATURES:
                self.model_.set_params(features=stack_features(self.freq))  # the same stack, in this period's windows
        else:
            self.model_ = stacked_model(features=stack_features(self.freq)) if self.feature_params is None \
                else LightGBMPoissonModel()
        n_train = last_p - first_p + 1
        week = periods_per_week(self.freq)
        if self.feature_params is None and self.model_.target_periods == 1 and n_train >= 4 * week \
                and tuple(self.model_.features or ()) == stack_features(self.freq):
            # the default stack learns a day's or a shift's expected count from a week of them (less noise)
            self.model_.set_params(target_periods=week)
        if getattr(self.model_, "n_valid_periods", 0) >= n_train:
            # a short history: the last quarter of its periods chooses the settings (time-ordered, as always)
            self.model_.set_params(n_valid_periods=max(2, n_train // 4))
        self.model_.fit(feats)
        self.n_train_rows_ = feats.num_rows
        self._choose_profile(feats, pg, first_p, last_p)
        return self

    def _choose_profile(self, feats: pa.Table, pg, first_p: int, last_p: int) -> None:
        """Set ``profile_`` (or ``None``) from the last 13 weeks of training periods (time-ordered validation).

        The periods are in the model's training span: its features have no time of day or
        week in them (else no profile), so it cannot have learnt the slots, and every
        candidate is judged against the same in-sample predictions.
        """
        self.profile_, self.profile_validation_ = None, None
        week = periods_per_week(self.freq)
        cycles = profile_cycles(week, 1.0 / horizon_days(self.freq))
        n_valid = min(13 * week, (last_p - first_p + 1) // 2)
        reads_time = {"day_of_week", "hour"} & set(getattr(self.model_, "feature_names_", ()))
        if self.profile == "off" or not cycles or n_valid < 2 * max(cycles) or reads_time:
            return
        n = len(self.grid_)
        rows = feats.slice(feats.num_rows - n_valid * n)
        pred = self.model_.predict(rows).reshape(n_valid, n)
        y = rows.column("target").to_numpy().reshape(n_valid, n).astype(np.float64)
        scored = np.arange(last_p - n_valid + 1, last_p + 1)
        self.profile_, self.profile_validation_ = choose_profile(
            pred, y, self.events_.cell, pg.index_of(self.events_.t_ns), scored, cycles=cycles, window=52 * week,
            coverage=getattr(self.model_, "selection_coverage", 0.01))

    def update(self, events: pa.Table) -> "LearnedForecaster":
        super().update(events)
        add = events.select(self.incidents_.column_names).cast(self.incidents_.schema)
        self.incidents_ = pa.concat_tables([self.incidents_, add])
        return self

    def features_for(self, period_starts: Sequence) -> pa.Table:
        """``cell_features`` rows of the given period starts (every study-area cell)."""
        self._check_fitted()
        pg = period_grid(self.freq, self.anchor_, self.timezone)
        ns = np.array([to_ns(s) for s in period_starts], dtype=np.int64)
        p = pg.index_of(ns)
        if np.any(pg.start_ns(p) != ns):
            raise ValueError(
                f"period starts must lie on the model's {self.freq} grid (anchor {self.anchor_}); "
                f"first offender: {pd.Timestamp(int(ns[pg.start_ns(p) != ns][0]), tz='UTC')}"
            )
        feats = cell_features(
            self.incidents_, self.grid_.h3, self.feature_params_,
            start=pd.Timestamp(int(ns.min()), tz="UTC"), end=pd.Timestamp(int(ns.max()), tz="UTC"),
        )
        want = pa.array(pd.to_datetime(ns, utc=True), pa.timestamp("us", tz="UTC"))
        return feats.filter(pc.is_in(feats.column("period_start"), value_set=want))

    def predict_many(self, period_starts: Sequence, horizon="W") -> np.ndarray:
        self._check_fitted()
        if horizon_days(horizon) != horizon_days(self.freq):
            raise ValueError(f"this model forecasts {self.freq!r} periods; got horizon {horizon!r}")
        if len(period_starts) == 0:
            return np.zeros((0, len(self.grid_)))
        feats = self.features_for(period_starts)
        pred = self.model_.predict_onnx(feats) if self.engine == "onnx" else self.model_.predict(feats)
        n = len(self.grid_)
        by_start = pred.reshape(-1, n)  # rows: period then cell position
        starts = feats.column("period_start").cast(pa.int64()).to_numpy()[::n] * 1000  # us -> ns
        order = {int(v): i for i, v in enumerate(starts)}
        out = np.vstack([by_start[order[to_ns(s)]] for s in period_starts])
        if getattr(self, "profile_", None):
            pg = period_grid(self.freq, self.anchor_, self.timezone)
            scored = pg.index_of(np.array([to_ns(s) for s in period_starts], dtype=np.int64))
            out = out * slot_multipliers(self.events_.cell, pg.index_of(self.events_.t_ns), n, scored,
                                         **self.profile_)
        return out

    def predict(self, period_start, horizon="W") -> np.ndarray:
        """Expected count per study-area cell (aligned with ``cells_h3``) in the period."""
        return self.predict_many([period_start], horizon)[0]
