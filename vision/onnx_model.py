"""Inference stage: an ultralytics YOLO detection model run by ONNX Runtime.

Needs only ``onnxruntime`` and ``numpy``; no torch, no ultralytics.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from vision.records import ModelFormatError

__all__ = ["OnnxYolo"]


class OnnxYolo:
    """An ultralytics YOLO detector exported to ONNX.

    Parameters
    ----------
    path : str or Path
        ``.onnx`` file written by ultralytics' exporter (``crimefusion vision export``).
    providers : list of str, optional
        ONNX Runtime execution providers; default CPU.
    intra_op_threads : int, optional
        Threads ONNX Runtime may use inside one operator (default: its own choice).

    Attributes
    ----------
    names : dict[int, str]
        Class names, from the model's ``names`` metadata.
    imgsz : tuple[int, int]
        Input (h, w).
    end2end : bool
        The graph already applies NMS (output ``(1, k, 6)``: x1, y1, x2, y2, score, class).

    Raises
    ------
    ModelFormatError
        The file is missing, not ONNX, or not a YOLO detection model.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: list[str] | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFormatError(f"model file {self.path} does not exist")
        if self.path.suffix.lower() != ".onnx":
            raise ModelFormatError(
                f"model file {self.path} is not ONNX; export ultralytics weights first: "
                f"`crimefusion vision export {self.path}`"
            )
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if intra_op_threads:
            opts.intra_op_num_threads = int(intra_op_threads)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelFormatError(f"model file {self.path} cannot be loaded by ONNX Runtime: {exc}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelFormatError(
                f"model {self.path} is not a YOLO detector: expected one NCHW image input, "
                f"found {[(i.name, i.shape) for i in inputs]}"
            )
        self.input_name = inputs[0].name
        self.task = meta.get("task", "detect")
        if self.task != "detect":
            raise ModelFormatError(f"model {self.path} is a YOLO '{self.task}' model; only 'detect' is supported")
        if "names" not in meta:
            raise ModelFormatError(
                f"model {self.path} has no 'names' metadata: it was not exported by ultralytics "
                "(re-export with `crimefusion vision export`)"
            )
        try:
            names = ast.literal_eval(meta["names"])
            self.names = {int(k): str(v) for k, v in dict(names).items()}
        except (ValueError, SyntaxError, TypeError) as exc:
            raise ModelFormatError(f"model {self.path}: unreadable 'names' metadata ({exc})") from None
        self.imgsz = self._imgsz(meta, inputs[0].shape)
        self.end2end = str(meta.get("end2end", "False")).lower() == "true"
        out_shape = outputs[0].shape
        nc = len(self.names)
        if self.end2end:
            ok = len(out_shape) == 3 and out_shape[2] == 6
        else:
            ok = len(out_shape) == 3 and (not isinstance(out_shape[1], int) or out_shape[1] == 4 + nc)
        if not ok:
            raise ModelFormatError(
                f"model {self.path} output {out_shape} does not fit a YOLO detector with {nc} classes "
                f"(expected (1, {4 + nc}, N) or, end-to-end, (1, N, 6))"
            )
        self.output_name = outputs[0].name

    @staticmethod
    def _imgsz(meta: dict, shape: list) -> tuple[int, int]:
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            return int(shape[2]), int(shape[3])
        if "imgsz" in meta:
            sz = ast.literal_eval(meta["imgsz"])
            return (int(sz[0]), int(sz[1])) if isinstance(sz, (list, tuple)) else (int(sz), int(sz))
        return 640, 640

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run the graph on an NCHW ``float32`` batch; return its first output."""
        return self.session.run([self.output_name], {self.input_name: batch})[0]
