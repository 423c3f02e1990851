"""Benchmark: YOLO inference speed, ONNX Runtime vs ultralytics' PyTorch predictor.

Same run, same 640x640 frames, a yolo11n-sized model (built from ultralytics'
``yolo11n.yaml``; weights are random because no pretrained weights can be
downloaded here, which does not change the arithmetic), plus end-to-end FPS of
the whole sequence (source -> preprocess -> infer -> postprocess -> track ->
write) on a synthetic clip.

Peer figure printed beside ours: Ultralytics' published YOLO11n "Speed CPU ONNX"
of 56.1 ms per 640 image (docs.ultralytics.com/models/yolo11, measured on an
Amazon EC2 P4d server CPU).

    .venv/bin/python benchmarks/vision.py            # 50 frames
    .venv/bin/python benchmarks/vision.py --quick    # 8 frames
    .venv/bin/python benchmarks/vision.py --model trained.onnx  # e2e with a trained model
    .venv/bin/python benchmarks/vision.py --ort-threads 1 --torch-threads 1  # one core per engine
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ULTRALYTICS_YOLO11N_ONNX_CPU_MS = 56.1


def _frames(n: int, clip_dir: Path):
    import cv2

    from vision.synthetic import render_clip

    clip = render_clip(clip_dir / "bench.avi", n_frames=max(n, 10), seed=3)
    cap = cv2.VideoCapture(str(clip.path))
    out = []
    while len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        out.append(cv2.resize(img, (640, 640), interpolation=cv2.INTER_LINEAR))
    cap.release()
    return out, clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 frames instead of 50")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--model", type=Path, default=None, help="ONNX model for the end-to-end run")
    ap.add_argument("--state", type=Path, default=Path(".crimefusion"))
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch intra-op threads (default: ultralytics' own choice, cpu_count - 1, i.e. 1 "
                         "on 2 cores; ONNX Runtime uses every core)")
    ap.add_argument("--ort-threads", type=int, default=None,
                    help="ONNX Runtime intra-op threads (default: its own choice, every core); "
                         "--ort-threads 1 --torch-threads 1 compares the engines on one core each")
    args = ap.parse_args()
    n = args.frames or (8 if args.quick else 50)
    # other work on the machine changes every figure: print the load beside them
    load_before = os.getloadavg()[0]

    from vision.settings import configure_ultralytics_offline

    configure_ultralytics_offline(args.state)
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    from vision.onnx_model import OnnxYolo
    from vision.predictor import Detector
    from vision.preprocess import letterbox, to_tensor
    from vision.settings import DetectorSettings
    from vision.train import _quiet_ultralytics

    _quiet_ultralytics()
    work = Path(tempfile.mkdtemp(prefix="cf-vision-bench-"))
    frames, clip = _frames(n, work)

    yolo = YOLO("yolo11n.yaml")
    onnx_path = Path(yolo.export(format="onnx", imgsz=640, simplify=False, dynamic=False, verbose=False))
    onnx_path = onnx_path.rename(work / "yolo11n-random.onnx")
    onnx_model = OnnxYolo(onnx_path, intra_op_threads=args.ort_threads)
    tensors = [to_tensor([letterbox(f, (640, 640))[0]]) for f in frames]

    # warm-up both engines; ultralytics sets torch threads to cpu_count - 1 on its first CPU predict
    onnx_model(tensors[0])
    yolo.predict(frames[0], imgsz=640, device="cpu", verbose=False)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    t = time.perf_counter()
    for x in tensors:
        onnx_model(x)
    ort_ms = 1000 * (time.perf_counter() - t) / n

    t = time.perf_counter()
    for f in frames:
        onnx_model(to_tensor([letterbox(f, (640, 640))[0]]))
    ort_pre_ms = 1000 * (time.perf_counter() - t) / n

    pt_infer = []
    t = time.perf_counter()
    for f in frames:
        r = yolo.predict(f, imgsz=640, device="cpu", verbose=False)[0]
        pt_infer.append(r.speed["inference"])
    pt_ms = 1000 * (time.perf_counter() - t) / n

    e2e_model = args.model or onnx_path
    det = Detector(e2e_model, DetectorSettings(), intra_op_threads=args.ort_threads)
    t = time.perf_counter()
    batch = det.run(clip.path, camera=clip.camera, start_time=clip.start_time)
    e2e_s = time.perf_counter() - t
    stages = batch.timer.ms_per_frame()

    print(f"# vision benchmark: {n} frames of 640x640, torch {torch.__version__}, onnxruntime {ort.__version__}, "
          f"torch threads {torch.get_num_threads()}, ONNX Runtime threads {args.ort_threads or 'default (all cores)'}")
    print(f"# {os.cpu_count()} CPUs; 1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"(above the CPU count, other processes shared the cores)")
    print(f"{'engine':48s} {'ms/frame':>9s} {'FPS':>7s}")
    print(f"{'ONNX Runtime, yolo11n, graph only':48s} {ort_ms:9.1f} {1000 / ort_ms:7.2f}")
    print(f"{'ONNX Runtime, yolo11n, letterbox + graph':48s} {ort_pre_ms:9.1f} {1000 / ort_pre_ms:7.2f}")
    print(f"{'ultralytics PyTorch predictor (whole predict)':48s} {pt_ms:9.1f} {1000 / pt_ms:7.2f}")
    print(f"{'ultralytics PyTorch predictor (inference only)':48s} {np.mean(pt_infer):9.1f} "
          f"{1000 / np.mean(pt_infer):7.2f}")
    print(f"{'peer: Ultralytics docs, yolo11n ONNX server CPU':48s} {ULTRALYTICS_YOLO11N_ONNX_CPU_MS:9.1f} "
          f"{1000 / ULTRALYTICS_YOLO11N_ONNX_CPU_MS:7.2f}")
    print(f"end-to-end ({e2e_model.name}, {batch.frames} frames 640x360, "
          f"model input {det.model.imgsz[0]}): {batch.frames / e2e_s:.2f} FPS, "
          f"{batch.detections.num_rows} detections")
    print("stage ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
