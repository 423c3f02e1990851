"""Ingestion steps shared by the Dagster assets and the CLI.

``land`` writes files' rows as received to bronze; ``refine`` parses bronze
rows into the silver table and the quarantine. Both are idempotent. Bronze rows
carry the ingest partition they were landed for (``ingest_partition``, null for
the CLI's one-file ingest): landing a partition replaces every row of that
partition and of the receipts (content-addressed ingest ids) it lands, so a
corrected file re-delivered for the same day replaces the earlier one and an
identical file landed before under another partition is not stored twice.
Silver rows are upserted on their id (or replaced per source on a full
refresh) and rejects are replaced per ingest, so running either twice leaves
the same tables.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from jobs.ingest.records import ParseResult, ParseState, parse_records, row_ids
from jobs.ingest.spec import SourceSpec
from jobs.schemas import CANONICAL, ID_FIELD, REJECTS
from orchestration.ingest import receipts
from orchestration.lakehouse import changes
from orchestration.ingest.boundaries import layer_name, read_boundaries
from orchestration.ingest.readers import file_digest, ingest_id_for, open_source, wait_for_writer
from orchestration.ingest.spark_parse import streamed_parse
from orchestration.resources.lakehouse import CommitConflictError, Lakehouse, WriteResult, in_list, sql_literal


def bronze_table(spec: SourceSpec) -> str:
    return f"raw_{spec.name}"


def rejects_table(spec: SourceSpec) -> str:
    return f"{spec.table}_rejects"


@dataclass(frozen=True)
class IngestSummary:
    """The reconciliation of one ingest: ``rows_in == accepted + quarantined``."""

    rows_in: int
    accepted: int
    quarantined: int
    table_version: int | None
    source: str = ""
    ingest_ids: tuple[str, ...] = ()
    rejects_by_rule: tuple[tuple[str, int], ...] = ()
    withdrawn: tuple[str, ...] = ()

    def to_json_dict(self) -> dict:
        d = asdict(self)
        d["ingest_ids"] = list(self.ingest_ids)
        d["rejects_by_rule"] = dict(self.rejects_by_rule)
        d["withdrawn"] = list(self.withdrawn)
        return d


def land(lake: Lakehouse, spec: SourceSpec, path: str | Path, *, now: datetime | None = None) -> tuple[str, WriteResult]:
    """Write one file's rows, as received, to ``bronze/raw_<source>``; returns its ingest id.

    Replaces the rows of an earlier receipt of the same content, and nothing else
    (no ingest partition: the CLI's one-file ingest).
    """
    landed, result = land_files(lake, spec, [path], now=now)
    return landed[0][1], result


def land_files(
    lake: Lakehouse,
    spec: SourceSpec,
    paths: list[str | Path],
    *,
    partition: str | None = None,
    now: datetime | None = None,
) -> tuple[list[tuple[Path, str, int]], WriteResult | None]:
    """Land files of one source; with ``partition``, the partition's earlier receipts not among them leave.

    A file whose content is already landed for the same partition is not
    written again (0 rows); a new receipt is appended (appends of different
    receipts never conflict); a receipt landed before under another partition
    is moved (its rows replaced in one commit). With ``partition``, the
    receipts it held that are not among ``paths`` are deleted: a corrected
    re-delivery replaces the file it corrects, an empty drop folder withdraws
    the day. Files are streamed one at a time in bounded batches, each into
    one commit, so memory does not grow with a file. A file-level error (missing column, empty file) stops the landing at
    that file, naming it; landing the partition again once it is fixed gives
    the full partition, and the receipts already written are not written twice.

    Returns
    -------
    list of (path, ingest id, rows written) per file, and the last bronze write
    (``None`` when there was nothing to write or delete).
    """
    name = bronze_table(spec)
    stored = receipts.bronze_receipts(lake, name)
    shas = [file_digest(Path(p)) if Path(p).is_file() else None for p in paths]  # a first streaming pass
    ids = [ingest_id_for(spec, s) if s else None for s in shas]
    landed: list[tuple[Path, str, int]] = []
    result: WriteResult | None = None
    stale = sorted(i for i, r in stored.items() if partition is not None and r.partition == partition
                   and i not in ids)
    if stale:
        lake.delete("bronze", name, in_list("ingest_id", stale))
        result = lake.describe("bronze", name)
    written: set[str] = set()
    for path, ingest_id, sha in zip(paths, ids, shas):
        known = stored.get(ingest_id) if ingest_id else None
        if (known is not None and known.partition == partition) or ingest_id in written:
            landed.append((Path(path), ingest_id, 0))  # this content is landed for this partition already
            continue
        # streamed in bounded batches and written in one commit per receipt: memory does not grow with the
        # file, and a crash never leaves half a receipt
        stream = open_source(spec, path, now=now, sha256=sha)
        extra = {"ingest_partition": (pa.string(), partition)}
        try:
            if known is not None:  # landed before under another partition: moved here
                result = lake.replace_where("bronze", name, lambda: stream.reader(extra),
                                            f"ingest_id = {sql_literal(stream.ingest_id)}", evolve_schema=True)
            else:
                result = lake.append("bronze", name, lambda: stream.reader(extra), evolve_schema=True)
        except Exception:
            if stream.error is not None:  # a file-level error found while streaming: nothing was committed
                raise stream.error from None
            raise
        written.add(stream.ingest_id)
        landed.append((Path(path), stream.ingest_id, result.rows_written))
    return landed, result


def ensure_boundaries(lake: Lakehouse, spec: SourceSpec) -> pa.Table | None:
    """The spec's study-area polygons, written to ``reference/police_districts`` if not there yet."""
    if spec.study_area is None:
        return None
    layer = layer_name(spec)
    if lake.exists("reference", "police_districts"):
        stored = lake.read("reference", "police_districts", filters=[("layer", "=", layer)])
        if stored.num_rows:
            return stored
    rows = read_boundaries(spec)
    lake.replace_where("reference", "police_districts", rows, f"layer = {sql_literal(layer)}")
    return rows


#: How often a refine starts over after losing a commit race to another writer of the same tables.
REFINE_ATTEMPTS = 5


def refine(
    lake: Lakehouse,
    spec: SourceSpec,
    *,
    ctx,
    now: datetime | None = None,
    pseudonym_key: bytes | None = None,
    full: bool = False,
    log=None,
    compute=None,
) -> IngestSummary:
    """Parse bronze receipts of ``spec`` into silver and quarantine.

    Incremental (the default): only receipts the ledger (``receipts.py``) does
    not hold as refined, under this spec and key, from the bronze rows landed
    now, are parsed; receipts that left bronze lose their silver and
    quarantine rows. Duplicate ids resolve exactly as a full refresh would
    (the latest receipt wins; every other row of the id is a ``duplicate_id``
    reject naming the winner): when a new receipt outranks a row already in
    silver, or a winner leaves, the receipts holding the id's other rows are
    re-parsed too. The silver and quarantine commits each replace the rows of
    exactly the receipts re-parsed (``replace_where ingest_id IN (...)``).

    ``full=True`` re-parses every receipt of the source and replaces the
    source's rows in one commit each: the reference the incremental path is
    tested against, and what a rebuild does.

    With a ``compute`` resource on engine ``spark`` the parse runs in Spark
    tasks (``spark_parse.SparkParse``: the same rows, committed the same way).
    """
    now = now or datetime.now(timezone.utc)
    if full:
        return _refine_full(lake, spec, ctx=ctx, now=now, pseudonym_key=pseudonym_key, compute=compute, log=log)
    with _source_lock(lake, spec):
        for attempt in range(1, REFINE_ATTEMPTS + 1):
            try:
                return _refine_incremental(lake, spec, ctx=ctx, now=now, pseudonym_key=pseudonym_key, log=log,
                                           compute=compute)
            except CommitConflictError:  # every retry of a write lost: re-read everything, start over
                if attempt == REFINE_ATTEMPTS:
                    raise
                time.sleep(min(8.0, 0.2 * 2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # the loop returns or raises


def _refine_full(lake: Lakehouse, spec: SourceSpec, *, ctx, now: datetime, pseudonym_key: bytes | None,
                 compute=None, log=None) -> IngestSummary:
    landed = {i: r.ingested_at for i, r in receipts.bronze_receipts(lake, bronze_table(spec)).items()}
    boundaries = ensure_boundaries(lake, spec)
    parse = streamed_parse(compute, log)(lake, spec, sorted(landed), landed, boundaries=boundaries, ctx=ctx,
                                         now=now, pseudonym_key=pseudonym_key)
    where = f"source = {sql_literal(spec.name)}"
    silver = lake.replace_where("silver", spec.table, parse.reader, where)
    lake.replace_where("quarantine", rejects_table(spec), parse.tally.rejects(), where, evolve_schema=True)
    return parse.tally.summary(spec, silver.version)


def _refine_incremental(lake: Lakehouse, spec: SourceSpec, *, ctx, now: datetime, pseudonym_key: bytes | None,
                        log=None, compute=None) -> IngestSummary:
    say = log or (lambda message: None)
    fingerprint = receipts.spec_fingerprint(spec, pseudonym_key)
    in_bronze = receipts.bronze_receipts(lake, bronze_table(spec))
    entries = receipts.latest(lake, spec.name)

    def up_to_date(i: str) -> bool:
        e = entries.get(i)
        return (e is not None and e.state == receipts.REFINED and e.spec_fingerprint == fingerprint
                and e.ingested_at == in_bronze[i].ingested_at)

    dirty = {i for i in in_bronze if not up_to_date(i)}
    gone = {i for i, e in entries.items() if i not in in_bronze and e.state != receipts.WITHDRAWN}
    if not dirty and not gone:
        return _nothing(spec, lake.version("silver", spec.table))
    say(f"{spec.name}: {len(dirty):,} receipt(s) to refine, {len(gone):,} withdrawn "
        f"({len(in_bronze) - len(dirty):,} already refined)")

    id_field = ID_FIELD[spec.table]
    losers = _duplicate_losers(lake, spec)     # id -> receipts holding a duplicate_id reject of it
    if losers is None:  # a quarantine table from before record_id: refine the source once in full
        say(f"{spec.name}: quarantine has no record_id column yet; re-parsing every receipt once")
        dirty, losers = set(in_bronze), {}
    boundaries = ensure_boundaries(lake, spec)
    landed = {i: r.ingested_at for i, r in in_bronze.items()}

    def outranks(a: str, b: str) -> bool:
        """Receipt ``a``'s rows win ids over receipt ``b``'s (the full refresh's order)."""
        return (landed[a], _desc(a)) > (landed[b], _desc(b))

    while True:
        touched = dirty | gone
        # ids whose current winner is re-parsed or gone: their losers resolve again
        pull: set[str] = set()
        if losers:
            lost = _held_by(lake, spec, id_field, sorted(touched))
            for k in lost:
                pull |= losers.get(k, set())
        # the ids these receipts' rows carry that silver already holds, with the receipt of the first such row in
        # the refresh order: an id-only pass (no rule is run, so a row a rule will reject counts too; that only
        # ever re-parses more) and a scan of silver's id column filtered to those ids
        new, holders = _collisions(lake, spec, id_field, sorted(dirty), landed) if dirty else ({}, {})
        for k, receipt in new.items():
            holder = holders[k]
            if holder not in touched and outranks(receipt, holder):
                pull.add(holder)                 # the clean winner loses: it becomes a reject
                pull |= losers.get(k, set())     # and its losers now name another row
        pull = {i for i in pull - touched if i in in_bronze}
        if not pull:
            break
        say(f"{spec.name}: {len(pull):,} earlier receipt(s) hold rows these receipts supersede; re-parsing them too")
        dirty |= pull

    prior_ids = {k for k in new if holders[k] not in touched}
    # ids a clean, later receipt already holds: those rows win
    prior = _prior_rows(lake, spec, id_field, prior_ids) if prior_ids else None
    parse = streamed_parse(compute, log)(lake, spec, sorted(dirty), landed, boundaries=boundaries, ctx=ctx,
                                         now=now, pseudonym_key=pseudonym_key, prior=prior)

    refined_before = {i for i in dirty if i in entries and entries[i].state == receipts.REFINED}
    receipts.record(lake, spec, [{"ingest_id": i, "state": receipts.PENDING} for i in sorted(refined_before)])
    where = f"source = {sql_literal(spec.name)} AND {in_list('ingest_id', sorted(touched))}"
    # accepted rows stream from bronze batches into one silver commit; rejects (few) are held for theirs
    silver = lake.replace_where("silver", spec.table, parse.reader, where)
    lake.replace_where("quarantine", rejects_table(spec), parse.tally.rejects(), where, evolve_schema=True)
    # gold follows silver through its change feed (a metadata commit, the first time only)
    version = silver.version if changes.enable_change_feed(lake, "silver", spec.table) \
        else lake.version("silver", spec.table)

    counts = parse.tally.per_receipt
    receipts.record(lake, spec, [
        *({"ingest_id": i, "state": receipts.REFINED, "ingested_at": landed[i], "spec_fingerprint": fingerprint,
           **counts.get(i, {"rows_in": 0, "accepted": 0, "quarantined": 0})} for i in sorted(dirty)),
        *({"ingest_id": i, "state": receipts.WITHDRAWN} for i in sorted(gone)),
    ])
    return parse.tally.summary(spec, version, withdrawn=tuple(sorted(gone)))


#: Bronze rows a refine parses at once: its working memory, whatever the size of the receipts.
REFINE_BATCH_ROWS = 256 * 1024


def _bronze_batches(lake: Lakehouse, spec: SourceSpec, ingest_ids: list[str], landed: dict,
                    columns: list[str] | None = None) -> Iterator[pa.Table]:
    """Bronze rows of the receipts in a full refresh's order (latest receipt first, ties by ingest id,
    file order within one), in batches of about :data:`REFINE_BATCH_ROWS` rows (``columns``: only those).

    A receipt's rows are written in one commit, but delta-rs's writer does not keep the order of the
    batches it is given (measured: row groups of a 4 M-row receipt hold interleaved stretches of rows), so
    a first pass reads the ``source_row`` column alone and finds the stretches of consecutive rows in the
    order they are stored. When they are in file order the rows stream as stored; otherwise the stretches
    are held until the ones before them have come (:data:`REORDER_ROWS` at most, as the first pass
    measured) or, when more would have to be held, each window of rows is read by its ``source_row``
    range (Parquet statistics skip the row groups outside it). Row groups are read one at a time. Memory
    stays bounded by a batch, a row group and the rows held, never by the receipt.
    """
    import numpy as np
    import pyarrow.dataset as pads

    if not ingest_ids:
        return
    ds = lake.table("bronze", bronze_table(spec)).to_pyarrow_dataset()
    # readahead of one file and two batches, no pre-buffering of a file's column chunks: the scanner's
    # defaults (4 files, 16 batches, pre_buffer) hold gigabytes
    scan = dict(fragment_readahead=1, batch_readahead=2,
                fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=False))
    for receipt in sorted(ingest_ids, key=lambda i: (landed[i], _desc(i)), reverse=True):
        only = pc.field("ingest_id") == receipt
        runs: list[tuple[int, int]] | None = []  # (first source_row, rows) of each stretch, in stored order
        low, high = None, None
        for b in _row_groups(ds, only, ["source_row"], scan):
            r = b.column(0).to_numpy()
            if not len(r):
                continue
            low = int(r.min()) if low is None else min(low, int(r.min()))
            high = int(r.max()) if high is None else max(high, int(r.max()))
            if runs is not None:
                cut = np.flatnonzero(np.diff(r) != 1) + 1
                runs.extend(zip(r[np.r_[0, cut]].tolist(), np.diff(np.r_[0, cut, len(r)]).tolist()))
                if len(runs) > _MAX_STRETCHES:
                    runs = None  # rows scattered one by one: windows below
        if low is None:
            continue
        plan = _reorder_plan(runs) if runs is not None else None
        if plan is None:
            yield from _bronze_windows(ds, only, columns, low, high, scan)
        elif isinstance(plan, str):  # "in order"
            yield from _rebatched(_stored_pieces(ds, only, columns, scan, spec, receipt, check=True))
        else:
            yield from _rebatched(_reordered(_stored_pieces(ds, only, columns, scan, spec, receipt), plan))


#: Rows of a receipt held at once to put its stored stretches back in file order; beyond it, windows are read.
REORDER_ROWS = 2 * REFINE_BATCH_ROWS
#: Stretches of consecutive rows a receipt may be stored in before it is read by windows instead.
_MAX_STRETCHES = 100_000


def _reorder_plan(runs: list[tuple[int, int]]):
    """``"in order"``, the stretches sorted (``starts``, ``ends``) when putting them in order holds at most
    :data:`REORDER_ROWS` rows, or ``None`` (rows repeated or overlapping, or too many to hold)."""
    import numpy as np

    starts = np.array([a for a, _ in runs], dtype=np.int64)
    lengths = np.array([k for _, k in runs], dtype=np.int64)
    if (np.diff(starts) > 0).all() and (starts[1:] >= starts[:-1] + lengths[:-1]).all():
        return "in order"
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], starts[order] + lengths[order]
    if (s[1:] < e[:-1]).any():
        return None  # a row twice: the stretches cannot be ordered without looking at every row
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    # rows held after each stretch arrives: those that arrived minus those emitted (all stretches before the
    # first one still missing)
    arrived = np.zeros(len(order), dtype=bool)
    held, done, peak = 0, 0, 0
    for i in range(len(runs)):
        arrived[rank[i]] = True
        held += int(lengths[i])
        while done < len(order) and arrived[done]:
            held -= int(e[done] - s[done])
            done += 1
        peak = max(peak, held)
        if peak > REORDER_ROWS:
            return None
    return s, e


def _row_groups(ds, only, columns, scan) -> Iterator[pa.RecordBatch]:
    """The receipt's stored batches, read one row group at a time: a dataset scan reads a file's row groups
    ahead of a consumer slower than the disk (measured: 770 MB held while the first batches of a 4 M-row
    receipt were parsed, whatever ``batch_readahead`` says)."""
    for fragment in ds.get_fragments(filter=only):
        for part in fragment.split_by_row_group(filter=only, schema=ds.schema):
            yield from part.to_batches(schema=ds.schema, columns=columns, filter=only, **scan)


def _stored_pieces(ds, only, columns, scan, spec: SourceSpec, receipt: str, check: bool = False):
    """The receipt's rows in stored order, as stretches of consecutive ``source_row`` (with ``check``:
    refusing rows that are not in file order, as a concurrent compaction could leave them)."""
    import numpy as np

    last = 0
    for b in _row_groups(ds, only, columns, scan):
        if not len(b):
            continue
        r = b.column("source_row").to_numpy()
        if check:
            if r[0] <= last:
                raise RuntimeError(f"bronze/{bronze_table(spec)}: receipt {receipt} read out of order; refine again")
            last = r[-1]
            yield b
            continue
        cut = np.flatnonzero(np.diff(r) != 1) + 1
        for a, z in zip(np.r_[0, cut], np.r_[cut, len(r)]):
            yield b.slice(int(a), int(z - a))


def _reordered(pieces, plan) -> Iterator[pa.RecordBatch]:
    """Stretches put back in file order: each is held until every row before it has been given."""
    import numpy as np

    starts, ends = plan
    held: dict[int, pa.RecordBatch] = {}
    k, cursor = 0, int(starts[0])
    for piece in pieces:
        held[int(piece.column("source_row")[0].as_py())] = piece
        while cursor in held:
            out = held.pop(cursor)
            yield out
            after = cursor + len(out)
            k += int(np.searchsorted(ends[k:], after, side="right"))  # stretches given in full
            if k == len(starts):
                cursor = -1
                break
            cursor = max(after, int(starts[k]))
    if held:
        raise RuntimeError(f"bronze rows could not be put back in file order ({len(held)} stretches left); "
                           f"refine again")


def _rebatched(batches) -> Iterator[pa.Table]:
    """Record batches regrouped into tables of :data:`REFINE_BATCH_ROWS` rows (the last one fewer)."""
    buf, n = [], 0
    for b in batches:
        while len(b):
            take = min(len(b), REFINE_BATCH_ROWS - n)
            buf.append(b.slice(0, take))
            n += take
            b = b.slice(take)
            if n == REFINE_BATCH_ROWS:
                yield pa.Table.from_batches(buf)
                buf, n = [], 0
    if buf:
        yield pa.Table.from_batches(buf)


def _bronze_windows(ds, only, columns, low: int, high: int, scan: dict) -> Iterator[pa.Table]:
    """The receipt's rows by windows of ``source_row``, each read (statistics skip row groups outside it)
    and sorted: bounded memory whatever the stored order, at the cost of reading row groups more than once."""
    step = REFINE_BATCH_ROWS
    for a in range(low, high + 1, step):
        rows = ds.to_table(filter=only & (pc.field("source_row") >= a) & (pc.field("source_row") < a + step),
                           columns=columns, **scan)
        if rows.num_rows:
            yield rows.sort_by("source_row")


class _Tally:
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
        """The rejects: a table, or (once spilled) a :class:`_SpilledRejects`, which the lakehouse's writes
        take as a function opening a reader (both have ``num_rows``)."""
        if self._spill is None:
            return pa.concat_tables(self._rejects) if self._rejects else REJECTS.empty_table()
        self._spill[2].close()  # idempotent
        return _SpilledRejects(self._spill[1], self.quarantined)

    def summary(self, spec: SourceSpec, version: int | None, *, withdrawn: tuple[str, ...] = ()) -> IngestSummary:
        return IngestSummary(rows_in=self.rows_in, accepted=self.accepted, quarantined=self.quarantined,
                             table_version=version, source=spec.name, ingest_ids=tuple(sorted(self.per_receipt)),
                             rejects_by_rule=tuple(sorted(self.by_rule.items())), withdrawn=withdrawn)


#: Rejects a refine holds in memory before it spills them to a temporary file.
SPILL_REJECT_ROWS = 256 * 1024


class _SpilledRejects:
    """Rejects spilled to a Parquet file: calling it opens a reader over them (afresh each time, so a commit
    that lost a race writes them again)."""

    def __init__(self, path: Path, num_rows: int) -> None:
        self.path, self.num_rows = path, num_rows

    def __call__(self) -> pa.RecordBatchReader:
        import pyarrow.parquet as pq

        return pa.RecordBatchReader.from_batches(REJECTS, pq.ParquetFile(self.path).iter_batches(batch_size=64 * 1024))


class _StreamedParse:
    """``parse_records`` over the bronze rows of some receipts, batch by batch, in a full refresh's order,
    with a :class:`~jobs.ingest.records.ParseState` carried across batches: the same rows as one call over
    them all, in memory bounded by a batch. :meth:`reader` opens the accepted rows afresh (a commit that
    lost a race parses again); :attr:`tally` holds what the last pass counted."""

    def __init__(self, lake: Lakehouse, spec: SourceSpec, ingest_ids: list[str], landed: dict, *, boundaries, ctx,
                 now: datetime, pseudonym_key: bytes | None, prior=None) -> None:
        self.lake, self.spec, self.ingest_ids, self.landed = lake, spec, ingest_ids, landed
        self.kwargs = dict(boundaries=boundaries, ctx=ctx, now=now, pseudonym_key=pseudonym_key, prior=prior)
        self.tally = _Tally()

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.tally = _Tally()
        state = ParseState()
        for bronze in _bronze_batches(self.lake, self.spec, self.ingest_ids, self.landed):
            result = parse_records(bronze, self.spec, state=state, **self.kwargs)
            self.tally.add(bronze, result)
            wait_for_writer(own=bronze.nbytes + result.accepted.nbytes)
            yield from result.accepted.to_batches()

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(CANONICAL[self.spec.table], self.batches())


def _desc(text: str) -> tuple[int, ...]:
    """A key under which a smaller string sorts later (ties between receipts landed at the same instant)."""
    return tuple(-ord(ch) for ch in text)


def _sorted(bronze: pa.Table) -> pa.Table:
    # latest receipt first, file order within a receipt: duplicates keep the newest delivery
    return bronze.sort_by([("ingested_at", "descending"), ("ingest_id", "ascending"), ("source_row", "ascending")])


def _held_by(lake: Lakehouse, spec: SourceSpec, id_field: str, ingest_ids: list[str]) -> set[str]:
    """Ids of the silver rows these receipts hold (their files found by the Delta log's statistics)."""
    if not ingest_ids or not lake.exists("silver", spec.table):
        return set()
    rows = lake.read("silver", spec.table, columns=[id_field],
                     filters=[("source", "=", spec.name), ("ingest_id", "in", ingest_ids)])
    return set(rows[id_field].to_pylist())


def _collisions(lake: Lakehouse, spec: SourceSpec, id_field: str, ingest_ids: list[str],
                landed: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Ids of these receipts' rows that silver already holds: ``({id: first receipt}, {id: silver's receipt})``.

    The one read that grows with silver: a scan of its id column, filtered to the receipts' ids as it goes,
    so only the colliding rows are materialised.
    """
    if not lake.exists("silver", spec.table):
        return {}, {}
    import pyarrow.dataset as pads

    state, parts = ParseState(), []
    for bronze in _bronze_batches(lake, spec, ingest_ids, landed, columns=_id_columns(spec)):
        parts.append(pa.table({"id": pa.array(row_ids(bronze, spec, state), pa.string()),
                               "receipt": bronze["ingest_id"].combine_chunks()}))
    if not parts:
        return {}, {}
    mine = pa.concat_tables(parts)
    ds = lake.table("silver", spec.table).to_pyarrow_dataset()
    held = ds.to_table(columns=[id_field, "ingest_id"],
                       filter=(pads.field("source") == spec.name) & pads.field(id_field).isin(pc.unique(mine["id"])))
    if not held.num_rows:
        return {}, {}
    holders = dict(zip(held[id_field].to_pylist(), held["ingest_id"].to_pylist()))
    hits = mine.filter(pc.is_in(mine["id"], value_set=held[id_field].combine_chunks()))
    first: dict[str, str] = {}
    for k, receipt in zip(hits["id"].to_pylist(), hits["receipt"].to_pylist()):  # refresh order: first wins
        first.setdefault(k, receipt)
    return first, holders


def _id_columns(spec: SourceSpec) -> list[str] | None:
    """The bronze columns a row's id is made of (``None``: every column, for ids made from the content)."""
    if spec.id.from_content:
        return None
    return list(dict.fromkeys([*spec.id.columns, "ingest_id", "source_row"]))


