"""``videos``: one dynamic partition per landed video file.

A key is the file's path under ``<landing>/video/``, in POSIX form:
``<camera_id>/<YYYY-MM-DD>/<file name>`` (e.g. ``CAM-0003/2026-11-28/clip.mp4``).
It is readable in the UI, names the camera and the recording date, does not
depend on where the landing folder is mounted (local disk or a cluster volume),
and maps back to exactly one file. A recorder that rewrites a file at the same
path (a corrected clip or sidecar) re-runs the same key, whose rows are then
replaced; a content hash would instead leave the old rows behind under a key
nobody runs again. ``video_sensor`` adds the keys as files land.
"""

from __future__ import annotations

import dagster as dg

__all__ = ["VIDEOS"]

VIDEOS = dg.DynamicPartitionsDefinition(name="videos")
