"""Helpers more than one test module uses (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_path(name: str) -> Path:
    """The file ``name`` in the repository's ``data/`` folder, else in ``../shared/data``; skips the test when neither has it."""
    for root in (REPO / "data", REPO.parent / "shared" / "data"):
        if (root / name).exists():
            return root / name
    pytest.skip(f"data file {name} not found in data/ or ../shared/data")