def _duplicate_losers(lake: Lakehouse, spec: SourceSpec) -> dict[str, set[str]] | None:
    """``{id: receipts}`` holding a ``duplicate_id`` reject of the id (``None`` when the table cannot say)."""
    name = rejects_table(spec)
    if not lake.exists("quarantine", name):
        return {}
    if "record_id" not in pa.schema(lake.table("quarantine", name).schema().to_arrow()).names:
        return None  # written before rejects named their id: which receipts lost an id is unknown
    rows = lake.read("quarantine", name, columns=["record_id", "ingest_id"],
                     filters=[("source", "=", spec.name), ("rule", "=", "duplicate_id")])
    out: dict[str, set[str]] = {}
    for k, i in zip(rows["record_id"].to_pylist(), rows["ingest_id"].to_pylist()):
        out.setdefault(k, set()).add(i)
    return out


def _prior_rows(lake: Lakehouse, spec: SourceSpec, id_field: str, ids: set[str]) -> dict[str, tuple[int, str]]:
    rows = lake.read("silver", spec.table, columns=[id_field, "source_row", "source_file"],
                     filters=[("source", "=", spec.name), (id_field, "in", sorted(ids))])
    return {k: (r, f) for k, r, f in zip(rows[id_field].to_pylist(), rows["source_row"].to_pylist(),
                                          rows["source_file"].to_pylist())}


