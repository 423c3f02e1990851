"""Arrow schemas of the vision tables (detections, video events, synthetic ground truth):
the vision domain's one schemas module.
"""

from __future__ import annotations

import pyarrow as pa

from jobs.schemas import UTC_TS


#: Silver: one row per tracked object per sampled frame.
DETECTIONS = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        # the clip: in the lakehouse video/<camera_id>/<date>/<file> under the landing root; else the file or stream read
        pa.field("source", pa.string(), nullable=False),
        pa.field("frame_time", UTC_TS, nullable=False),
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("track_id", pa.int64()),  # null when tracking is off
        pa.field("class_id", pa.int32(), nullable=False),
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("confidence", pa.float32(), nullable=False),
        pa.field("x1", pa.float32(), nullable=False),
        pa.field("y1", pa.float32(), nullable=False),
        pa.field("x2", pa.float32(), nullable=False),
        pa.field("y2", pa.float32(), nullable=False),
        pa.field("lon", pa.float64()),  # foot point (bottom-centre of the box) on the ground
        pa.field("lat", pa.float64()),
        pa.field("geometry", pa.binary()),  # WKB point, EPSG:4326
        pa.field("h3", pa.string()),
    ],
    metadata={b"description": b"Silver: YOLO detections from camera video, tracked and geolocated."},
)


#: Gold: events derived from detections (counts, loitering, crowd surges).
VIDEO_EVENTS = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),  # class_count | loitering | crowd_surge
        pa.field("class_name", pa.string()),
        pa.field("track_id", pa.int64()),
        pa.field("window_start", UTC_TS, nullable=False),
        pa.field("window_end", UTC_TS, nullable=False),
        pa.field("value", pa.float64(), nullable=False),  # count, dwell seconds or crowd size
        pa.field("baseline", pa.float64()),  # crowd_surge: the median it was compared with
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field("h3", pa.string()),
        pa.field("source", pa.string()),  # the clip they come from (gold/video_events' partition); kernels leave it null
    ],
    metadata={b"description": b"Gold: video events per camera (class counts, loitering, crowd surges)."},
)


#: Ground truth of a clip: one row per object per frame.
GROUND_TRUTH = pa.schema(
    [
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("frame_time", UTC_TS, nullable=False),
        pa.field("object_id", pa.int64(), nullable=False),
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("x1", pa.float32(), nullable=False),
        pa.field("y1", pa.float32(), nullable=False),
        pa.field("x2", pa.float32(), nullable=False),
        pa.field("y2", pa.float32(), nullable=False),
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
    ]
)


#: Ground truth of the demo clips written for calibrated cameras: :data:`GROUND_TRUTH` with camera and clip.
VIDEO_TRUTH = pa.schema([pa.field("camera_id", pa.string(), nullable=False),
                         pa.field("source", pa.string(), nullable=False), *GROUND_TRUTH])
