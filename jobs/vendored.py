"""JavaScript libraries shipped inside the package (``jobs/<pkg>/static/``), read for pages that work offline.

A page inlines the library instead of linking a CDN, so it draws the same from ``file://``
on a machine with no network. Each library sits beside its licence, listed in
``pyproject.toml``'s package data.
"""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["minified_script", "static_text"]


def static_text(package: str, *parts: str) -> str:
    """A text file shipped under ``<package>/static/`` (package data), e.g. ``("jobs.maps", "leaflet", "leaflet.js")``."""
    node = resources.files(package).joinpath("static", *parts)
    if not node.is_file():
        where = f"{package.replace('.', '/')}/static/{'/'.join(parts)}"
        raise FileNotFoundError(f"{where} is missing from the installed package "
                                "(pyproject.toml's [tool.setuptools.package-data] must list it)")
    return node.read_text(encoding="utf-8")


def minified_script(package: str, parts: tuple[str, ...], version_marker: str, what: str) -> str:
    """A vendored minified script, checked to hold ``version_marker`` (the version the project vendored and
    tested), without its source-map comment (no map file sits beside a page)."""
    js = static_text(package, *parts)
    if version_marker not in js:
        raise ValueError(f"{package.replace('.', '/')}/static/{'/'.join(parts)} is not {what}")
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
