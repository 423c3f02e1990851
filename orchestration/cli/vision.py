"""``crimefusion vision export|train|detect``: video analytics commands.

Plain Typer command functions (``export``, ``train``, ``detect``), and ``app``, a
Typer group holding the three, for registration as ``crimefusion vision``. Heavy
libraries are imported inside the commands.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestration.cli.options import ErrorStyleGroup, fail

app = typer.Typer(name="vision", help="Video analytics: YOLO detections from camera video, geolocated.",
                  no_args_is_help=True, cls=ErrorStyleGroup)


@app.command("export")
def export(
    weights: Annotated[Path, typer.Argument(help="ultralytics .pt weights (or a model .yaml)")],
    imgsz: Annotated[int, typer.Option(help="model input size (square)")] = 640,
    out: Annotated[Optional[Path], typer.Option(help="where to write the .onnx (default: beside the weights)")] = None,
) -> None:
    """Export ultralytics YOLO weights to ONNX (class names go into its metadata)."""
    from vision.train import export_onnx

    try:
        path = export_onnx(weights, imgsz=imgsz, out=out or Path(weights).with_suffix(".onnx"))
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc))
    typer.echo(f"exported {path}")


@app.command("train")
def train(
    dataset: Annotated[Path, typer.Argument(help="YOLO dataset yaml (path, train, val, names)")],
    model: Annotated[str, typer.Option(help="model yaml (from scratch) or .pt weights (fine-tune)")] = "yolo11n.yaml",
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    imgsz: Annotated[int, typer.Option(min=32)] = 320,
    batch: Annotated[int, typer.Option(min=1)] = 8,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="cpu, 0, 0,1 ...")] = "cpu",
    name: Annotated[str, typer.Option(help="registered model name in MLflow")] = "crimefusion-yolo",
    register: Annotated[bool, typer.Option(help="log and register the model in MLflow")] = True,
    synthetic: Annotated[bool, typer.Option(help="first build the synthetic surveillance dataset at DATASET's folder")] = False,
    n_train: Annotated[int, typer.Option(help="synthetic: training images")] = 80,
) -> None:
    """Train or fine-tune a YOLO detector, export ONNX, check parity, register in MLflow."""
    from vision.train import train_yolo

    if synthetic:
        from vision.synthetic import build_dataset

        dataset = build_dataset(dataset.parent if dataset.suffix in (".yaml", ".yml") else dataset,
                                n_train=n_train, n_val=max(4, n_train // 5), seed=seed)
        typer.echo(f"synthetic dataset: {dataset}")
    if not dataset.is_file():
        raise fail(f"dataset yaml {dataset} does not exist (use --synthetic to build the synthetic one)")
    try:
        res = train_yolo(dataset, model=model, epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
                         device=device, register_as=name if register else None)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc))
    typer.echo(json.dumps({"weights": str(res.weights), "onnx": str(res.onnx), "metrics": res.metrics,
                           "model_version": res.model_version, "tracking_uri": res.tracking_uri}, indent=2))


@app.command("detect")
def detect(
    source: Annotated[str, typer.Argument(help="video file, folder of files, or rtsp:// / http:// stream")],
    model: Annotated[Path, typer.Option(help="YOLO .onnx model")],
    camera: Annotated[Optional[Path], typer.Option(help="camera record JSON (camera_id, lon, lat, control_points)")] = None,
    camera_id: Annotated[Optional[str], typer.Option(help="camera id when no camera record is given")] = None,
    start_time: Annotated[Optional[str], typer.Option(help="UTC ISO time of the first frame of a file")] = None,
    sample_fps: Annotated[Optional[float], typer.Option(help="frames per second to keep")] = None,
    conf: float = 0.25,
    iou: float = 0.7,
    track: Annotated[bool, typer.Option(help="ByteTrack identities")] = True,
    out: Annotated[Path, typer.Option(help="folder for detections/rejects/events Parquet")] = Path(".crimefusion/vision/detect"),
    draw: Annotated[Optional[Path], typer.Option(help="save the first frame with detections drawn (PNG)")] = None,
) -> None:
    """Detect, track and geolocate objects in video; write Parquet and print stage timings."""
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.table import Table

    from vision.events import class_counts
    from vision.predictor import Detector
    from vision.records import ModelFormatError
    from vision.settings import DetectorSettings

    cam = None
    if camera is not None:
        try:
            cam = json.loads(camera.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise fail(f"camera record {camera}: {exc}")
    t0 = None
    if start_time:
        try:
            t0 = datetime.fromisoformat(start_time)
        except ValueError:
            raise fail(f"--start-time {start_time!r} is not an ISO time")
        t0 = t0 if t0.tzinfo else t0.replace(tzinfo=timezone.utc)
    try:
        settings = DetectorSettings(conf_threshold=conf, iou_threshold=iou, sample_fps=sample_fps, track=track)
        det = Detector(model, settings)
    except (ModelFormatError, ValueError) as exc:
        raise fail(str(exc))
    batch = det.run(source, camera=cam, camera_id=camera_id, start_time=t0)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(batch.detections, out / "detections.parquet")
    pq.write_table(batch.rejects, out / "rejects.parquet")
    pq.write_table(class_counts(batch.detections), out / "video_events.parquet")
    console = Console()
    t = Table(title=f"{batch.frames} frames, {batch.detections.num_rows} detections, {batch.rejects.num_rows} rejects")
    t.add_column("stage")
    t.add_column("ms/frame", justify="right")
    for k, v in batch.timer.ms_per_frame().items():
        t.add_row(k, f"{v:.1f}")
    console.print(t)
    for r in batch.rejects.to_pylist():
        console.print(f"[yellow]quarantined[/] {r['source_file']}: {r['rule']}: {r['reason']}")
    if draw is not None and batch.detections.num_rows:
        import cv2

        from vision.draw import draw_detections
        from vision.source import VideoSource

        first = batch.detections.slice(0, 1).to_pylist()[0]
        for frame in VideoSource(first["source"]):
            if frame.index == first["frame_index"]:
                draw.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(draw), draw_detections(frame.image, batch.detections, frame_index=frame.index))
                console.print(f"drew {draw}")
                break
    console.print(f"wrote {out}/detections.parquet, rejects.parquet, video_events.parquet")
