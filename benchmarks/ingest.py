"""Ingestion throughput: synthetic CDRs (CSV and Parquet) into bronze + silver with validation.

Prints rows/s for crimefusion's ingest (read, land in bronze, parse, validate,
pseudonymise, write silver and quarantine) and, in the same run on the same
file, for the plain pandas baseline ``read_csv`` + ``to_parquet`` (no
validation, no lineage, no Delta), with the ratio.

    .venv/bin/python benchmarks/ingest.py              # 10 million CDR rows
    .venv/bin/python benchmarks/ingest.py --quick      # 1 million
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def make_cdrs(rows: int, out: Path) -> tuple[Path, Path, int]:
    """Stream synthetic CDR chunks until ``rows`` rows, written as CSV and as Parquet."""
    from jobs.synth import build, iter_cdr
    from jobs.synth.incidents import from_crimemapping

    incidents = from_crimemapping(pcsv.read_csv(ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"))
    scale = max(1.0, 1.1 * rows / 385_000)  # the demo world (scale 1) yields about 385k CDRs
    world = build(incidents, seed=7, scale=scale)
    csv_path, pq_path = out / "cdr.csv", out / "cdr.parquet"
    written = 0
    writer = None
    with csv_path.open("wb") as fh:
        for chunk in iter_cdr(world):
            chunk = chunk.slice(0, rows - written)
            pcsv.write_csv(chunk, fh, pcsv.WriteOptions(include_header=written == 0))
            writer = writer or pq.ParquetWriter(pq_path, chunk.schema)
            writer.write_table(chunk)
            written += chunk.num_rows
            if written >= rows:
                break
    writer.close()
    return csv_path, pq_path, written


def crimefusion_ingest_child(spec_path: Path, data: Path, lake: Path) -> tuple[float, dict, float]:
    """``crimefusion_ingest`` in a fresh process: seconds, summary and the process's peak RSS in MB.

    The peak is the child's ``VmHWM`` (``/proc/self/status``), read by the child itself: ``ru_maxrss``
    of a child on Linux starts from its parent's peak at the fork (kept across ``exec``), so it reported
    this benchmark's own memory (the generator, pandas' copy of the previous file: 4 GB at 10 M rows),
    not the ingest's."""
    import json
    import os
    import subprocess
    import sys

    out = lake.parent / f"{lake.name}.json"
    child = subprocess.Popen([sys.executable, __file__, "--child", str(spec_path), str(data), str(lake), str(out)],
                             cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"crimefusion ingest of {data} failed (exit {child.returncode})")
    seconds, summary, peak_kb = json.loads(out.read_text())
    return seconds, summary, (peak_kb or usage.ru_maxrss) / 1024


def peak_rss_kb() -> int | None:
    """This process's own peak resident set (``VmHWM``, kB), or ``None`` where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def crimefusion_ingest(spec_path: Path, data: Path, lake: Path) -> tuple[float, dict]:
    from jobs.ingest.spec import load_spec
    from orchestration.ingest.pipeline import ingest_file
    from orchestration.resources.compute import Compute
    from orchestration.resources.lakehouse import LocalLakehouse

    spec = load_spec(spec_path)
    ctx = Compute().sedona()
    start = time.perf_counter()
    summary = ingest_file(LocalLakehouse(root=str(lake)), spec, data, ctx=ctx, pseudonym_key=b"benchmark-key-0123456789abcdef")
    return time.perf_counter() - start, summary.to_json_dict()


def pandas_baseline(data: Path, out: Path) -> float:
    import pandas as pd

    start = time.perf_counter()
    df = pd.read_csv(data) if data.suffix == ".csv" else pd.read_parquet(data)
    df.to_parquet(out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="1 million rows")
    parser.add_argument("--child", nargs=4, metavar=("SPEC", "DATA", "LAKE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import json

        spec, data, lake, out = map(Path, args.child)
        Path(out).write_text(json.dumps([*crimefusion_ingest(spec, data, lake), peak_rss_kb()]))
        return
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    rows = 1_000_000 if args.quick else args.rows
    spec_dir = ROOT / "specs" / "synthetic"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        csv_path, pq_path, rows = make_cdrs(rows, tmp)
        print(f"generated {rows:,} CDR rows in {time.perf_counter() - t0:.1f} s "
              f"(CSV {csv_path.stat().st_size / 1e6:.0f} MB, Parquet {pq_path.stat().st_size / 1e6:.0f} MB)")
        parquet_spec = tmp / "cdr_parquet.yaml"
        parquet_spec.write_text((spec_dir / "cdr.yaml").read_text().replace("format: {kind: csv, delimiter: \",\"}",
                                                                              "format: {kind: parquet}"))
        print(f"{'input':8} {'crimefusion s':>14} {'rows/s':>12} {'peak RSS MB':>12} {'pandas s':>9} {'rows/s':>12} "
              f"{'speed vs pandas':>16}  accepted/quarantined")
        for label, data, spec in (("CSV", csv_path, spec_dir / "cdr.yaml"), ("Parquet", pq_path, parquet_spec)):
            seconds, summary, rss = crimefusion_ingest_child(spec, data, tmp / f"lake_{label}")
            base = pandas_baseline(data, tmp / f"pandas_{label}.parquet")
            assert summary["rows_in"] == summary["accepted"] + summary["quarantined"] == rows, summary
            print(f"{label:8} {seconds:14.1f} {rows / seconds:12,.0f} {rss:12,.0f} {base:9.1f} {rows / base:12,.0f} "
                  f"{base / seconds:15.2f}x  {summary['accepted']:,}/{summary['quarantined']:,}")
    print("crimefusion: read, bronze (Delta), parse + 13 row rules, keyed-hash pseudonymisation of 4 identifier "
          "columns, silver + quarantine (Delta), in a child process (peak RSS: its VmHWM); pandas: read + "
          "write Parquet only. Targets: speed vs pandas >= 1.0x; peak RSS <= 1,500 MB at 10 M rows.")
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
