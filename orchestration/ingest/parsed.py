"""A refine's parse as a stream: accepted rows for the silver commit, and what it counts and keeps
(:class:`Tally`) for the quarantine commit and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from jobs.ingest.records import ParseResult, ParseState, parse_records
from jobs.ingest.spec import SourceSpec
from jobs.schemas import CANONICAL, REJECTS
from orchestration.ingest.bronze_reader import bronze_batches
from jobs.ingest.readers import wait_for_writer
from orchestration.resources.lakehouse import Lakehouse


class Tally:
    """What a streamed parse counts and keeps: rows per receipt, rejects per rule and the rejects.

    Rejects are held in memory up to :data:`SPILL_REJECT_ROWS` rows, then written to a temporary Parquet
    file that :meth:`rejects` streams from (a file of nothing but rejects never holds every reject in memory).
    """

    def __init__(self) -> None:
        self.rows_in = self.accepted = self.quarantined = 0
        self.per_receipt: dict[str, dict[str, int]] = {}
        self.by_rule: dict[str, int] = {}
        self._rejects: list[pa.Table] = []
        self._held = 0
        self._spill = None  # (TemporaryDirectory, path, ParquetWriter) once rejects outgrow memory

    def add(self, bronze: pa.Table, result: ParseResult) -> None:
        self.rows_in += bronze.num_rows
        self.accepted += result.accepted.num_rows
        if result.rejects.num_rows:
            self._keep(result.rejects)

        def counts(t: pa.Table, column: str = "ingest_id") -> dict[str, int]:
            if not t.num_rows:
                return {}
            g = t.group_by(column).aggregate([(column, "count")])
            return dict(zip(g[column].to_pylist(), g[f"{column}_count"].to_pylist()))

        n_ok, n_q = counts(result.accepted), counts(result.rejects)
        for rule, n in counts(result.rejects, "rule").items():
            self.by_rule[rule] = self.by_rule.get(rule, 0) + n
        for i, n in counts(bronze).items():
            c = self.per_receipt.setdefault(i, {"rows_in": 0, "accepted": 0, "quarantined": 0})
            c["rows_in"] += n
            c["accepted"] += n_ok.get(i, 0)
            c["quarantined"] += n_q.get(i, 0)

    def _keep(self, rejects: pa.Table) -> None:
        self.quarantined += rejects.num_rows
        if self._spill is None:
            self._rejects.append(rejects)
            self._held += rejects.num_rows
            if self._held <= SPILL_REJECT_ROWS:
                return
            import tempfile

            import pyarrow.parquet as pq

            folder = tempfile.TemporaryDirectory(prefix="crimefusion-rejects-")
            path = Path(folder.name) / "rejects.parquet"
            self._spill = (folder, path, pq.ParquetWriter(path, REJECTS))
            batches, self._rejects, self._held = self._rejects, [], 0
        else:
            batches = [rejects]
        for t in batches:
            self._spill[2].write_table(t.cast(REJECTS))

    def rejects(self):
        """The rejects: a table, or (once spilled) a :class:`SpilledRejects`, which the lakehouse's writes
        take as a function opening a reader (both have ``num_rows``)."""
        if self._spill is None:
            return pa.concat_tables(self._rejects) if self._rejects else REJECTS.empty_table()
        self._spill[2].close()  # idempotent
        return SpilledRejects(self._spill[1], self.quarantined)

    def summary(self, spec: SourceSpec, version: int | None, *, withdrawn: tuple[str, ...] = ()):
        from orchestration.ingest.pipeline import IngestSummary

        return IngestSummary(rows_in=self.rows_in, accepted=self.accepted, quarantined=self.quarantined,
                             table_version=version, source=spec.name, ingest_ids=tuple(sorted(self.per_receipt)),
                             rejects_by_rule=tuple(sorted(self.by_rule.items())), withdrawn=withdrawn)


#: Rejects a refine holds in memory before it spills them to a temporary file.
SPILL_REJECT_ROWS = 256 * 1024


class SpilledRejects:
    """Rejects spilled to a Parquet file: calling it opens a reader over them (afresh each time, so a commit
    that lost a race writes them again)."""

    def __init__(self, path: Path, num_rows: int) -> None:
        self.path, self.num_rows = path, num_rows

    def __call__(self) -> pa.RecordBatchReader:
        import pyarrow.parquet as pq

        return pa.RecordBatchReader.from_batches(REJECTS, pq.ParquetFile(self.path).iter_batches(batch_size=64 * 1024))


class StreamedParse:
    """``parse_records`` over the bronze rows of some receipts, batch by batch, in a full refresh's order,
    with a :class:`~jobs.ingest.records.ParseState` carried across batches: the same rows as one call over
    them all, in memory bounded by a batch. :meth:`reader` opens the accepted rows afresh (a commit that
    lost a race parses again); :attr:`tally` holds what the last pass counted."""

    def __init__(self, lake: Lakehouse, spec: SourceSpec, ingest_ids: list[str], landed: dict, *, boundaries, ctx,
                 now: datetime, pseudonym_key: bytes | None, prior=None) -> None:
        self.lake, self.spec, self.ingest_ids, self.landed = lake, spec, ingest_ids, landed
        self.kwargs = dict(boundaries=boundaries, ctx=ctx, now=now, pseudonym_key=pseudonym_key, prior=prior)
        self.tally = Tally()

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.tally = Tally()
        state = ParseState()
        for bronze in bronze_batches(self.lake, self.spec, self.ingest_ids, self.landed):
            result = parse_records(bronze, self.spec, state=state, **self.kwargs)
            self.tally.add(bronze, result)
            wait_for_writer(own=bronze.nbytes + result.accepted.nbytes)
            yield from result.accepted.to_batches()

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(CANONICAL[self.spec.table], self.batches())
