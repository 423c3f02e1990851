"""Serving a registered hotspot model: ONNX Runtime over ``cell_features`` built as at training.

A model travels with its *feature spec* (feature names in input order, the
``cell_features`` settings and the period), so a scorer rebuilds exactly the
columns the ONNX graph was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.grid.cell_features import cell_features, period_grid, resolve_cells
from models.hotspots.base import to_ns
from models.onnx_export import onnx_predict, onnx_session

#: The run artifact holding a registered hotspot model's :class:`FeatureSpec`.
SPEC_FILE = "feature_spec.json"


@dataclass(frozen=True)
class FeatureSpec:
    """What a scorer needs besides the graph: input columns, feature settings, period."""

    feature_names: tuple[str, ...]
    feature_params: Mapping = field(default_factory=dict)
    freq: str = "W"
    resolution: int = 9

    def to_json(self) -> str:
        return json.dumps({"feature_names": list(self.feature_names), "feature_params": _jsonable(self.feature_params),
                           "freq": self.freq, "resolution": self.resolution}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        d = json.loads(text)
        missing = {"feature_names", "feature_params", "freq", "resolution"} - set(d)
        if missing:
            raise ValueError(f"feature spec lacks {sorted(missing)}; it was not written by FeatureSpec.to_json")
        return cls(tuple(d["feature_names"]), d["feature_params"], d["freq"], int(d["resolution"]))

    @classmethod
    def of(cls, forecaster) -> "FeatureSpec":
        """The spec of a fitted :class:`models.hotspots.learned.LearnedForecaster`."""
        return cls(tuple(forecaster.model_.feature_names_), dict(forecaster.feature_params_), forecaster.freq,
                   int(forecaster.grid_.resolution))


def load_hotspot_model(tracking_uri: str, ref):
    """``(onnx ModelProto, FeatureSpec, RegisteredVersion)`` of a registered hotspot model.

    ``ref`` is a :class:`models.registry.RegisteredVersion` or ``models:/NAME@ALIAS``
    (``models:/NAME/VERSION``); the spec is the :data:`SPEC_FILE` logged with the model.
    """
    from models.registry import artifact_bytes, load_onnx

    model, version = load_onnx(tracking_uri, ref)
    return model, FeatureSpec.from_json(artifact_bytes(tracking_uri, version, SPEC_FILE).decode()), version


def _jsonable(v):
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


class OnnxHotspotScorer:
    """Expected count per cell and period from an ONNX hotspot model and its :class:`FeatureSpec`."""

    def __init__(self, onnx_model, spec: FeatureSpec):
        self.spec = spec
        self.session = onnx_session(onnx_model)
        n_in = self.session.get_inputs()[0].shape[1]
        if n_in is not None and n_in != len(spec.feature_names):
            raise ValueError(f"the ONNX graph takes {n_in} features but the spec lists {len(spec.feature_names)}")

    def features(self, incidents: pa.Table, cells, period_starts: Sequence) -> pa.Table:
        """``cell_features`` rows of ``period_starts`` (each built from incidents before its start)."""
        pg = period_grid(self.spec.freq)
        ns = np.array([to_ns(s) for s in period_starts], dtype=np.int64)
        bad = pg.start_ns(pg.index_of(ns)) != ns
        if bad.any():
            raise ValueError(f"period starts must lie on the {self.spec.freq} grid (weeks start Monday 00:00 UTC); "
                             f"got {pd.Timestamp(int(ns[bad][0]), tz='UTC')}")
        params = dict(self.spec.feature_params)
        params["resolution"] = self.spec.resolution
        feats = cell_features(incidents, cells, freq=self.spec.freq, start=pd.Timestamp(int(ns.min()), tz="UTC"),
                              end=pd.Timestamp(int(ns.max()), tz="UTC"), **params)
        want = pa.array(pd.to_datetime(ns, utc=True), pa.timestamp("us", tz="UTC"))
        return feats.filter(pc.is_in(feats.column("period_start"), value_set=want))

    def predict_many(self, incidents: pa.Table, cells, period_starts: Sequence) -> np.ndarray:
        """``(n_periods, n_cells)`` expected counts, rows in the order of ``period_starts``."""
        n = len(resolve_cells(cells, self.spec.resolution))
        feats = self.features(incidents, cells, period_starts)
        missing = [c for c in self.spec.feature_names if c not in feats.column_names]
        if missing:
            raise ValueError(f"rebuilt features lack {missing}: the incidents differ from the training data's shape")
        X = np.column_stack([feats.column(c).to_numpy(zero_copy_only=False) for c in self.spec.feature_names])
        pred = onnx_predict(self.session, X.astype(np.float32)).reshape(-1, n)
        got = feats.column("period_start").cast(pa.int64()).to_numpy()[::n] * 1000
        order = {int(v): i for i, v in enumerate(got)}
        return np.vstack([pred[order[to_ns(s)]] for s in period_starts])
