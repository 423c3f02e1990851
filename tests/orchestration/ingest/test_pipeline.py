"""Refine's streaming pieces: bronze read back in file order whatever order delta-rs stored it in, and
rejects spilled to disk instead of held in memory, both with the rows a plain read gives."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from jobs.ingest.spec import load_spec
from orchestration.ingest import bronze_reader, parsed, pipeline
from orchestration.ingest.pipeline import bronze_table, land_files, refine, rejects_table
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from tests.orchestration.ingest.test_incremental import ID_SPEC

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
SPEC = ID_SPEC.replace("name: inc_city", "name: stream_city")  # the incremental tests' feed, renamed


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "stream_city.yaml"
    path.write_text(SPEC)
    return load_spec(path)


def landed(tmp_path, spec, rows: list[str]) -> LocalLakehouse:
    tmp_path.mkdir(parents=True, exist_ok=True)
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    path = tmp_path / "a.csv"
    path.write_text("\n".join(["case_id,date,loc_cat,longitude,latitude", *rows]) + "\n")
    land_files(lake, spec, [path], now=NOW)
    return lake


def shuffled(lake: LocalLakehouse, spec, stretch: int, seed: int = 0) -> None:
    """Store the receipt again with its rows in stretches out of file order, as delta-rs's writer may."""
    t = lake.read("bronze", bronze_table(spec)).sort_by("source_row")
    starts = np.arange(0, t.num_rows, stretch)
    np.random.default_rng(seed).shuffle(starts)
    order = np.concatenate([np.arange(a, min(a + stretch, t.num_rows)) for a in starts])
    lake.overwrite("bronze", bronze_table(spec), t.take(pa.array(order)))
    stored = lake.read("bronze", bronze_table(spec))["source_row"].to_numpy()
    assert (np.diff(stored) < 0).any()  # the test reads rows stored out of order


def rows_read(lake, spec) -> list[int]:
    receipts = {i: r.ingested_at for i, r in pipeline.receipts.bronze_receipts(lake, bronze_table(spec)).items()}
    out = []
    for batch in bronze_reader.bronze_batches(lake, spec, sorted(receipts), receipts):
        assert batch.num_rows <= bronze_reader.REFINE_BATCH_ROWS
        out.extend(batch["source_row"].to_pylist())
    return out


ROWS = [f"{k},2016-05-01 12:30,street,-87.6277,41.7922" for k in range(1, 301)]


@pytest.mark.parametrize("held", [10_000, 1], ids=["reordered", "windows"])
@pytest.mark.parametrize("stretch", [1, 7, 64])
def test_bronze_read_in_file_order_whatever_the_stored_order(tmp_path, spec, monkeypatch, held, stretch):
    lake = landed(tmp_path, spec, ROWS)
    shuffled(lake, spec, stretch)
    monkeypatch.setattr(bronze_reader, "REFINE_BATCH_ROWS", 32)
    monkeypatch.setattr(bronze_reader, "REORDER_ROWS", held)  # 1: too much to hold, read by windows
    assert rows_read(lake, spec) == list(range(1, 301))


def test_refine_of_shuffled_bronze_equals_refine_of_ordered(tmp_path, spec, monkeypatch):
    rows = [*ROWS, ROWS[5], ROWS[200].replace("street", "park"), "999,2016-05-01 12:30,street,x,41.79"]
    ctx = Compute().sedona()
    monkeypatch.setattr(bronze_reader, "REFINE_BATCH_ROWS", 16)
    lakes = []
    for name, stretch in (("ordered", None), ("shuffled", 5)):
        lake = landed(tmp_path / name, spec, rows)
        if stretch:
            shuffled(lake, spec, stretch)
        refine(lake, spec, ctx=ctx, now=NOW, full=True)
        lakes.append(lake)
    for layer, name in (("silver", "incidents"), ("quarantine", rejects_table(spec))):
        a, b = (lk.read(layer, name).sort_by([("ingest_id", "ascending"), ("source_row", "ascending")]) for lk in lakes)
        assert a.equals(b)
    assert lakes[0].count("quarantine", rejects_table(spec)) == 3  # two duplicate ids, one bad x


def test_rejects_spill_to_disk_and_are_written_whole(tmp_path, spec, monkeypatch):
    """A file of nothing but rejects: they are spilled once past the limit, streamed into quarantine, counted."""
    bad = [f"{k},2016-05-01 12:30,street,x,41.79" for k in range(1, 201)]
    lake = landed(tmp_path, spec, bad)
    monkeypatch.setattr(bronze_reader, "REFINE_BATCH_ROWS", 16)
    monkeypatch.setattr(parsed, "SPILL_REJECT_ROWS", 40)
    summary = refine(lake, spec, ctx=Compute().sedona(), now=NOW, full=True)
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (200, 0, 200)
    assert dict(summary.rejects_by_rule) == {"invalid_coordinates": 200}
    q = lake.read("quarantine", rejects_table(spec)).sort_by("source_row")
    assert q["source_row"].to_pylist() == list(range(1, 201))


def test_tally_spills_past_the_limit(monkeypatch):
    from jobs.ingest.records import ParseResult
    from jobs.schemas import CANONICAL, REJECTS

    monkeypatch.setattr(parsed, "SPILL_REJECT_ROWS", 5)
    tally = parsed.Tally()
    for k in range(4):
        rejects = pa.table({"source": ["s"] * 3, "ingest_id": ["i"] * 3, "source_file": ["f"] * 3,
                            "source_row": [3 * k + 1, 3 * k + 2, 3 * k + 3], "rule": ["missing_value"] * 3,
                            "field": [None] * 3, "reason": ["r"] * 3, "raw": ["{}"] * 3,
                            "record_id": [None] * 3}).cast(REJECTS)
        bronze = pa.table({"ingest_id": ["i"] * 3})
        tally.add(bronze, ParseResult(accepted=CANONICAL["incidents"].empty_table(), rejects=rejects))
    out = tally.rejects()
    assert out.num_rows == 12 and callable(out)
    assert pa.Table.from_batches(list(out())).column("source_row").to_pylist() == list(range(1, 13))
    assert pa.Table.from_batches(list(out())).num_rows == 12  # opened afresh for a retried commit
