"""The error a source file raises when it cannot be read at all (as opposed to rows, which are quarantined)."""

from __future__ import annotations


class SourceFileError(ValueError):
    """A whole file cannot be ingested (missing, empty, missing columns...)."""
