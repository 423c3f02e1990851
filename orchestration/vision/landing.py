"""The video landing folder: ``<landing>/video/<camera_id>/<YYYY-MM-DD>/<files>``.

A camera's recorder (or an operator) drops clips in the folder of the camera and
the recording date. The time of a clip's first frame comes, in this order, from
a sidecar ``<stem>.json`` (``{"start_time": "2024-05-01T22:00:00Z"}``), a stamp
in the file name (``20240501T220000Z``), or the file's modification time.
Everything else in the folder is taken for video; a file that is not (or is
corrupt) is quarantined by the detections asset, and the batch goes on.

In the lakehouse a clip is named by its path under the landing root,
``video/<camera_id>/<YYYY-MM-DD>/<file>`` (:func:`clip_source`): the ``source``
of silver detections, gold video_events and gold events, and of the demo
truth, is the same on every machine that mounts the landing folder. Lakes
written before stored the clip's absolute path: :func:`clip_predicate` matches a
clip's rows under either name (a re-run replaces the old rows, whichever machine
wrote them), :func:`clip_sources` lists the names to read, and
:func:`relative_sources` reads an old absolute name as the relative one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from jobs.sql import sql_literal

#: The landing sub-folder of camera video.
VIDEO_FOLDER = "video"
#: File name prefixes that are never data (editor and transfer leftovers), as in orchestration.ingest.landing.
IGNORED = (".", "~", "_")
#: Sidecar files that describe a clip; never video.
SIDECAR_SUFFIX = ".json"
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")

__all__ = ["VIDEO_FOLDER", "video_dir", "video_files", "new_video_files", "clip_start_time", "file_token",
           "camera_of", "video_key", "video_of_key", "clips_of", "clip_source", "clip_sources", "clip_predicate",
           "relative_sources"]


def video_dir(landing: Path, camera_id: str, day: str) -> Path:
    """``<landing>/video/<camera_id>/<day>``."""
    return Path(landing) / VIDEO_FOLDER / camera_id / day


def _is_date(name: str) -> bool:
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return True


def _clips(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(IGNORED) and p.suffix.lower() != SIDECAR_SUFFIX)


def video_files(landing: Path, day: str) -> list[Path]:
    """Every clip dropped for ingest date ``day``, over all cameras, sorted by camera then name."""
    root = Path(landing) / VIDEO_FOLDER
    if not root.is_dir():
        return []
    out: list[Path] = []
    for camera in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(IGNORED)):
        folder = camera / day
        if folder.is_dir():
            out += _clips(folder)
    return out


def file_token(path: Path) -> str:
    """``path:mtime_ns:size``: a file counts as new when any of these changes."""
    st = path.stat()
    return f"{path}:{st.st_mtime_ns}:{st.st_size}"


def new_video_files(landing: Path, seen: set[str]) -> tuple[dict[str, list[Path]], list[str]]:
    """Files (clips and sidecars) not in ``seen``, by ingest date; and folder names that are not dates."""
    root = Path(landing) / VIDEO_FOLDER
    found: dict[str, list[Path]] = {}
    skipped: list[str] = []
    if not root.is_dir():
        return found, skipped
    for camera in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(IGNORED)):
        for day in sorted(p for p in camera.iterdir() if p.is_dir()):
            if not _is_date(day.name):
                skipped.append(str(day))
                continue
            for f in sorted(day.iterdir()):
                if f.is_file() and not f.name.startswith(IGNORED) and file_token(f) not in seen:
                    found.setdefault(day.name, []).append(f)
    return found, skipped


def camera_of(path: Path) -> str:
    """The camera id of a landed clip: its grandparent folder's name."""
    return Path(path).parent.parent.name


