"""A small synthetic world in silver shape (CDRs, transactions, cell sectors) with its planted truth."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pytest

from tests.helpers import data_path

NAME = "chicago/aggravated_assaults_2010_2017.csv.gz"


@pytest.fixture(scope="session")
def small_world():
    from jobs.ingest.pseudonymise import DEMO_KEY
    from jobs.links.synthetic import silver_from_synth
    from jobs.synth import generate
    from jobs.synth.incidents import from_crimemapping

    raw = pv.read_csv(data_path(NAME), convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)
    inc = inc.slice(inc.num_rows - 8_000)
    feeds = generate(inc, seed=7, scale=0.3)
    silver = silver_from_synth(feeds, key=DEMO_KEY)
    span = pc.min_max(silver["cdr_events"]["start_time"]).as_py()
    inside = inc.filter(pc.and_(pc.greater_equal(inc["occurred_at"], span["min"]),
                                pc.less_equal(inc["occurred_at"], span["max"])))
    incidents = inside.append_column("source", pa.array(["chicago"] * inside.num_rows))
    return {"incidents": incidents, **silver}
