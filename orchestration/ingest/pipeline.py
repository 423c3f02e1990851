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
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from jobs.ingest.spec import SourceSpec
from jobs.schemas import ID_FIELD
from orchestration.ingest import receipts
from orchestration.lakehouse import changes
from orchestration.ingest.boundaries import layer_name, read_boundaries
from orchestration.ingest.bronze_reader import desc
from orchestration.ingest.collisions import collisions, duplicate_losers, held_by, prior_rows
from jobs.ingest.readers import file_digest, ingest_id_for, open_source
from orchestration.ingest.spark_parse import streamed_parse
from orchestration.ingest.tables import bronze_table, rejects_table
from orchestration.resources.lakehouse import CommitConflictError, Lakehouse, WriteResult, in_list, sql_literal


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
    with source_lock(lake, spec):
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
    losers = duplicate_losers(lake, spec)     # id -> receipts holding a duplicate_id reject of it
    if losers is None:  # a quarantine table from before record_id: refine the source once in full
        say(f"{spec.name}: quarantine has no record_id column yet; re-parsing every receipt once")
        dirty, losers = set(in_bronze), {}
    boundaries = ensure_boundaries(lake, spec)
    landed = {i: r.ingested_at for i, r in in_bronze.items()}

    def outranks(a: str, b: str) -> bool:
        """Receipt ``a``'s rows win ids over receipt ``b``'s (the full refresh's order)."""
        return (landed[a], desc(a)) > (landed[b], desc(b))

    while True:
        touched = dirty | gone
        # ids whose current winner is re-parsed or gone: their losers resolve again
        pull: set[str] = set()
        if losers:
            lost = held_by(lake, spec, id_field, sorted(touched))
            for k in lost:
                pull |= losers.get(k, set())
        # the ids these receipts' rows carry that silver already holds, with the receipt of the first such row in
        # the refresh order: an id-only pass (no rule is run, so a row a rule will reject counts too; that only
        # ever re-parses more) and a scan of silver's id column filtered to those ids
        new, holders = collisions(lake, spec, id_field, sorted(dirty), landed) if dirty else ({}, {})
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
    prior = prior_rows(lake, spec, id_field, prior_ids) if prior_ids else None
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


def _sorted(bronze: pa.Table) -> pa.Table:
    # latest receipt first, file order within a receipt: duplicates keep the newest delivery
    return bronze.sort_by([("ingested_at", "descending"), ("ingest_id", "ascending"), ("source_row", "ascending")])


def _nothing(spec: SourceSpec, version: int | None) -> IngestSummary:
    """The summary of a refine with no receipt to parse or withdraw."""
    return IngestSummary(rows_in=0, accepted=0, quarantined=0, table_version=version, source=spec.name)


@contextmanager
def source_lock(lake: Lakehouse, spec: SourceSpec):
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
