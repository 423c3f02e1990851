"""Concurrent writers of one Delta table: does every receipt land, and does every writer succeed?

Each repetition starts N writers at the same instant (separate processes), each
writing a different receipt (``ingest_id``) into one table, then counts the
table's rows per receipt against what was written. Two table states: a table
that does not exist yet (the writers race to create it) and one that does.

Two paths:

- ``--path api`` (default): the Lakehouse resource itself
  (orchestration/resources/lakehouse.py), through ``append``,
  ``replace_where(ingest_id = X)`` and ``merge``, from long-lived writer
  processes (so a repetition costs the writes, not Python start-up);
- ``--path cli``: N ``crimefusion ingest incidents`` processes, each ingesting
  a different slice of the bundled Chicago file into one lake (bronze + silver +
  quarantine); rows expected = bronze rows = silver + quarantined rows.

    .venv/bin/python benchmarks/concurrency.py                      # api, 20 reps x 3 writers
    .venv/bin/python benchmarks/concurrency.py --writers 5 --rows 100000
    .venv/bin/python benchmarks/concurrency.py --path cli --reps 5

Per repetition it prints rows expected vs found, failed writers and the commit
races the writers lost (and retried); the last line is a summary. Exit status
1 when any writer failed or any row was lost or doubled.

tests/orchestration/resources/test_lakehouse_concurrency.py runs the api path
with fewer repetitions (:class:`WriterPool`, :func:`run_round`).
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPS = ("append", "replace_where", "merge")


# -- writer processes (api path) -----------------------------------------------------------------


def receipt_rows(receipt: str, rows: int, *, extra_column: str | None = None):
    """``rows`` rows of one receipt: ``ingest_id``, a unique ``record_id``, a value (and an optional column)."""
    import pyarrow as pa

    cols = {
        "ingest_id": pa.array([receipt] * rows, pa.string()),
        "record_id": pa.array([f"{receipt}-{i}" for i in range(rows)], pa.string()),
        "value": pa.array(range(rows), pa.int64()),
    }
    if extra_column:
        cols[extra_column] = pa.array([receipt] * rows, pa.string())
    return pa.table(cols)


def write_receipt(task: dict) -> dict:
    """One writer's work: wait for the common start instant, write one receipt, report."""
    import logging

    import pyarrow as pa  # noqa: F401 - imported before the start instant, not inside the race

    from orchestration.resources.lakehouse import CommitConflictError, LocalLakehouse, in_list, sql_literal

    races = []

    class Count(logging.Handler):
        def emit(self, record):
            races.append(record.getMessage())

    logger = logging.getLogger("jobs.delta")
    handler = Count(level=logging.INFO)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lake = LocalLakehouse(root=task["root"])
    data = receipt_rows(task["receipt"], task["rows"], extra_column=task.get("extra_column"))
    layer, name, op = task["layer"], task["name"], task["op"]
    while time.time() < task["start_at"]:
        time.sleep(0.0005)
    t0 = time.perf_counter()
    try:
        if op == "append":
            result = lake.append(layer, name, data, evolve_schema=bool(task.get("evolve")))
        elif op == "replace_where":
            result = lake.replace_where(layer, name, data, f"ingest_id = {sql_literal(task['receipt'])}",
                                        evolve_schema=bool(task.get("evolve")))
        elif op == "merge":
            result = lake.merge(layer, name, data, ["record_id"])
        elif op == "delete":
            result = lake.delete(layer, name, in_list("ingest_id", [task["receipt"]]))
        else:
            raise ValueError(f"unknown op {op!r}")
        out = {"ok": True, "version": result.version if result else None}
    except CommitConflictError as exc:
        out = {"ok": False, "error": f"CommitConflictError: {exc}"}
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark counts failures
        out = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    finally:
        logger.removeHandler(handler)
    return {**out, "receipt": task["receipt"], "races": len(races), "seconds": time.perf_counter() - t0}


def _serve(inbox, outbox) -> None:
    import orchestration.resources.lakehouse  # noqa: F401 - import once, before the first race

    for task in iter(inbox.get, None):
        outbox.put(write_receipt(task))


