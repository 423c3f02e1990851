"""A clip's name in the lakehouse: its path under the landing root, and how rows of older lakes (absolute paths)
are read and replaced (orchestration/vision/landing.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from orchestration.vision.landing import clip_predicate, clip_source, clip_sources, relative_sources

KEY = "CAM-1/2024-05-01/clip.mp4"


@pytest.mark.parametrize("stored, read", [
    ("video/CAM-1/2024-05-01/clip.mp4", "video/CAM-1/2024-05-01/clip.mp4"),  # written by this version
    ("/srv/node-7/landing/video/CAM-1/2024-05-01/clip.mp4", "video/CAM-1/2024-05-01/clip.mp4"),  # older lake
    ("/video/CAM-1/2024-05-01/clip.mp4", "video/CAM-1/2024-05-01/clip.mp4"),  # landing at the file-system root
    ("/srv/landing/video/CAM-1/2024-05-01/sub/clip.mp4", "/srv/landing/video/CAM-1/2024-05-01/sub/clip.mp4"),
    ("rtsp://camera-1/video/a/b/c", "rtsp://camera-1/video/a/b/c"),  # a stream, not a landed clip
    ("clip.mp4", "clip.mp4"),
    (None, None),
])
def test_relative_sources(stored, read):
    assert relative_sources(pa.array([stored], pa.string())).to_pylist() == [read]


def test_names_and_predicate(tmp_path):
    from deltalake import DeltaTable, write_deltalake

    assert clip_source(KEY) == f"video/{KEY}"
    assert clip_sources(tmp_path, KEY) == [f"video/{KEY}", str((tmp_path / "video" / KEY).resolve())]
    with pytest.raises(ValueError, match="expected <camera_id>/<YYYY-MM-DD>/<file name>"):
        clip_source("../x/clip.mp4")
    rows = pa.table({"source": [f"video/{KEY}", f"/a/landing/video/{KEY}", f"/b/video/{KEY}",
                                "/a/landing/video/CAM-1/2024-05-01/other.mp4", f"x{KEY}"], "n": [1, 2, 3, 4, 5]})
    write_deltalake(str(tmp_path / "t"), rows)
    DeltaTable(str(tmp_path / "t")).delete(clip_predicate(KEY))
    assert sorted(DeltaTable(str(tmp_path / "t")).to_pyarrow_table()["n"].to_pylist()) == [4, 5]
    assert "it''s" in clip_predicate("CAM-1/2024-05-01/it's.mp4")  # quoted, never SQL of its own
