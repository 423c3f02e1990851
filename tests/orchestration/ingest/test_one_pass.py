"""A file ingested in one pass (landed and parsed as it is read) gives the rows of landing, then refining.

``ingest_file`` takes the one-pass path for a new file of a source with nothing
left to refine, and the two-pass path (land, then the incremental refine) when
silver already holds one of the file's ids. After every file, silver,
quarantine and bronze must equal those of a lake that landed the same files and
re-parsed the source in full: ids from a column and ids from the row's content
(with a file that brings a column the others lack), duplicates within a file,
rejects, a file that supersedes earlier rows, and the same file twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs.ingest.spec import load_spec
from jobs.ingest import text
from orchestration.ingest import receipts
from orchestration.ingest.one_pass import Declined, ingest_in_one_pass
from orchestration.ingest.pipeline import bronze_table, ingest_file, land_files, refine, rejects_table
from jobs.ingest.readers import SourceFileError
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from tests.orchestration.ingest.test_incremental import CONTENT_SPEC, HEADER, ID_SPEC, KEY, lake_rows, row

FILES = [
    ("a.csv", HEADER, [row("1", 1), row("2", 1), row("2", 1, 9), row("3", 1), row("bad", 1, x="x"),
                       row("4", 1, y="")]),
    ("b.csv", HEADER, [row("5", 2), row("6", 2, place="park"), row("7", 2)]),
    # supersedes a.csv's id 3 (and, by content, repeats a.csv's first row): the refine resolves it
    ("c.csv", HEADER, [row("3", 1, 10), row("8", 3), row("1", 1)]),
    # a column no file had before: bronze gains it, later files read it as empty
    ("d.csv", HEADER + ",notes", [row("9", 4) + ",seen twice", row("10", 4) + ","]),
    ("e.csv", HEADER, [row("11", 5), row("12", 5), row("12", 5)]),
]


def landed_at(k: int) -> datetime:
    return datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=k)


def silver_mode(lake: LocalLakehouse) -> str:
    """How silver's last commit wrote: ``Append`` (the one-pass path) or ``Overwrite`` (the refine)."""
    last = next(c for c in lake.table("silver", "incidents").history(3) if c["operation"] == "WRITE")
    return last["operationParameters"]["mode"]


@pytest.mark.parametrize("spec_text", [ID_SPEC, CONTENT_SPEC], ids=["id_column", "content_ids"])
def test_one_pass_equals_landing_then_full_refresh(tmp_path, spec_text):
    (tmp_path / "spec.yaml").write_text(spec_text)
    spec = load_spec(tmp_path / "spec.yaml")
    one, ref = LocalLakehouse(root=str(tmp_path / "one")), LocalLakehouse(root=str(tmp_path / "ref"))
    ctx = Compute().sedona()
    modes = []
    for k, (name, header, rows) in enumerate([*FILES, FILES[1]]):  # b.csv again at the end: nothing new
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n")
        summary = ingest_file(one, spec, path, ctx=ctx, now=landed_at(k), pseudonym_key=KEY)
        land_files(ref, spec, [path], now=landed_at(k))
        refine(ref, spec, ctx=ctx, now=landed_at(k), pseudonym_key=KEY, full=True)
        assert summary.rows_in == summary.accepted + summary.quarantined == len(rows), name
        for layer, table in (("silver", "incidents"), ("quarantine", rejects_table(spec)),
                             ("bronze", bronze_table(spec))):
            assert lake_rows(one, layer, table) == lake_rows(ref, layer, table), f"{name}: {layer}/{table}"
        modes.append(silver_mode(one))
    # new files went in one pass (the first creating silver); c.csv collides with a.csv's rows and went
    # through the refine; b.csv again wrote nothing
    assert modes == ["ErrorIfExists", "Append", "Overwrite", "Append", "Append", "Append"]
    entries = receipts.latest(one, spec.name)
    assert len(entries) == len(FILES) and {e.state for e in entries.values()} == {receipts.REFINED}
    rejects = lake_rows(one, "quarantine", rejects_table(spec))
    assert {"duplicate_id", "invalid_coordinates", "missing_coordinates"} <= {r["rule"] for r in rejects}


