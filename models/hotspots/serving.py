"""Serving a registered hotspot model: ONNX Runtime over ``cell_features`` built as at training.

A model travels with its *feature spec*: the feature names in input order and
the :class:`jobs.grid.params.CellFeatureParams` of the rows it was trained on
(period, resolution, vocabularies and kernel bandwidth included, as gold
``cell_features`` stored them), so a scorer rebuilds exactly the columns the
ONNX graph was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.grid.cell_features import cell_features, period_grid, resolve_cells
from jobs.grid.params import CellFeatureParams
from models.hotspots.base import to_ns
from models.onnx_export import onnx_predict, onnx_session

#: The run artifact holding a registered hotspot model's :class:`FeatureSpec`.
SPEC_FILE = "feature_spec.json"


@dataclass(frozen=True)
class FeatureSpec:
    """What a scorer needs besides the graph: input columns and the features' parameters."""

    feature_names: tuple[str, ...]
    feature_params: CellFeatureParams = field(default_factory=CellFeatureParams)

    @property
    def freq(self) -> str | pd.Timedelta:
        return self.feature_params.freq

    @property
    def resolution(self) -> int:
        return self.feature_params.resolution

    def to_json(self) -> str:
        return json.dumps({"feature_names": list(self.feature_names),
                           "feature_params": self.feature_params.to_dict()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        d = json.loads(text)
        missing = {"feature_names", "feature_params"} - set(d)
        if missing:
            raise ValueError(f"feature spec lacks {sorted(missing)}; it was not written by FeatureSpec.to_json")
        params = dict(d["feature_params"])
        for key in ("freq", "resolution"):  # specs written before CellFeatureParams kept these beside the rest
            if key in d:
                params.setdefault(key, d[key])
        return cls(tuple(d["feature_names"]), CellFeatureParams.from_dict(params))

    @classmethod
    def of(cls, forecaster) -> "FeatureSpec":
        """The spec of a fitted :class:`models.hotspots.learned.LearnedForecaster`."""
        return cls(tuple(forecaster.model_.feature_names_), forecaster.feature_params_)


def load_hotspot_model(tracking_uri: str, ref):
    """``(onnx ModelProto, FeatureSpec, RegisteredVersion)`` of a registered hotspot model.

    ``ref`` is a :class:`models.registry.RegisteredVersion` or ``models:/NAME@ALIAS``
    (``models:/NAME/VERSION``); the spec is the :data:`SPEC_FILE` logged with the model.
    """
    from models.registry import artifact_bytes, load_onnx

    model, version = load_onnx(tracking_uri, ref)
    return model, FeatureSpec.from_json(artifact_bytes(tracking_uri, version, SPEC_FILE).decode()), version


class OnnxHotspotScorer:
    """Expected count per cell and period from an ONNX hotspot model and its :class:`FeatureSpec`."""

    def __init__(self, onnx_model, spec: FeatureSpec, booster=None):
        self.spec = spec
        self.booster = booster  # the native LightGBM booster, when logged: per-cell drivers
        self.session = onnx_session(onnx_model)
        n_in = self.session.get_inputs()[0].shape[1]
        if n_in is not None and n_in != len(spec.feature_names):
            raise ValueError(f"the ONNX graph takes {n_in} features but the spec lists {len(spec.feature_names)}")

    @property
    def resolution(self) -> int:
        return self.spec.resolution

    def features(self, incidents: pa.Table, cells, period_starts: Sequence) -> pa.Table:
        """``cell_features`` rows of ``period_starts`` (each built from incidents before its start)."""
        params = self.spec.feature_params
        pg = period_grid(params.freq, params.anchor, params.timezone)
        ns = np.array([to_ns(s) for s in period_starts], dtype=np.int64)
        bad = pg.start_ns(pg.index_of(ns)) != ns
        if bad.any():
            where = "the standard grid: weeks from Monday, days and shifts from midnight, UTC" \
                if params.anchor is None else f"anchored at {params.anchor}"
            raise ValueError(f"period starts must lie on the model's {params.freq} grid ({where}); "
                             f"got {pd.Timestamp(int(ns[bad][0]), tz='UTC')}")
        feats = cell_features(incidents, cells, params, start=pd.Timestamp(int(ns.min()), tz="UTC"),
                              end=pd.Timestamp(int(ns.max()), tz="UTC"))
        want = pa.array(pd.to_datetime(ns, utc=True), pa.timestamp("us", tz="UTC"))
        return feats.filter(pc.is_in(feats.column("period_start"), value_set=want))

    def _matrix(self, incidents: pa.Table, cells, period_starts: Sequence) -> tuple[np.ndarray, int, dict[int, int]]:
        """The features of every (period, cell) as rows, the cell count, and each period's block index."""
        n = len(resolve_cells(cells, self.spec.resolution))
        feats = self.features(incidents, cells, period_starts)
        missing = [c for c in self.spec.feature_names if c not in feats.column_names]
        if missing:
            raise ValueError(f"rebuilt features lack {missing}: the incidents differ from the training data's shape")
        X = np.column_stack([feats.column(c).to_numpy(zero_copy_only=False) for c in self.spec.feature_names])
        got = feats.column("period_start").cast(pa.int64()).to_numpy()[::n] * 1000
        return X.astype(np.float32), n, {int(v): i for i, v in enumerate(got)}

    def predict_many(self, incidents: pa.Table, cells, period_starts: Sequence) -> np.ndarray:
        """``(n_periods, n_cells)`` expected counts, rows in the order of ``period_starts``."""
        X, n, order = self._matrix(incidents, cells, period_starts)
        pred = onnx_predict(self.session, X).reshape(-1, n)
        return np.vstack([pred[order[to_ns(s)]] for s in period_starts])

    def predict_with_drivers(self, incidents: pa.Table, cells, period_start, k: int = 3
                             ) -> tuple[np.ndarray, list[str] | None]:
        """Expected counts of one period per cell and, when the native booster was logged, each cell's top
        ``k`` drivers (:func:`models.hotspots.explain.top_drivers`); ``None`` without it."""
        from models.hotspots.explain import contributions, top_drivers

        X, n, order = self._matrix(incidents, cells, [period_start])
        block = slice(order[to_ns(period_start)] * n, (order[to_ns(period_start)] + 1) * n)
        expected = onnx_predict(self.session, X[block]).reshape(-1)
        if self.booster is None:
            return expected, None
        return expected, top_drivers(contributions(self.booster, X[block]), self.spec.feature_names, k=k)


def score_period(scorer, incidents: pa.Table, cells, period_start) -> tuple[np.ndarray, list[str] | None]:
    """Expected counts per cell for the period starting at ``period_start``, from the incidents before it, and
    the cells' drivers when the scorer explains itself (a learned model with its native booster)."""
    ts = incidents.column("occurred_at")
    history = incidents.filter(pc.less(ts, pa.scalar(pd.Timestamp(period_start), ts.type)))
    if history.num_rows == 0:
        raise ValueError(f"no incidents before {pd.Timestamp(period_start).date()}: nothing to forecast the period "
                         "from")
    if hasattr(scorer, "predict_with_drivers"):
        return scorer.predict_with_drivers(history, cells, period_start)
    return scorer.predict_many(history, cells, [period_start])[0], None


#: Provenance columns of gold ``hotspot_forecast`` beyond ``model_version`` and ``method``: the registered model's
#: name and the Delta versions of the inputs read.
PROVENANCE = {"model_name": pa.string(), "incidents_version": pa.int64(), "police_districts_version": pa.int64()}


def forecast_table(cells: pa.Table, expected: np.ndarray, week: pd.Timestamp, top_share: float,
                   model_version: str, drivers: Sequence[str] | None = None, method: str | None = None,
                   provenance: dict | None = None) -> pa.Table:
    """Rank cells by expected count; share of expected crime down to each rank; top-area flag; drivers.

    ``cells`` (``h3``, ``lon``, ``lat``, ``area_km2``) aligned with ``expected``
    (and ``drivers``, one text per cell, when the model can explain itself);
    ties in rank and in the top-area flag are broken by cell id. ``provenance``
    fills the :data:`PROVENANCE` columns (missing keys give nulls).
    """
    from models.evaluation.metrics import flag_top_cells

    h3 = np.asarray(cells.column("h3").to_pylist(), dtype=object)
    area = cells.column("area_km2").to_numpy()
    order = np.lexsort((h3.astype(str), -expected))
    rank = np.empty(len(h3), dtype=np.int32)
    rank[order] = np.arange(1, len(h3) + 1, dtype=np.int32)
    total = expected.sum()
    cum = np.empty(len(h3))
    cum[order] = np.cumsum(expected[order]) / total if total > 0 else 0.0
    top = flag_top_cells(expected, area, top_share, tie_key=np.argsort(np.argsort(h3.astype(str))))
    n = len(h3)
    return pa.table({
        "week": pa.array([week.date().isoformat()] * n, pa.string()),
        "period_start": pa.array([week] * n, pa.timestamp("us", tz="UTC")),
        "h3": pa.array(h3, pa.string()),
        "lon": cells.column("lon"),
        "lat": cells.column("lat"),
        "expected_count": pa.array(expected, pa.float64()),
        "risk_rank": pa.array(rank),
        "expected_share": pa.array(cum, pa.float64()),
        "in_top_cells": pa.array(top),
        "model_version": pa.array([str(model_version)] * n, pa.string()),
        "method": pa.array([method] * n, pa.string()),
        "drivers": pa.array(list(drivers) if drivers is not None else [None] * n, pa.string()),
        **{k: pa.array([(provenance or {}).get(k)] * n, typ) for k, typ in PROVENANCE.items()},
    }).sort_by("risk_rank")


class BaselineScorer:
    """Expected count per cell and period from a baseline (a registered champion can be one).

    A baseline has no trained graph: for a run of periods it is fitted on the
    incidents before the first one, later incidents are added without refitting,
    and each period is scored from the incidents before its start only, as the
    rolling-origin backtest scores it (:func:`models.evaluation.backtest.rolling_origin_backtest`).
    """

    def __init__(self, method: str, params: dict | None = None, resolution: int = 9, freq: str = "W"):
        from models.hotspots.baselines import BASELINES

        if method not in BASELINES:
            raise ValueError(f"unknown baseline {method!r}; known: {', '.join(BASELINES)}")
        self.method, self.params, self.resolution, self.freq = method, dict(params or {}), int(resolution), freq

    def forecaster(self):
        from models.hotspots.baselines import BASELINES

        return BASELINES[self.method](**self.params)

    def predict_many(self, incidents: pa.Table, cells, period_starts: Sequence) -> np.ndarray:
        """``(n_periods, n_cells)`` expected counts, rows in the order of ``period_starts``."""
        from models.evaluation.backtest import pc_between

        n_cells = len(resolve_cells(cells, self.resolution))  # also checks the cells' resolution
        if len(period_starts) == 0:
            return np.zeros((0, n_cells))
        starts = [pd.Timestamp(to_ns(s), tz="UTC") for s in period_starts]
        first, last = min(starts), max(starts)
        model = self.forecaster().fit(incidents, cells, origin=first)
        later = pc_between(incidents, incidents.column("occurred_at"), first, last)
        if later.num_rows:
            model.update(later)
        return model.predict_many(starts, self.freq)


def load_hotspot_scorer(tracking_uri: str, ref):
    """``(scorer, RegisteredVersion, method)`` of a registered hotspot version, learned or baseline.

    The scorer has ``predict_many(incidents, cells, period_starts)`` and
    ``resolution``: an :class:`OnnxHotspotScorer` over the version's ONNX graph
    and feature spec, or a :class:`BaselineScorer` when the version is a
    registered baseline (tag ``method``, :func:`models.registry.register_baseline`).
    """
    from models.registry import BASELINE_FILE, artifact_bytes, method_of, resolve

    version = resolve(tracking_uri, ref)
    method = method_of(tracking_uri, version)
    if method == "learned":
        from mlflow.exceptions import MlflowException

        from models.hotspots.explain import NATIVE_FILE, load_booster

        onnx_model, spec, version = load_hotspot_model(tracking_uri, version)
        try:
            booster = load_booster(artifact_bytes(tracking_uri, version, NATIVE_FILE).decode())
        except (MlflowException, OSError):  # versions logged before the native booster was: no drivers
            booster = None
        return OnnxHotspotScorer(onnx_model, spec, booster), version, method
    d = json.loads(artifact_bytes(tracking_uri, version, BASELINE_FILE).decode())
    params = dict(d.get("params", {}))
    resolution, freq = int(params.pop("resolution", 9)), str(params.pop("freq", "W"))
    return BaselineScorer(d["method"], params, resolution=resolution, freq=freq), version, method