class WriterPool:
    """``n`` long-lived writer processes (spawned, as separate programs would be); each takes one task per round."""

    def __init__(self, n: int):
        ctx = mp.get_context("spawn")
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in range(n)]
        self.procs = [ctx.Process(target=_serve, args=(q, self.outbox), daemon=True) for q in self.inboxes]
        for p in self.procs:
            p.start()

    def run(self, tasks: list[dict], timeout: float = 300) -> list[dict]:
        """Give task ``i`` to process ``i`` (so they really run at once) and collect every result."""
        if len(tasks) > len(self.inboxes):
            raise ValueError(f"{len(tasks)} tasks for {len(self.inboxes)} writer processes")
        for q, task in zip(self.inboxes, tasks):
            q.put(task)
        return [self.outbox.get(timeout=timeout) for _ in tasks]

    def close(self) -> None:
        for q in self.inboxes:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Round:
    """What one repetition wrote and found."""

    expected: Counter
    found: Counter
    results: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results if not r["ok"]]

    @property
    def races(self) -> int | None:
        """Commit races lost and retried (api path; a CLI process does not report them)."""
        counts = [r["races"] for r in self.results]
        return None if None in counts else sum(counts)

    @property
    def correct(self) -> bool:
        return not self.failed and self.found == self.expected


def run_round(pool: WriterPool, root: str, *, op: str, writers: int, rows: int, existing: bool,
              layer: str = "bronze", name: str = "t", same_receipt: bool = False, evolve: bool = False,
              lead_s: float = 0.5) -> Round:
    """One repetition: ``writers`` processes write receipts ``r0..r{n-1}`` into ``root/layer/name`` at once.

    ``existing`` first writes a ``base`` receipt so the table exists; otherwise
    the writers race to create it. ``same_receipt`` makes writers 0 and 1 write
    the same receipt (replace_where must keep one copy). ``evolve`` gives each
    writer an extra column of its own and all of them a shared new one
    (``evolve_schema``: concurrent schema changes).
    """
    from orchestration.resources.lakehouse import LocalLakehouse

    lake = LocalLakehouse(root=root)
    expected: Counter = Counter()
    if existing:
        lake.append(layer, name, receipt_rows("base", rows))
        expected["base"] = rows
    receipts = [f"r{i}" for i in range(writers)]
    if same_receipt and writers > 1:
        receipts[1] = receipts[0]
    start_at = time.time() + lead_s
    tasks = [{"root": root, "layer": layer, "name": name, "op": op, "receipt": r, "rows": rows,
              "start_at": start_at, "evolve": evolve,
              "extra_column": (f"extra_{i % 2}" if evolve else None)} for i, r in enumerate(receipts)]
    t0 = time.perf_counter()
    results = pool.run(tasks)
    seconds = time.perf_counter() - t0
    for r in dict.fromkeys(receipts):
        expected[r] = rows
    found: Counter = Counter()
    if lake.exists(layer, name):
        found = Counter(lake.read(layer, name, columns=["ingest_id"])["ingest_id"].to_pylist())
    return Round(expected=expected, found=found, results=results, seconds=seconds)


def bench_api(args) -> int:
    rounds: list[tuple[str, Round]] = []
    ops = OPS if args.op == "all" else (args.op,)
    states = {"new": (False,), "existing": (True,), "both": (False, True)}[args.table]
    with WriterPool(args.writers) as pool, tempfile.TemporaryDirectory(prefix="cf-concurrency-") as tmp:
        for op in ops:
            for existing in states:
                for rep in range(1, args.reps + 1):
                    root = os.path.join(tmp, f"{op}-{'existing' if existing else 'new'}-{rep}")
                    rnd = run_round(pool, root, op=op, writers=args.writers, rows=args.rows, existing=existing)
                    label = f"{op:13s} {'existing' if existing else 'new':8s} rep {rep:2d}"
                    print(_line(label, rnd), flush=True)
                    for f in rnd.failed:
                        print(f"    failed writer {f['receipt']}: {f['error'][:300]}")
                    rounds.append((label, rnd))
    return _summary(rounds, f"api, {args.writers} writers x {args.rows:,} rows")


# -- crimefusion ingest processes (cli path) -----------------------------------------------------


def _chicago_slices(out: Path, parts: int, rows: int, offset: int) -> list[tuple[Path, int]]:
    """``parts`` CSV files of ``rows`` consecutive Chicago records each, starting at record ``offset``."""
    src = ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
    with gzip.open(src, "rt") as f:
        header = f.readline()
        lines = f.readlines()
    files = []
    for i in range(parts):
        chunk = lines[offset + i * rows: offset + (i + 1) * rows]
        if len(chunk) < rows:
            raise ValueError(f"the Chicago file has too few records for {parts} x {rows} from {offset}")
        path = out / f"slice_{offset + i * rows}.csv"
        path.write_text(header + "".join(chunk))
        files.append((path, len(chunk)))
    return files


