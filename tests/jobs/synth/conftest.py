"""Fixtures: the bundled Chicago incidents the generator lays over."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pytest

from jobs.synth.incidents import from_crimemapping

REPO = Path(__file__).resolve().parents[3]
NAME = "chicago/aggravated_assaults_2010_2017.csv.gz"


def data_path(name: str) -> Path:
    """The file in the repo's data/ folder, else in the shared data folder beside the repo."""
    for root in (REPO / "data", REPO.parent / "shared" / "data"):
        if (root / name).exists():
            return root / name
    pytest.skip(f"{name} not found under data/")


@pytest.fixture(scope="session")
def chicago_incidents() -> pa.Table:
    raw = pv.read_csv(data_path(NAME), convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)
    # 2017 only keeps the fixture light; the generator picks its window inside it
    return inc.slice(inc.num_rows - 16_000)
