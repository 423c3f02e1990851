"""The landing folder: where new files of each source arrive, by ingest date.

Layout: ``<landing>/<source name>/<YYYY-MM-DD>/<files>``. The bronze asset of a
feed, materialised for partition ``D``, lands every file in ``<source>/D/`` of
each of its sources (partition ``D``), plus the files a spec bundles
(``files:``, which belong to no ingest date and land once). Landing a
partition again writes only what changed: a file already landed is skipped
(content-addressed ingest ids), a corrected file replaces the one it corrects
and a file no longer in the folder leaves bronze (``pipeline.land_files``).
"""

from __future__ import annotations

from pathlib import Path

from jobs.ingest.spec import SourceSpec

#: File name patterns that are never data (editor and transfer leftovers).
IGNORED = (".", "~", "_")


def landing_dir(landing: Path, spec: SourceSpec, partition: str) -> Path:
    return Path(landing) / spec.name / partition


def dropped_files(landing: Path, spec: SourceSpec, partition: str) -> list[Path]:
    """The files dropped for a source and ingest date, in name order."""
    folder = landing_dir(landing, spec, partition)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(IGNORED))


def new_files(landing: Path, spec: SourceSpec, seen: set[str]) -> dict[str, list[Path]]:
    """Files under ``<landing>/<source>/<date>/`` not in ``seen`` (by ``path:mtime:size``), by date."""
    found: dict[str, list[Path]] = {}
    root = Path(landing) / spec.name
    if not root.is_dir():
        return found
    for day in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(day.iterdir()):
            if f.is_file() and not f.name.startswith(IGNORED) and file_token(f) not in seen:
                found.setdefault(day.name, []).append(f)
    return found


def file_token(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_mtime_ns}:{st.st_size}"