def bench_cli(args) -> int:
    spec = ROOT / "specs" / "chicago_aggravated_assaults.yaml"
    exe = ROOT / ".venv" / "bin" / "crimefusion"
    rounds: list[tuple[str, Round]] = []
    states = {"new": (False,), "existing": (True,), "both": (False, True)}[args.table]
    with tempfile.TemporaryDirectory(prefix="cf-concurrency-cli-") as tmp:
        tmp = Path(tmp)
        offset = 0
        for existing in states:
            for rep in range(1, args.reps + 1):
                lake = tmp / f"lake-{'existing' if existing else 'new'}-{rep}"
                files = _chicago_slices(tmp, args.writers + 1, args.rows, offset)
                offset = (offset + (args.writers + 1) * args.rows) % 100_000
                env = {**os.environ, "CRIMEFUSION_HOME": str(tmp / "home"), "CRIMEFUSION_LAKE": str(lake)}
                expected_rows = 0
                if existing:  # one receipt first, alone
                    base, n = files.pop()
                    _ingest(exe, spec, base, lake, env).communicate()
                    expected_rows += n
                t0 = time.perf_counter()
                procs = [(path, n, _ingest(exe, spec, path, lake, env)) for path, n in files[:args.writers]]
                results = []
                for path, n, p in procs:
                    out, err = p.communicate()
                    ok = p.returncode == 0
                    results.append({"ok": ok, "receipt": path.name, "races": None,
                                    "error": "" if ok else (err.strip().splitlines() or ["?"])[-1][:300]})
                    expected_rows += n
                seconds = time.perf_counter() - t0
                found = _cli_counts(lake, spec)
                rnd = Round(expected=Counter(bronze=expected_rows, refined=expected_rows), found=found,
                            results=results, seconds=seconds)
                state = "existing" if existing else "new"
                label = f"cli ingest (bronze + silver/quarantine rows) {state:8s} rep {rep:2d}"
                print(_line(label, rnd), flush=True)
                for f in rnd.failed:
                    print(f"    failed writer {f['receipt']}: {f['error']}")
                rounds.append((label, rnd))
    return _summary(rounds, f"cli, {args.writers} writers x {args.rows:,} rows")


def _ingest(exe: Path, spec: Path, path: Path, lake: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([str(exe), "ingest", "incidents", "--spec", str(spec), "--file", str(path),
                             "--lake", str(lake)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _cli_counts(lake: Path, spec_path: Path) -> Counter:
    from jobs.ingest.spec import load_spec
    from orchestration.ingest.pipeline import bronze_table, rejects_table
    from orchestration.resources.lakehouse import LocalLakehouse

    spec = load_spec(spec_path)
    lh = LocalLakehouse(root=str(lake))
    bronze = lh.count("bronze", bronze_table(spec))
    refined = lh.count("silver", spec.table) + lh.count("quarantine", rejects_table(spec))
    return Counter(bronze=bronze, refined=refined)


# -- report --------------------------------------------------------------------------------------


def _line(label: str, rnd: Round) -> str:
    exp, got = sum(rnd.expected.values()), sum(rnd.found.values())
    wrong = sorted(k for k in rnd.expected.keys() | rnd.found.keys() if rnd.expected[k] != rnd.found[k])
    return (f"{label}: rows expected {exp:>9,} found {got:>9,}  failed writers {len(rnd.failed)}/"
            f"{len(rnd.results)}  lost races retried {'n/a' if rnd.races is None else rnd.races:>3}  "
            f"{rnd.seconds:6.2f} s"
            + (f"  WRONG: {', '.join(f'{k} {rnd.expected[k]}->{rnd.found[k]}' for k in wrong)}" if wrong else ""))


def _summary(rounds: list[tuple[str, Round]], what: str) -> int:
    bad = [label for label, r in rounds if not r.correct]
    failed = sum(len(r.failed) for _, r in rounds)
    writers = sum(len(r.results) for _, r in rounds)
    counted = [r.races for _, r in rounds if r.races is not None]
    races = sum(counted) if counted else "n/a"
    secs = sorted(r.seconds for _, r in rounds)
    print(f"SUMMARY ({what}): {len(rounds) - len(bad)}/{len(rounds)} repetitions exact, "
          f"{failed}/{writers} writers failed, {races} lost commit races retried, "
          f"round time median {secs[len(secs) // 2]:.2f} s max {secs[-1]:.2f} s"
          + (f"; WRONG: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--path", choices=("api", "cli"), default="api")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--writers", type=int, default=3)
    p.add_argument("--rows", type=int, default=None, help="rows per receipt (api 10,000; cli 2,000)")
    p.add_argument("--op", choices=(*OPS, "all"), default="all", help="api path: which write (default all)")
    p.add_argument("--table", choices=("new", "existing", "both"), default="both")
    args = p.parse_args(argv)
    if args.rows is None:
        args.rows = 10_000 if args.path == "api" else 2_000
    sys.path.insert(0, str(ROOT))
    return bench_api(args) if args.path == "api" else bench_cli(args)


if __name__ == "__main__":
    sys.exit(main())