def test_declines_what_the_refine_must_do(tmp_path):
    (tmp_path / "spec.yaml").write_text(ID_SPEC)
    spec = load_spec(tmp_path / "spec.yaml")
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    ctx = Compute().sedona()
    first = tmp_path / "first.csv"
    first.write_text("\n".join([HEADER, row("1", 1), row("2", 1)]) + "\n")
    land_files(lake, spec, [first])  # landed, not refined (an interrupted run)
    second = tmp_path / "second.csv"
    second.write_text("\n".join([HEADER, row("3", 1)]) + "\n")
    with pytest.raises(Declined, match="to refine"):
        ingest_in_one_pass(lake, spec, second, ctx=ctx, now=None, pseudonym_key=KEY)
    assert not lake.exists("silver", "incidents")
    summary = ingest_file(lake, spec, second, ctx=ctx, pseudonym_key=KEY)  # the refine finishes both
    assert (summary.rows_in, summary.accepted) == (1, 1) and lake.count("silver", "incidents") == 3

    # an id silver holds: bronze commits, silver does not, and the refine resolves the duplicate
    third = tmp_path / "third.csv"
    third.write_text("\n".join([HEADER, row("4", 2), row("1", 2)]) + "\n")
    version = lake.version("silver", "incidents")
    with pytest.raises(Declined, match="silver already holds 1"):
        ingest_in_one_pass(lake, spec, third, ctx=ctx, now=None, pseudonym_key=KEY)
    assert lake.version("silver", "incidents") == version
    assert lake.count("bronze", bronze_table(spec)) == 5
    summary = ingest_file(lake, spec, third, ctx=ctx, pseudonym_key=KEY)
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (2, 2, 0)
    dup = lake.read("quarantine", rejects_table(spec))
    assert dup["record_id"].to_pylist() == ["inc_city:1"] and dup["rule"].to_pylist() == ["duplicate_id"]


def test_a_file_error_half_way_commits_nothing(tmp_path, monkeypatch):
    """A gzip stream cut short, found chunks after the first rows went to the writers: the error names the
    file, and no table gains a row (both writers' streams fail before their commit)."""
    import gzip

    monkeypatch.setattr(text, "CHUNK_BYTES", 2048)  # many chunks, so rows reach the writers first
    (tmp_path / "spec.yaml").write_text(ID_SPEC)
    spec = load_spec(tmp_path / "spec.yaml")
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    ctx = Compute().sedona()
    good = tmp_path / "good.csv"
    good.write_text("\n".join([HEADER, row("1", 1)]) + "\n")
    ingest_file(lake, spec, good, ctx=ctx, pseudonym_key=KEY)
    versions = {layer: lake.version(layer, name) for layer, name in
                (("bronze", bronze_table(spec)), ("silver", "incidents"))}
    whole = gzip.compress(("\n".join([HEADER] + [row(str(i), 2) for i in range(100, 20100)]) + "\n").encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) - 64])
    with pytest.raises(SourceFileError, match=r"cut\.csv\.gz: corrupt gzip file"):
        ingest_file(lake, spec, cut, ctx=ctx, pseudonym_key=KEY)
    assert {layer: lake.version(layer, name) for layer, name in
            (("bronze", bronze_table(spec)), ("silver", "incidents"))} == versions
    assert lake.count("bronze", bronze_table(spec)) == lake.count("silver", "incidents") == 1


def test_an_empty_file_lands_nothing(tmp_path):
    (tmp_path / "spec.yaml").write_text(ID_SPEC)
    spec = load_spec(tmp_path / "spec.yaml")
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    path = tmp_path / "header_only.csv"
    path.write_text(HEADER + "\n")
    summary = ingest_file(lake, spec, path, ctx=Compute().sedona(), pseudonym_key=KEY)
    assert (summary.rows_in, summary.accepted, summary.quarantined) == (0, 0, 0) and len(summary.ingest_ids) == 1
    assert lake.count("bronze", bronze_table(spec)) == 0 and not lake.exists("silver", "incidents")
    assert receipts.latest(lake, spec.name) == {}