def clip_start_time(path: Path) -> tuple[dt.datetime | None, str]:
    """UTC time of the clip's first frame and where it came from (``sidecar``, ``file name``, ``mtime``).

    ``None`` with ``mtime`` leaves the choice to the video source (the file's
    modification time).

    Raises
    ------
    ValueError
        A sidecar exists but is not JSON, or its ``start_time`` is not an ISO time.
    """
    path = Path(path)
    sidecar = path.with_suffix(SIDECAR_SUFFIX)
    if sidecar.is_file():
        try:
            value = json.loads(sidecar.read_text()).get("start_time")
            if value is not None:
                t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc), "sidecar"
        except (json.JSONDecodeError, ValueError, AttributeError) as exc:
            raise ValueError(f"sidecar {sidecar}: expected JSON with an ISO 'start_time' "
                             f"(e.g. 2024-05-01T22:00:00Z): {exc}") from None
    m = _STAMP.search(path.stem)
    if m:
        return dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc), "file name"
    return None, "mtime"


def video_key(landing: Path, path: Path) -> str:
    """The ``videos`` partition key of a landed clip: its path under ``<landing>/video/``, POSIX form.

    Raises
    ------
    ValueError
        The file is not under ``<landing>/video/<camera_id>/<date>/``, or its name holds what Dagster refuses
        in a partition key (``...`` or control characters).
    """
    root = (Path(landing) / VIDEO_FOLDER).resolve()
    try:
        rel = Path(path).resolve().relative_to(root)
    except ValueError:
        raise ValueError(f"{path} is not under the video landing folder {root}") from None
    if len(rel.parts) != 3:
        raise ValueError(f"{path}: expected <landing>/video/<camera_id>/<YYYY-MM-DD>/<file>, found {rel.as_posix()}")
    key = rel.as_posix()
    if "..." in key or any(ord(c) < 32 for c in key):
        raise ValueError(f"{path}: a video partition key cannot hold '...' or control characters; rename the file")
    return key


def video_of_key(landing: Path, key: str) -> Path:
    """The landed file of a ``videos`` partition key (the inverse of :func:`video_key`)."""
    parts = key.split("/")
    if len(parts) != 3 or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"video partition key {key!r}: expected <camera_id>/<YYYY-MM-DD>/<file name>")
    return (Path(landing) / VIDEO_FOLDER / Path(*parts)).resolve()


def clips_of(paths: list[Path]) -> list[Path]:
    """The clips that ``paths`` (new or changed files: clips and sidecars) concern, sorted and unique.

    A sidecar ``<stem>.json`` stands for the clips of its folder with the same stem,
    so a corrected start time re-runs its clip.
    """
    out: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.suffix.lower() != SIDECAR_SUFFIX:
            out.add(p)
        elif p.parent.is_dir():
            out.update(c for c in _clips(p.parent) if c.stem == p.stem)
    return sorted(out)


def clip_source(key: str) -> str:
    """The ``source`` of a clip's rows in the lakehouse: ``video/<camera_id>/<date>/<file>`` (under the landing root)
    for ``videos`` partition key ``key`` (:func:`video_key`), whatever machine ran the detection."""
    video_of_key(Path("."), key)  # the same checks as the file's path
    return f"{VIDEO_FOLDER}/{key}"


def clip_sources(landing: Path, key: str) -> list[str]:
    """The ``source`` values to read a clip's rows by: :func:`clip_source`, and the absolute path that lakes written
    before it stored when this machine ran the detection (a read filter cannot say "ends with")."""
    return [clip_source(key), str(video_of_key(landing, key))]


def clip_predicate(key: str, column: str = "source") -> str:
    """The Delta predicate of a clip's rows: its :func:`clip_source` name, or an absolute path ending in it (what
    lakes written before stored, on whichever machine ran the detection)."""
    name = clip_source(key)
    return f'("{column}" = {sql_literal(name)} OR ends_with("{column}", {sql_literal("/" + name)}))'


#: An absolute clip path as lakes stored it before sources were relative: ``/.../video/<camera>/<date>/<file>``.
_ABSOLUTE_CLIP = r"^/(?:.*/)?(" + VIDEO_FOLDER + r"/[^/]+/[^/]+/[^/]+)$"


def relative_sources(sources: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``source`` values with old absolute clip paths read as :func:`clip_source` names (other values unchanged):
    ``/srv/landing/video/CAM-1/2024-05-01/clip.mp4`` -> ``video/CAM-1/2024-05-01/clip.mp4``."""
    return pc.replace_substring_regex(sources, pattern=_ABSOLUTE_CLIP, replacement=r"\1")
