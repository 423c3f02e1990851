"""Source stage: frames from a video file, a folder of files, or a live stream.

Everything goes through OpenCV's ``VideoCapture`` (FFmpeg backend), so RTSP,
HTTP(S) MJPEG/HLS streams and the usual containers work alike. Frames can be
sampled down to a rate; each frame carries its UTC time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from vision.records import VideoSourceError

__all__ = ["Frame", "VideoSource", "expand_sources", "is_stream", "VIDEO_SUFFIXES", "IMAGE_SUFFIXES"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv", ".mjpeg", ".ts"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def is_stream(uri: str | Path) -> bool:
    """True for a live-stream URI (``rtsp://``, ``http://`` ...)."""
    return str(uri).lower().startswith(STREAM_SCHEMES)


def expand_sources(source: str | Path) -> list[str]:
    """A stream URI or file as is; a folder as its video and image files, sorted by name.

    Raises
    ------
    VideoSourceError
        The path does not exist, or a folder holds no video or image file.
    """
    if is_stream(source):
        return [str(source)]
    path = Path(source)
    if path.is_dir():
        files = sorted(
            str(p) for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES
        )
        if not files:
            raise VideoSourceError(
                f"folder {path} holds no video ({', '.join(sorted(VIDEO_SUFFIXES))}) or image file"
            )
        return files
    return [str(path)]


@dataclass(frozen=True)
class Frame:
    """One decoded frame (BGR, ``uint8``, ``(h, w, 3)``) and where/when it came from."""

    source: str
    index: int
    time: datetime
    image: np.ndarray


class VideoSource:
    """Iterate the frames of one file or stream, optionally sampled to ``sample_fps``.

    Parameters
    ----------
    uri : str or Path
        Video file, image file, or stream URI.
    sample_fps : float, optional
        Keep about this many frames per second of video time; ``None`` keeps all.
    start_time : datetime, optional
        UTC time of a file's first frame (frame ``i`` is at ``start_time + i / fps``).
        Defaults to the file's modification time; pass the recording start when known.
        Streams stamp each frame with the wall clock when it is read.
    retries, retry_wait_s : int, float
        A stream that stops delivering frames is reopened up to ``retries`` times,
        ``retry_wait_s`` apart, before the source gives up.
    capture_factory : callable
        Builds the capture object from the URI (``cv2.VideoCapture`` by default).

    Attributes
    ----------
    dropped : str or None
        After iteration: why a stream ended early (``None`` if it did not).
    frames_read : int
        Frames decoded (sampled or not).

    Raises
    ------
    VideoSourceError
        On iteration: the file is missing, cannot be decoded, or has no frames.
    """

    def __init__(
        self,
        uri: str | Path,
        *,
        sample_fps: float | None = None,
        start_time: datetime | None = None,
        retries: int = 3,
        retry_wait_s: float = 1.0,
        capture_factory: Callable[[str], Any] | None = None,
    ) -> None:
        if sample_fps is not None and sample_fps <= 0:
            raise ValueError(f"sample_fps must be > 0, got {sample_fps}")
        if start_time is not None and start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware (UTC)")
        self.uri = str(uri)
        self.sample_fps = sample_fps
        self.start_time = start_time
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self._factory = capture_factory
        self.stream = is_stream(self.uri)
        self.dropped: str | None = None
        self.frames_read = 0
        self.fps: float | None = None

    def _open(self):
        if self._factory is not None:
            return self._factory(self.uri)
        import cv2

        return cv2.VideoCapture(self.uri)

    def __iter__(self) -> Iterator[Frame]:
        if not self.stream:
            path = Path(self.uri)
            if not path.exists():
                raise VideoSourceError(f"video file {path} does not exist")
            if not path.is_file():
                raise VideoSourceError(f"video source {path} is not a file")
            if path.stat().st_size == 0:
                raise VideoSourceError(f"video file {path} is empty (0 bytes)")
            if path.suffix.lower() in IMAGE_SUFFIXES:
                yield from self._image(path)
                return
        cap = self._open()
        if cap is None or not cap.isOpened():
            what = "stream" if self.stream else "video file"
            raise VideoSourceError(
                f"{what} {self.uri} cannot be opened or decoded by OpenCV/FFmpeg "
                "(corrupt file, unsupported codec, or unreachable stream)"
            )
        try:
            yield from self._frames(cap)
        finally:
            cap.release()

    def _image(self, path: Path) -> Iterator[Frame]:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoSourceError(f"image file {path} cannot be decoded")
        self.frames_read = 1
        yield Frame(self.uri, 0, self._file_start(), img)

    def _file_start(self) -> datetime:
        if self.start_time is not None:
            return self.start_time.astimezone(timezone.utc)
        return datetime.fromtimestamp(Path(self.uri).stat().st_mtime, tz=timezone.utc)

    def _frames(self, cap) -> Iterator[Frame]:
        import cv2

        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else None
        start = None if self.stream else self._file_start()
        t0_stream = time.monotonic()
        last_bucket = -1
        index = 0
        retries_left = self.retries
        while True:
            ok, img = cap.read()
            if not ok or img is None:
                if not self.stream:
                    break
                if retries_left <= 0:
                    self.dropped = (
                        f"stream {self.uri} stopped delivering frames after {self.frames_read} frame(s) "
                        f"and {self.retries} reconnect attempt(s)"
                    )
                    break
                retries_left -= 1
                cap.release()
                time.sleep(self.retry_wait_s)
                cap = self._open()
                continue
            retries_left = self.retries
            self.frames_read += 1
            if self.stream:
                now = datetime.now(timezone.utc)
                t_rel = time.monotonic() - t0_stream
            else:
                if self.fps:
                    t_rel = index / self.fps
                else:
                    t_rel = float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
                now = start + timedelta(seconds=t_rel)
            keep = True
            if self.sample_fps is not None:
                bucket = int(np.floor(t_rel * self.sample_fps + 1e-9))
                keep = bucket > last_bucket
                if keep:
                    last_bucket = bucket
            if keep:
                yield Frame(self.uri, index, now, img)
            index += 1
        if self.frames_read == 0 and self.dropped is None:
            raise VideoSourceError(f"video {self.uri} has no frames (empty or truncated before the first frame)")