def _nothing(spec: SourceSpec, version: int | None) -> IngestSummary:
    """The summary of a refine with no receipt to parse or withdraw."""
    return IngestSummary(rows_in=0, accepted=0, quarantined=0, table_version=version, source=spec.name)


@contextmanager
def _source_lock(lake: Lakehouse, spec: SourceSpec):
    """One refine of a source at a time on this host (CLI ingests running side by side).

    Refines on several hosts against an object store are serialised by
    Dagster's concurrency pools instead; a refine that still loses a commit
    race starts over from a fresh read.
    """
    root = lake.root_uri()
    if "://" in root:
        yield
        return
    import fcntl

    folder = Path(root) / ".locks"  # beside the layers, never inside one (tools list a layer's folders as tables)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"refine-{spec.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ingest_file(lake: Lakehouse, spec: SourceSpec, path: str | Path, *, ctx, now: datetime | None = None,
                pseudonym_key: bytes | None = None) -> IngestSummary:
    """Land one file in bronze and refine it into silver and quarantine (the CLI's ``ingest``).

    The refine also finishes any receipt of the source that an earlier,
    interrupted run landed but did not refine. The summary counts this file's
    rows (from the ledger, so re-ingesting an unchanged file reports it again
    without parsing it).

    A new file of a source with nothing left to refine is landed and parsed in
    one pass (:mod:`orchestration.ingest.one_pass`: the same rows, without
    reading the receipt back from bronze); otherwise, or when that pass finds
    the file supersedes rows already in silver, the refine below does it.
    """
    from orchestration.ingest.one_pass import Declined, ingest_in_one_pass

    try:
        return ingest_in_one_pass(lake, spec, path, ctx=ctx, now=now, pseudonym_key=pseudonym_key)
    except Declined:
        pass
    landed, _ = land_files(lake, spec, [path], now=now)
    _, ingest_id, written = landed[0]
    run = refine(lake, spec, ctx=ctx, now=now, pseudonym_key=pseudonym_key)
    entry = receipts.latest(lake, spec.name).get(ingest_id)
    if entry is None and written == 0 and ingest_id not in receipts.bronze_receipts(lake, bronze_table(spec)):
        # a file with a header and no rows: nothing to land, nothing to refine, 0 = 0 + 0
        return IngestSummary(rows_in=0, accepted=0, quarantined=0, table_version=run.table_version,
                             source=spec.name, ingest_ids=(ingest_id,))
    if entry is None or entry.state != receipts.REFINED:
        raise RuntimeError(f"{path}: receipt {ingest_id} was landed but is not refined; run the ingest again")
    return IngestSummary(rows_in=entry.rows_in or 0, accepted=entry.accepted or 0, quarantined=entry.quarantined or 0,
                         table_version=run.table_version, source=spec.name, ingest_ids=(ingest_id,),
                         rejects_by_rule=_rules_of(lake, spec, ingest_id))


def _rules_of(lake: Lakehouse, spec: SourceSpec, ingest_id: str) -> tuple[tuple[str, int], ...]:
    name = rejects_table(spec)
    if not lake.exists("quarantine", name):
        return ()
    rows = lake.read("quarantine", name, columns=["rule"], filters=[("ingest_id", "=", ingest_id)])
    if not rows.num_rows:
        return ()
    g = rows.group_by("rule").aggregate([("rule", "count")])
    return tuple(sorted(zip(g["rule"].to_pylist(), g["rule_count"].to_pylist())))
