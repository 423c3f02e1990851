"""Offline demo: train a small YOLO on synthetic surveillance frames, run the whole
sequence on a held-out clip, report accuracy against the known boxes, draw a frame.

    .venv/bin/python -m vision.demo --out docs/img/detections.png
    .venv/bin/python -m vision.demo --bundle data/vision/demo-yolo.onnx  # the bundled demo model

Artefacts go under ``.crimefusion/vision/demo`` (git-ignored state folder).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vision.settings import state_dir

#: Measured recipe (see ``tests/vision/conftest.py``): a YOLO11 at width 0.125 from
#: scratch; SGD with warm-up, mosaic half the time.
RECIPE = {"optimizer": "SGD", "lr0": 0.01, "warmup_epochs": 2, "mosaic": 0.5, "close_mosaic": 10}


def run_demo(
    *,
    state: Path | None = None,
    n_train: int = 80,
    epochs: int = 40,
    imgsz: int = 256,
    width: float = 0.125,
    seed: int = 0,
    png: Path | None = None,
    register: bool = False,
    bundle: Path | None = None,
) -> dict:
    """Train, detect on the held-out clip, and return the figures (dict).

    With ``bundle``, the exported ONNX model is copied there and the figures are
    written beside it as ``<bundle stem>.json`` (how ``data/vision/demo-yolo.onnx``
    was made; see ``data/vision/README.md``).
    """
    from vision.metrics import detection_metrics, tracking_metrics
    from vision.predictor import Detector
    from vision.settings import DetectorSettings, configure_ultralytics_offline
    from vision.synthetic import build_dataset, render_clip
    from vision.train import small_model_yaml, train_yolo

    state = state or state_dir()
    root = state / "vision" / "demo"
    configure_ultralytics_offline(state)
    t = time.perf_counter()
    data = build_dataset(root / "dataset", n_train=n_train, n_val=max(4, n_train // 5), seed=seed)
    model = "yolo11n.yaml" if width >= 0.25 else str(small_model_yaml(root / f"yolo11-w{width}.yaml", width=width))
    res = train_yolo(data, model=model, epochs=epochs, imgsz=imgsz, batch=16, seed=seed, out_dir=root / "runs",
                     register_as="crimefusion-yolo-demo" if register else None, state=state, extra=RECIPE)
    train_s = time.perf_counter() - t
    clip = render_clip(root / "heldout.avi", n_frames=60, seed=seed + 1)
    det = Detector(res.onnx, DetectorSettings(track_fuse_score=False))
    batch = det.run(clip.path, camera=clip.camera, start_time=clip.start_time)
    figures = {
        "train_seconds": round(train_s, 1),
        "validation": res.metrics,
        "heldout_detection": detection_metrics(batch.detections, clip.truth),
        "heldout_tracking": tracking_metrics(batch.detections, clip.truth),
        "ms_per_frame": batch.timer.ms_per_frame(),
        "onnx": str(res.onnx),
    }
    if png is not None:
        figures["png"] = str(save_example_png(clip.path, batch.detections, png))
    if bundle is not None:
        import shutil

        bundle = Path(bundle)
        bundle.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(res.onnx, bundle)
        recipe = {"n_train": n_train, "n_val": max(4, n_train // 5), "epochs": epochs, "imgsz": imgsz,
                  "width": width, "seed": seed, "batch": 16, **RECIPE}
        figures["onnx"] = str(bundle)
        figures["onnx_bytes"] = bundle.stat().st_size
        bundle.with_suffix(".json").write_text(
            json.dumps({"recipe": recipe, **figures}, indent=2, default=float) + "\n")
    return figures


def save_example_png(video: Path, detections, png: Path) -> Path:
    """Draw the frame with the most detected classes (then detections) and save it as PNG."""
    import cv2

    from vision.draw import draw_detections

    d = detections.to_pandas()
    if d.empty:
        raise ValueError("no detections to draw")
    score = d.groupby("frame_index").agg(k=("class_name", "nunique"), n=("class_name", "size"))
    best = int(score.sort_values(["k", "n"], ascending=False, kind="stable").index[0])
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, best)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise ValueError(f"cannot read frame {best} of {video}")
    png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(png), draw_detections(frame, detections, frame_index=best))
    return png


def example_frame_markdown(detections, png: Path) -> str | None:
    """Draw the best frame of the first clip of ``detections`` (:func:`save_example_png`) into ``png``; return
    Markdown with a small inline copy and the path (None when there is nothing to draw)."""
    import base64

    import cv2
    import pyarrow.compute as pc

    if detections.num_rows == 0:
        return None
    first = detections["source"][0].as_py()
    part = detections.filter(pc.equal(detections["source"], first))
    try:
        save_example_png(Path(first), part, png)
    except ValueError:
        return None
    small = cv2.imread(str(png))
    small = cv2.resize(small, (480, int(480 * small.shape[0] / small.shape[1])), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", small)
    data = base64.b64encode(buf.tobytes()).decode("ascii")
    return f"![detections](data:image/png;base64,{data})\n\n`{png}`"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--n-train", type=int, default=80)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--width", type=float, default=0.125, help="0.25 = yolo11n")
    ap.add_argument("--out", type=Path, default=None, help="PNG of a frame with its detections drawn")
    ap.add_argument("--register", action="store_true", help="register the model in MLflow")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bundle", type=Path, default=None,
                    help="copy the ONNX model here and write its figures beside it (<stem>.json)")
    a = ap.parse_args()
    figs = run_demo(n_train=a.n_train, epochs=a.epochs, imgsz=a.imgsz, width=a.width, seed=a.seed, png=a.out,
                    register=a.register, bundle=a.bundle)
    print(json.dumps(figs, indent=2, default=float))


if __name__ == "__main__":
    main()
