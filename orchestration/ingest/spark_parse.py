"""The refine's parse in Spark tasks (``engine: spark``): the driver side of :mod:`jobs.spark.ingest`.

:class:`SparkParse` has the interface of the embedded streamed parse
(``parsed.StreamedParse``): :meth:`~SparkParse.reader` opens the accepted
rows in the canonical schema (running the Spark job afresh each time, so a
silver commit that lost a race parses again) and :attr:`~SparkParse.tally`
holds what the last pass counted (rows per receipt, the rejects). The reader
gives the embedded parse's batches exactly (the same rows, split the same way:
one batch per bronze batch of the refresh, found by a driver-side read of
bronze's ``ingest_id`` and ``source_row`` columns), because the order delta-rs
stores a stream's rows in follows its batches. Silver and quarantine are then
committed once each through delta-rs by the refine, as in embedded mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pyarrow as pa

from jobs.ingest.records import ParseResult
from jobs.ingest.spec import SourceSpec
from jobs.schemas import CANONICAL, REJECTS
from orchestration.ingest.bronze_reader import bronze_batches, desc
from orchestration.ingest.parsed import StreamedParse, Tally
from orchestration.ingest.tables import bronze_table
from orchestration.resources.lakehouse import Lakehouse


def streamed_parse(compute, log: Callable[[str], None] | None = None):
    """The parse class for ``compute``'s engine: :class:`SparkParse` (bound to ``compute`` and ``log``) for
    ``spark``, the embedded ``parsed.StreamedParse`` otherwise (and without a compute resource)."""
    if compute is None or compute.engine != "spark":
        return StreamedParse

    def make(*args, **kwargs) -> SparkParse:
        return SparkParse(*args, compute=compute, log=log, **kwargs)

    return make


class SparkParse:
    """``parse_records`` over the bronze rows of some receipts in Spark tasks (:func:`jobs.spark.ingest.spark_parse`):
    the rows the embedded streamed parse gives, duplicate ids resolved in the full refresh's order."""

    def __init__(self, lake: Lakehouse, spec: SourceSpec, ingest_ids: list[str], landed: dict, *, boundaries, ctx,
                 now: datetime, pseudonym_key: bytes | None, prior=None, compute,
                 log: Callable[[str], None] | None = None) -> None:
        del ctx  # each task opens its own SedonaDB context
        self.lake, self.spec, self.ingest_ids, self.landed = lake, spec, ingest_ids, landed
        self.boundaries, self.now, self.pseudonym_key, self.prior = boundaries, now, pseudonym_key, prior
        self.compute, self.log = compute, log or (lambda message: None)
        self.tally = Tally()
        #: ``(file tasks, parse tasks)`` of the last pass
        self.tasks = (0, 0)

    def batches(self) -> Iterator[pa.RecordBatch]:
        from jobs.spark.ingest import bronze_files, spark_parse

        self.tally = Tally()
        if not self.ingest_ids:
            return
        order = sorted(self.ingest_ids, key=lambda i: (self.landed[i], desc(i)), reverse=True)
        rank = {i: k for k, i in enumerate(order)}
        name = bronze_table(self.spec)
        so = self.lake.storage_options()
        files = bronze_files(self.lake.uri("bronze", name), self.ingest_ids, storage_options=so)
        schema = self.lake.table("bronze", name).to_pyarrow_dataset().schema
        run = spark_parse(self.compute.spark(), files, self.spec, schema=schema, rank=rank,
                          partitions=self.compute.spark_partitions, now=self.now, boundaries=self.boundaries,
                          pseudonym_key=self.pseudonym_key, prior=self.prior, storage_options=so)
        self.tasks = (run.file_tasks, run.parse_tasks)
        results = iter(run.results)
        _, rejects = next(results, (None, REJECTS.empty_table()))
        accepted = _Ordered((a for a, _ in results), rank, CANONICAL[self.spec.table])
        rejected = _Ordered(iter([rejects]), rank, REJECTS)
        # the accepted rows go to the silver commit in the batches the embedded parse gives it (one per bronze
        # batch it parses): delta-rs spreads a stream's batches over its writer partitions, so the rows' order
        # in the table, which readers that sample by position see, follows the batches, not only the rows
        for bronze in bronze_batches(self.lake, self.spec, self.ingest_ids, self.landed,
                                      columns=["ingest_id", "source_row"]):
            last = (rank[bronze["ingest_id"][0].as_py()], bronze["source_row"][-1].as_py())
            ok, bad = accepted.until(last), rejected.until(last)
            self.tally.add(bronze, ParseResult(accepted=ok, rejects=bad))
            if ok.num_rows:
                yield from ok.to_batches()
        left = accepted.until((len(order), 0)).num_rows + rejected.until((len(order), 0)).num_rows
        if left:
            raise RuntimeError(f"{name}: {left:,} parsed row(s) of no bronze batch; bronze changed while the "
                               f"refine read it: refine again")
        self.log(f"{self.spec.name}: {len(self.ingest_ids):,} receipt(s) parsed in Spark tasks "
                 f"({self.compute.spark_master}): {run.file_tasks:,} file task(s), {run.parse_tasks:,} parse "
                 f"task(s) by record id, {run.parse_tasks:,} sort partition(s); {self.tally.rows_in:,} rows in = "
                 f"{self.tally.accepted:,} accepted + {self.tally.rejects().num_rows:,} quarantined")

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(CANONICAL[self.spec.table], self.batches())


class _Ordered:
    """Tables of rows in the refresh's order (receipt rank, source row), taken from the front up to a row."""

    def __init__(self, tables: Iterator[pa.Table], rank: dict[str, int], schema: pa.Schema) -> None:
        self.tables, self.by_rank, self.schema = tables, pa.array(sorted(rank, key=rank.get), pa.string()), schema
        self.held: list[pa.Table] = []

    def _keys(self, t: pa.Table):
        import numpy as np
        import pyarrow.compute as pc

        r = pc.index_in(t["ingest_id"], value_set=self.by_rank).to_numpy(zero_copy_only=False).astype(np.int64)
        return r, t["source_row"].to_numpy().astype(np.int64)

    def until(self, last: tuple[int, int]) -> pa.Table:
        """Every row up to ``last`` (a ``(rank, source_row)``, inclusive) not taken yet, as one table."""
        import numpy as np

        out = []
        while True:
            if not self.held:
                nxt = next(self.tables, None)
                if nxt is None:
                    break
                if nxt.num_rows:
                    self.held.append(nxt)
                continue
            t = self.held[0]
            r, row = self._keys(t)
            k = int(np.count_nonzero((r < last[0]) | ((r == last[0]) & (row <= last[1]))))
            out.append(t.slice(0, k))
            if k < t.num_rows:
                self.held[0] = t.slice(k)
                break
            self.held.pop(0)
        return pa.concat_tables(out).combine_chunks() if out else self.schema.empty_table()
