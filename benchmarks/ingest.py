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
    args = parser.parse_args()
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
        print(f"{'input':8} {'crimefusion s':>14} {'rows/s':>12} {'pandas s':>9} {'rows/s':>12} {'ratio':>7}  accepted/quarantined")
        for label, data, spec in (("CSV", csv_path, spec_dir / "cdr.yaml"), ("Parquet", pq_path, parquet_spec)):
            seconds, summary = crimefusion_ingest(spec, data, tmp / f"lake_{label}")
            base = pandas_baseline(data, tmp / f"pandas_{label}.parquet")
            assert summary["rows_in"] == summary["accepted"] + summary["quarantined"] == rows, summary
            print(f"{label:8} {seconds:14.1f} {rows / seconds:12,.0f} {base:9.1f} {rows / base:12,.0f} "
                  f"{seconds / base:6.1f}x  {summary['accepted']:,}/{summary['quarantined']:,}")
    print("crimefusion: read, bronze (Delta), parse + 13 row rules, keyed-hash pseudonymisation of 4 identifier "
          "columns, silver + quarantine (Delta); pandas: read + write Parquet only.")


if __name__ == "__main__":
    main()
