"""Record types of the vision pipeline: Arrow schemas and small frozen dataclasses.

Kept apart from the code that fills them so that the pipeline, the event kernels,
the CLI and the integrator's Delta writers agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from jobs.schemas import H3_RESOLUTION, REJECTS

__all__ = [
    "REJECTS",
    "H3_RESOLUTION",
    "Camera",
    "ControlPoint",
    "VideoSourceError",
    "ModelFormatError",
    "CameraCalibrationError",
]


class VideoSourceError(ValueError):
    """A video source cannot be opened or read (missing, corrupt, empty, dropped)."""


class ModelFormatError(ValueError):
    """A model file is not an ultralytics YOLO detection model in ONNX form."""


class CameraCalibrationError(ValueError):
    """A camera record lacks usable pixel-to-ground control points."""


@dataclass(frozen=True)
class ControlPoint:
    """One pixel-to-ground correspondence: image pixel ``(u, v)`` sees ``(lon, lat)``."""

    u: float
    v: float
    lon: float
    lat: float


@dataclass(frozen=True)
class Camera:
    """A camera record as in ``jobs.schemas.CAMERAS``."""

    camera_id: str
    lon: float
    lat: float
    heading_deg: float | None = None
    control_points: tuple[ControlPoint, ...] = field(default_factory=tuple)

    @classmethod
    def from_record(cls, record: dict) -> "Camera":
        """Build a camera from a dict shaped like a ``CAMERAS`` row.

        Raises
        ------
        ValueError
            When ``camera_id``, ``lon`` or ``lat`` is missing.
        """
        missing = [k for k in ("camera_id", "lon", "lat") if record.get(k) is None]
        if missing:
            raise ValueError(f"camera record {record!r} lacks field(s) {missing}")
        points = tuple(
            ControlPoint(float(p["u"]), float(p["v"]), float(p["lon"]), float(p["lat"]))
            for p in (record.get("control_points") or [])
        )
        heading = record.get("heading_deg")
        return cls(
            camera_id=str(record["camera_id"]),
            lon=float(record["lon"]),
            lat=float(record["lat"]),
            heading_deg=None if heading is None else float(heading),
            control_points=points,
        )

    @classmethod
    def from_table(cls, table: pa.Table) -> list["Camera"]:
        """Cameras from an Arrow table with the ``CAMERAS`` columns."""
        return [cls.from_record(row) for row in table.to_pylist()]
