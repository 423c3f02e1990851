"""Settings of the vision pipeline and the offline set-up of ultralytics.

Nothing here touches the environment at import time: the CLI, the tests and the
benchmark call :func:`configure_ultralytics_offline` before they import ultralytics.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

__all__ = [
    "DetectorSettings",
    "configure_ultralytics_offline",
    "configure_mlflow",
    "state_dir",
]


def state_dir(root: str | Path | None = None) -> Path:
    """The git-ignored state folder of vision artefacts, ``<root>/.crimefusion``.

    ``root`` defaults to ``CRIMEFUSION_STATE_DIR``'s parent when that is set, else
    the current working directory.
    """
    env = os.environ.get("CRIMEFUSION_STATE_DIR")
    if root is None and env:
        return Path(env)
    return Path(root or Path.cwd()) / ".crimefusion"


def _find_font() -> Path:
    try:
        import matplotlib

        cand = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if cand.is_file():
            return cand
    except ImportError:  # pragma: no cover - matplotlib is a project dependency
        pass
    for folder in ("/usr/share/fonts", "/usr/local/share/fonts"):
        for path in sorted(Path(folder).rglob("*.ttf")) if Path(folder).is_dir() else []:
            return path
    raise FileNotFoundError(
        "no TrueType font found for ultralytics' plots: install matplotlib or fonts-dejavu-core"
    )


def configure_ultralytics_offline(state: str | Path | None = None) -> Path:
    """Stop every network attempt of ultralytics; return its config folder.

    Sets ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=false``, ``YOLO_CONFIG_DIR`` to
    ``<state>/ultralytics`` and copies a local TrueType font to the two names
    ultralytics would otherwise download (``Arial.ttf``, ``Arial.Unicode.ttf``).
    Call it before the first ``import ultralytics``: ultralytics reads these when
    it is imported.
    """
    base = Path(state) if state is not None else state_dir()
    cfg = base / "ultralytics"
    fonts = cfg / "Ultralytics"
    fonts.mkdir(parents=True, exist_ok=True)
    src = _find_font()
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (fonts / name).is_file():
            shutil.copyfile(src, fonts / name)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    os.environ.setdefault("YOLO_VERBOSE", "false")
    return cfg


def configure_mlflow(state: str | Path | None = None) -> str:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` or a local SQLite store; return the URI.

    The local store is ``<state>/mlflow/mlflow.db`` with artefacts beside it.
    Telemetry is switched off.
    """
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        base = (Path(state) if state is not None else state_dir()) / "mlflow"
        base.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{(base / 'mlflow.db').resolve()}"
    return uri


class DetectorSettings(BaseModel):
    """Settings of one detection run (validated when built).

    Attributes
    ----------
    conf_threshold : minimum class score kept after decoding (ultralytics' ``conf``).
    iou_threshold : IoU above which NMS suppresses a box of the same class.
    max_detections : most boxes kept per frame after NMS.
    agnostic_nms : one NMS over all classes, so one object never yields two boxes of
        different classes (and two tracks); ultralytics' ``agnostic_nms``.
    sample_fps : frames per second to keep from the source; ``None`` keeps every frame.
    track : run ByteTrack; off, ``track_id`` is null.
    track_high_threshold, track_low_threshold, new_track_threshold, match_threshold,
    track_buffer, track_fuse_score : ByteTrack settings, named and defaulted as
    ultralytics' ``bytetrack.yaml`` (``track_high_thresh`` ..., ``fuse_score``).
    Switch ``track_fuse_score`` off for a model whose scores run low: IoU times a
    score of 0.3 rarely clears ``match_threshold`` and tracks break.
    stream_retries : reconnect attempts when a live stream drops before giving up.
    """

    conf_threshold: float = Field(0.25, ge=0.0, le=1.0)
    iou_threshold: float = Field(0.7, gt=0.0, le=1.0)
    max_detections: int = Field(300, gt=0)
    agnostic_nms: bool = False
    sample_fps: float | None = Field(None, gt=0.0)
    track: bool = True
    track_high_threshold: float = Field(0.25, ge=0.0, le=1.0)
    track_low_threshold: float = Field(0.1, ge=0.0, le=1.0)
    new_track_threshold: float = Field(0.25, ge=0.0, le=1.0)
    match_threshold: float = Field(0.8, gt=0.0, le=1.0)
    track_buffer: int = Field(30, ge=1)
    track_fuse_score: bool = True
    stream_retries: int = Field(3, ge=0)
    stream_retry_wait_s: float = Field(1.0, ge=0.0)

    @field_validator("track_low_threshold")
    @classmethod
    def _low_below_high(cls, v: float, info) -> float:
        high = info.data.get("track_high_threshold", 0.25)
        if v > high:
            raise ValueError(f"track_low_threshold ({v}) must not exceed track_high_threshold ({high})")
        return v
