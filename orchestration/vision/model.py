"""Which YOLO model the detections asset runs: a setting, the MLflow champion, or the bundled demo model.

=============================  ===========================================================
``model`` (config or           meaning
``CRIMEFUSION_VISION_MODEL``)
=============================  ===========================================================
``auto`` (default)             ``models:/crimefusion-yolo@champion`` when that alias is
                               registered in the MLflow store, else the bundled demo model
                               ``data/vision/demo-yolo.onnx`` (it only knows the synthetic
                               ``person``/``vehicle`` shapes)
``models:/NAME@ALIAS``,        a registered ONNX model, fetched from MLflow and cached
``models:/NAME/VERSION``       under ``<CRIMEFUSION_HOME>/models/vision/``
a path                         an ultralytics YOLO ``.onnx`` (``crimefusion vision export``)
=============================  ===========================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from models.registry import CHAMPION, aliased, load_onnx
from orchestration.settings import PROJECT_ROOT

__all__ = ["BUNDLED_MODEL", "CHAMPION", "REGISTERED_MODEL", "MODEL_ENV", "ResolvedModel", "resolve_model"]

BUNDLED_MODEL = PROJECT_ROOT / "data" / "vision" / "demo-yolo.onnx"
REGISTERED_MODEL = "crimefusion-yolo"
MODEL_ENV = "CRIMEFUSION_VISION_MODEL"


@dataclass(frozen=True)
class ResolvedModel:
    """A local ``.onnx`` file and where it came from (``bundled``, ``mlflow`` or ``path``)."""

    path: Path
    origin: str
    uri: str


def resolve_model(setting: str | None, *, tracking=None, cache_dir: Path | None = None,
                  env: Mapping[str, str] | None = None) -> ResolvedModel:
    """Turn the model setting into a local ONNX file.

    Parameters
    ----------
    setting : str, optional
        ``auto``, a ``models:/`` URI or a path; ``None`` reads ``CRIMEFUSION_VISION_MODEL``
        (then ``auto``).
    tracking : orchestration.resources.tracking.MlflowTracking, optional
        The MLflow store (resource ``mlflow``); without it ``auto`` is the bundled model.
    cache_dir : Path, optional
        Where models fetched from MLflow are written (needed for ``models:/``).

    Raises
    ------
    ValueError
        A path that does not exist, a ``models:/`` URI without a store, or one MLflow cannot load.
    """
    env = os.environ if env is None else env
    spec = (setting or env.get(MODEL_ENV) or "auto").strip()
    if spec == "auto":
        champion = aliased(tracking.tracking_uri, REGISTERED_MODEL, CHAMPION) if tracking is not None else None
        if champion is None:
            if not BUNDLED_MODEL.is_file():
                raise ValueError(f"the bundled demo model {BUNDLED_MODEL} is missing; set {MODEL_ENV} to a YOLO .onnx")
            return ResolvedModel(BUNDLED_MODEL, "bundled", str(BUNDLED_MODEL))
        spec = champion.uri
    if spec.startswith("models:/"):
        if tracking is None or cache_dir is None:
            raise ValueError(f"model {spec}: an MLflow store (resource 'mlflow') and a cache folder are needed")
        tracking.setup()
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.removeprefix("models:/"))
        try:
            proto, _ = load_onnx(tracking.tracking_uri, spec)
        except Exception as exc:  # MlflowException, missing artefact, not an ONNX flavour
            raise ValueError(f"model {spec} cannot be loaded from MLflow at {tracking.tracking_uri}: {exc}") from None
        import onnx

        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / f"{name}.onnx"
        onnx.save(proto, str(path))
        return ResolvedModel(path, "mlflow", spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"vision model {path} does not exist: give an ultralytics YOLO .onnx "
                         f"(`crimefusion vision export yolo11n.pt`), a models:/ URI, or 'auto'")
    return ResolvedModel(path.resolve(), "path", str(path.resolve()))
