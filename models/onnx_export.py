"""Export of fitted models to ONNX and the parity check against native predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: onnxmltools' LightGBM converter, measured to work here at opset 15 (protobuf < 7).
LIGHTGBM_TARGET_OPSET = 15
#: Parity tolerance: ONNX Runtime evaluates trees in float32 (inputs are cast to
#: float32 and leaf sums accumulate in float32), so predictions differ from
#: LightGBM's float64 by float32 rounding: relative 1e-4 plus absolute 1e-6.
PARITY_RTOL = 1e-4
PARITY_ATOL = 1e-6


class OnnxParityError(ValueError):
    """ONNX predictions diverge from the native model's beyond the tolerance."""


@dataclass(frozen=True)
class ParityReport:
    n_rows: int
    max_abs_diff: float
    max_rel_diff: float
    rtol: float
    atol: float


def float32_thresholds(booster):
    """The same trees with every split threshold moved down to the largest float32 at or below it.

    ONNX's tree ensemble stores thresholds as float32, rounded to nearest; LightGBM
    compares the (float32) input with its double threshold. An input equal to a
    threshold rounded up would go left in the graph and right natively, so a served
    score could differ from the model's own in a rare row. For a float32 input ``x``,
    ``x <= t`` holds exactly when ``x <= floor32(t)``: with these thresholds the graph
    takes every branch LightGBM takes (predictions on float32 inputs are unchanged).
    """
    import re

    import lightgbm as lgb

    def down(match: re.Match) -> str:
        values = np.array(match.group(1).split(), dtype=np.float64)
        f = values.astype(np.float32)
        f = np.where(f.astype(np.float64) > values, np.nextafter(f, np.float32(-np.inf)), f)
        return "threshold=" + " ".join(repr(float(v)) for v in f)

    text = re.sub(r"^threshold=(.*)$", down, booster.model_to_string(), flags=re.MULTILINE)
    # the header's byte sizes of the trees no longer hold: without them LightGBM reads the trees in turn
    text = re.sub(r"^tree_sizes=.*\n", "", text, count=1, flags=re.MULTILINE)
    return lgb.Booster(model_str=text)


def lightgbm_to_onnx(model, n_features: int, *, target_opset: int = LIGHTGBM_TARGET_OPSET, name: str = "hotspot_lgbm"):
    """Convert a fitted ``lightgbm.LGBMRegressor`` (or Booster) to an ONNX ``ModelProto``.

    The graph takes ``input`` (float32, ``[N, n_features]``) and returns
    ``variable`` (float32, ``[N, 1]``) on the response scale (the Poisson
    objective's ``exp`` is part of the graph).
    """
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    return onnxmltools.convert_lightgbm(
        float32_thresholds(getattr(model, "booster_", model)),
        name=name,
        initial_types=[("input", FloatTensorType([None, int(n_features)]))],
        target_opset=target_opset,
    )


def onnx_session(onnx_model, *, intra_op_threads: int = 1):
    """ONNX Runtime CPU session for a ``ModelProto`` (or serialized bytes)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    data = onnx_model if isinstance(onnx_model, (bytes, bytearray)) else onnx_model.SerializeToString()
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_predict(session, X: np.ndarray) -> np.ndarray:
    """Run a single-input, single-output regression session; returns a 1-D float64 array."""
    name = session.get_inputs()[0].name
    out = session.run(None, {name: np.ascontiguousarray(X, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64).ravel()


def check_parity(native: np.ndarray, onnx_pred: np.ndarray, *, rtol: float = PARITY_RTOL, atol: float = PARITY_ATOL) -> ParityReport:
    """Compare native and ONNX predictions; raise :class:`OnnxParityError` when they diverge.

    Passes when ``|onnx - native| <= atol + rtol * |native|`` for every row.
    """
    native = np.asarray(native, dtype=np.float64).ravel()
    onnx_pred = np.asarray(onnx_pred, dtype=np.float64).ravel()
    if native.shape != onnx_pred.shape:
        raise OnnxParityError(f"native has {native.shape[0]} predictions, ONNX {onnx_pred.shape[0]}")
    diff = np.abs(onnx_pred - native)
    rel = diff / np.maximum(np.abs(native), 1e-12)
    bad = diff > atol + rtol * np.abs(native)
    report = ParityReport(len(native), float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), rtol, atol)
    if bad.any():
        i = int(np.argmax(np.where(bad, diff, -1)))
        raise OnnxParityError(
            f"ONNX predictions diverge from native on {int(bad.sum())} of {len(native)} rows "
            f"(worst row {i}: native {native[i]:.6g}, onnx {onnx_pred[i]:.6g}; tolerance rtol={rtol}, atol={atol})"
        )
    return report
