"""Training path: fine-tune or train an ultralytics YOLO, export ONNX, check parity, register.

Needs torch, torchvision and ``ultralytics-opencv-headless``; they are imported
inside the functions, after :func:`vision.settings.configure_ultralytics_offline`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision.settings import configure_mlflow, configure_ultralytics_offline, state_dir

__all__ = ["DESCRIPTION", "TrainResult", "export_onnx", "onnx_parity", "register_model", "small_model_yaml",
           "train_yolo", "training_run_name"]

#: Largest absolute difference allowed between PyTorch and ONNX Runtime raw outputs
#: (box coordinates in model pixels, class scores in [0, 1]) on float32 CPU.
PARITY_ATOL = 1e-2

#: MLflow experiment of vision training runs.
EXPERIMENT = "crimefusion-vision"
#: Description of a registered detector (MLflow's model page).
DESCRIPTION = (
    "Camera-video object detector: an ultralytics YOLO model exported to ONNX (class names in its metadata), its "
    "output checked against PyTorch before registration. The detections asset serves alias champion (without it, "
    "the bundled demo model data/vision/demo-yolo.onnx); `crimefusion vision train` registers new versions, whose "
    "descriptions name the base model, epochs, input size and dataset."
)


@dataclass
class TrainResult:
    """Where training left its artefacts and what it measured."""

    weights: Path
    onnx: Path
    metrics: dict[str, float]
    parity_max_abs_diff: float
    model_version: str | None = None
    names: dict[int, str] = field(default_factory=dict)
    tracking_uri: str | None = None


def small_model_yaml(out: str | Path, *, depth: float = 0.33, width: float = 0.125, nc: int = 80) -> Path:
    """Write a YOLO11 architecture yaml narrower than ``yolo11n`` (width 0.25) and return it.

    For training that must fit a CPU budget (tests, the offline demo): width 0.125
    has about a quarter of yolo11n's FLOPs. Same layers, heads and export path.
    """
    import yaml

    import ultralytics

    src = Path(ultralytics.__file__).parent / "cfg" / "models" / "11" / "yolo11.yaml"
    cfg = yaml.safe_load(src.read_text())
    cfg.pop("scales", None)
    cfg.update({"nc": nc, "depth_multiple": depth, "width_multiple": width})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def _quiet_ultralytics() -> None:
    """Switch off ultralytics' analytics sync and its logger integrations.

    We register models ourselves; ultralytics' own MLflow hook would log each run
    to an experiment named after the run folder.
    """
    from ultralytics import settings as yolo_settings

    off = ("sync", "mlflow", "tensorboard", "wandb", "clearml", "comet", "dvc", "neptune", "raytune", "hub")
    changes = {k: False for k in off if k in yolo_settings and yolo_settings[k]}
    if changes:
        yolo_settings.update(changes)


def export_onnx(weights: str | Path, *, imgsz: int = 640, out: str | Path | None = None, state: Path | None = None) -> Path:
    """Export ultralytics ``.pt`` weights (or a model ``.yaml``) to ONNX; return its path.

    The exported file carries ultralytics' metadata (``names``, ``imgsz``,
    ``stride``, ``task``), which :class:`vision.onnx_model.OnnxYolo` reads.

    Raises
    ------
    FileNotFoundError
        ``weights`` does not exist (model yaml names such as ``yolo11n.yaml``
        resolve inside ultralytics).
    """
    configure_ultralytics_offline(state)
    from ultralytics import YOLO

    _quiet_ultralytics()
    w = Path(weights)
    if w.suffix == ".pt" and not w.is_file():
        raise FileNotFoundError(f"weights file {w} does not exist (no weights can be downloaded offline)")
    if out is None:
        model = YOLO(str(w))
        return Path(model.export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False, verbose=False))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # ultralytics writes beside the weights; export a copy so an .onnx already there survives
    with tempfile.TemporaryDirectory() as tmp:
        src = w
        if w.suffix == ".pt":
            src = Path(tmp) / w.name
            shutil.copyfile(w, src)
        model = YOLO(str(src))
        path = Path(model.export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False, verbose=False))
        shutil.move(str(path), out)
    return out


def onnx_parity(weights: str | Path, onnx_path: str | Path, images: list[np.ndarray]) -> float:
    """Largest absolute difference of raw outputs, PyTorch vs ONNX Runtime, on ``images``.

    Each BGR image goes through the same letterbox and tensor conversion; the
    PyTorch model (ultralytics, eval, float32, CPU) and the ONNX graph get the
    identical tensor.
    """
    configure_ultralytics_offline()
    import torch
    from ultralytics import YOLO

    from vision.onnx_model import OnnxYolo
    from vision.preprocess import letterbox, to_tensor

    onnx_model = OnnxYolo(onnx_path)
    net = YOLO(str(weights)).model.float().eval()
    worst = 0.0
    for img in images:
        lb, _ = letterbox(img, onnx_model.imgsz)
        x = to_tensor([lb])
        with torch.no_grad():
            ref = net(torch.from_numpy(x))
        ref = (ref[0] if isinstance(ref, (list, tuple)) else ref).numpy()
        got = onnx_model(x)
        if ref.shape != got.shape:
            raise ValueError(f"PyTorch output {ref.shape} and ONNX output {got.shape} differ in shape")
        worst = max(worst, float(np.max(np.abs(ref - got))))
    return worst


def register_model(
    onnx_path: str | Path,
    *,
    name: str,
    metrics: dict[str, float],
    params: dict | None = None,
    state: Path | None = None,
    run_name: str | None = None,
) -> str:
    """Log the ONNX model with its metrics in MLflow and register it; return the version.

    The run is ``run_name`` (default: ``name``); the registered model gets :data:`DESCRIPTION`.

    The store is ``MLFLOW_TRACKING_URI`` or ``<state>/mlflow/mlflow.db``; the
    process's MLflow tracking URI is left as it was (:mod:`models.registry`).
    Promotion is a separate step: point alias ``champion`` at the version
    (``models.registry.set_alias``).
    """
    import onnx

    from models.registry import log_onnx_model

    uri = configure_mlflow(state)
    # beside the local store; MLflow's default is ./mlruns in the working directory
    artifacts = (Path(uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri() \
        if uri.startswith("sqlite:///") else None
    registered = log_onnx_model(uri, name=name, onnx_model=onnx.load(str(onnx_path)), experiment=EXPERIMENT,
                                artifact_location=artifacts, run_name=run_name or name, params=params,
                                metrics=metrics, save_as_external_data=False, description=DESCRIPTION)
    publish_detector_card(onnx_path, name=name, version=registered.version, run_id=registered.run_id, uri=uri,
                          metrics=metrics, params=params or {},
                          folder=(state if state is not None else state_dir()) / "reports" / "vision")
    return registered.version


def _synthetic(data: Path) -> dict:
    """``{"dataset_synthetic": ...}`` when the dataset yaml says it was generated (vision/synthetic.py)."""
    import yaml

    try:
        made = (yaml.safe_load(Path(data).read_text()) or {}).get("synthetic")
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    return {"dataset_synthetic": str(made)} if made else {}


def publish_detector_card(onnx_path: str | Path, *, name: str, version: str, run_id: str, uri: str, metrics: dict,
                          params: dict, folder: Path) -> dict:
    """The registered version's model card (:func:`models.cards.detector_card`), logged to its MLflow run and
    written to ``folder`` (``<state>/reports/vision``: where the other domains' reports live). Class names and
    input size are read as the detections asset reads them (:class:`vision.onnx_model.OnnxYolo`); a model
    without ultralytics' metadata gets a card that records none."""
    from models.cards import detector_card, publish_card
    from vision.onnx_model import OnnxYolo
    from vision.records import ModelFormatError

    try:
        model = OnnxYolo(onnx_path)
        names, size = [model.names[k] for k in sorted(model.names)], model.imgsz[1]
    except ModelFormatError:
        names, size = [], None
    card = detector_card(name=name, version=version, metrics=metrics, params=params, class_names=names,
                         input_size=size)
    return publish_card(card, uri, run_id, folder)


def training_run_name(name: str, *, model: str, epochs: int, imgsz: int, data: str | Path) -> str:
    """``crimefusion-yolo yolo11n 30-epochs imgsz-320 data-synthetic``: the registered name, base model (yaml or
    weights stem), epochs, input size and dataset (the dataset yaml's folder). Images carry no data end."""
    from models.registry import what_ran

    data = Path(data)
    dataset = data.parent.name if data.suffix in (".yaml", ".yml") else data.name
    return what_ran(name, Path(model).stem, f"{epochs}-epochs", f"imgsz-{imgsz}", f"data-{dataset}")


def train_yolo(
    data: str | Path,
    *,
    model: str = "yolo11n.yaml",
    epochs: int = 30,
    imgsz: int = 320,
    batch: int = 8,
    seed: int = 0,
    device: str = "cpu",
    workers: int = 0,
    out_dir: str | Path | None = None,
    register_as: str | None = "crimefusion-yolo",
    parity_images: list[np.ndarray] | None = None,
    state: Path | None = None,
    extra: dict | None = None,
) -> TrainResult:
    """Train (from a model yaml) or fine-tune (from ``.pt`` weights) a YOLO detector.

    Then export ONNX at ``imgsz``, check ONNX against PyTorch on a few validation
    images (raises when the largest difference exceeds ``PARITY_ATOL``), and, with
    ``register_as``, log and register the ONNX model with its validation metrics
    (precision, recall, mAP50, mAP50-95) in MLflow.

    Parameters
    ----------
    data : YOLO dataset yaml (``path``, ``train``, ``val``, ``names``).
    model : model yaml (from scratch) or ``.pt`` weights (fine-tune).
    seed : ultralytics' ``seed`` with ``deterministic=True``.

    Notes
    -----
    Ultralytics YOLO (Jocher, Qiu & Chaurasia, 2023-2024), https://docs.ultralytics.com.
    """
    data = Path(data)
    if not data.is_file():
        raise FileNotFoundError(f"dataset yaml {data} does not exist")
    state = state if state is not None else state_dir()
    configure_ultralytics_offline(state)
    from ultralytics import YOLO

    _quiet_ultralytics()
    out_dir = Path(out_dir) if out_dir is not None else state / "vision" / "runs"
    yolo = YOLO(model)
    yolo.train(
        data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, deterministic=True,
        device=device, workers=workers, project=str(out_dir.resolve()), name="train", exist_ok=True,
        plots=False, amp=False, verbose=False, **{"val": False, **(extra or {})},
    )
    trainer = yolo.trainer
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    m = trainer.metrics or {}
    metrics = {
        "precision": float(m.get("metrics/precision(B)", np.nan)),
        "recall": float(m.get("metrics/recall(B)", np.nan)),
        "mAP50": float(m.get("metrics/mAP50(B)", np.nan)),
        "mAP50_95": float(m.get("metrics/mAP50-95(B)", np.nan)),
    }
    onnx_path = export_onnx(best, imgsz=imgsz, out=best.with_suffix(".onnx"), state=state)
    if parity_images is None:
        import cv2
        import yaml

        cfg = yaml.safe_load(data.read_text())
        root = Path(cfg.get("path", data.parent))
        root = root if root.is_absolute() else (data.parent / root)
        val_dir = root / cfg["val"]
        files = sorted(p for p in val_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:3]
        parity_images = [cv2.imread(str(p)) for p in files]
    diff = onnx_parity(best, onnx_path, parity_images)
    if diff > PARITY_ATOL:
        raise ValueError(f"ONNX output differs from PyTorch by {diff:.3g} > {PARITY_ATOL}: export is not faithful")
    metrics["onnx_parity_max_abs_diff"] = diff
    version = None
    tracking_uri = None
    if register_as:
        tracking_uri = configure_mlflow(state)
        version = register_model(
            onnx_path, name=register_as, metrics=metrics, state=state,
            run_name=training_run_name(register_as, model=model, epochs=epochs, imgsz=imgsz, data=data),
            params={"model": model, "epochs": epochs, "imgsz": imgsz, "batch": batch, "seed": seed, "data": data,
                    **_synthetic(data)},
        )
    names = {int(k): str(v) for k, v in yolo.names.items()}
    return TrainResult(best, onnx_path, metrics, diff, version, names, tracking_uri)
