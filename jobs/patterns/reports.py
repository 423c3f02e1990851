"""Write the pattern figures into the reports folder, and show a figure in Dagster metadata.

Unlike the kernels of this package these functions write files: the assets
give them a folder (``<CRIMEFUSION_HOME>/reports/patterns/``) and the figures
of :mod:`jobs.patterns.plots`.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

__all__ = ["png_markdown", "slug", "write_figures"]


def slug(text: str) -> str:
    """``text`` as a file-name part: lower case, runs of other characters as ``_`` (``x`` when nothing is left)."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "x"


def png_markdown(fig, path: Path, alt: str) -> str:
    """Save ``fig`` at ``path`` and return Markdown showing a small inline copy and the path."""
    fig.savefig(path, dpi=130)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=60, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{data})\n\n`{path}`"


def write_figures(figures: list[tuple[Path, object]], alt: str) -> str:
    """Save each ``(path, figure)``; return :func:`png_markdown` of the first (empty string when there is none)."""
    if not figures:
        return ""
    first = png_markdown(figures[0][1], figures[0][0], alt)
    for path, fig in figures[1:]:
        fig.savefig(path, dpi=130)
    return first
