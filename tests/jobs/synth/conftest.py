"""Fixtures: the bundled Chicago incidents the generator lays over."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pv
import pytest

from jobs.synth.incidents import from_crimemapping
from tests.helpers import data_path

NAME = "chicago/aggravated_assaults_2010_2017.csv.gz"


@pytest.fixture(scope="session")
def chicago_incidents() -> pa.Table:
    raw = pv.read_csv(data_path(NAME), convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)
    # 2017 only keeps the fixture light; the generator picks its window inside it
    return inc.slice(inc.num_rows - 16_000)
