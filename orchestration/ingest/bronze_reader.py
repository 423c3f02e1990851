"""A source's bronze rows read back for a refine: receipt by receipt in the full refresh's order, in bounded
batches (see :func:`bronze_batches`)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from jobs.ingest.spec import SourceSpec
from orchestration.ingest.tables import bronze_table
from orchestration.resources.lakehouse import Lakehouse


def desc(text: str) -> tuple[int, ...]:
    """A key under which a smaller string sorts later (ties between receipts landed at the same instant)."""
    return tuple(-ord(ch) for ch in text)


#: Bronze rows a refine parses at once: its working memory, whatever the size of the receipts.
REFINE_BATCH_ROWS = 256 * 1024


def bronze_batches(lake: Lakehouse, spec: SourceSpec, ingest_ids: list[str], landed: dict,
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
    for receipt in sorted(ingest_ids, key=lambda i: (landed[i], desc(i)), reverse=True):
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
