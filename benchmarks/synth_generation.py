"""Speed of the synthetic-feed generator and of keyed pseudonymisation.

Prints: demo generation time (all feeds), CDR rows/s at a large scale (streamed
in chunks, peak RSS), and pseudonymisation rows/s on the CDR a_number column
next to the peer: a per-row ``hmac.new`` loop without de-duplication.

    .venv/bin/python benchmarks/synth_generation.py --quick     # ~1M CDR rows
    .venv/bin/python benchmarks/synth_generation.py             # >= 10M CDR rows
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.ingest.pseudonymise import DEMO_KEY, pseudonymise  # noqa: E402
from jobs.synth import build, generate, iter_cdr  # noqa: E402
from jobs.synth.incidents import from_crimemapping  # noqa: E402


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="about 1M CDR rows instead of >= 10M")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    path = ROOT / "data/chicago/aggravated_assaults_2010_2017.csv.gz"
    raw = pv.read_csv(path, convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)

    t = time.perf_counter()
    feeds = generate(inc, seed=args.seed)
    dt = time.perf_counter() - t
    sizes = ", ".join(f"{k}={v.num_rows:,}" for k, v in feeds.feeds().items())
    print(f"demo generate(scale=1.0): {dt:.2f} s  [{sizes}]")
    del feeds

    scale = 2.5 if args.quick else 27.0
    t = time.perf_counter()
    world = build(inc, seed=args.seed, scale=scale)
    t_build = time.perf_counter() - t
    rows, cols = 0, []
    t = time.perf_counter()
    for chunk in iter_cdr(world):
        rows += chunk.num_rows
        cols.append(chunk["a_number"])
    t_cdr = time.perf_counter() - t
    print(f"scale={scale}: {world.n_phones:,} phones, world build {t_build:.2f} s; "
          f"CDR {rows:,} rows in {t_cdr:.2f} s = {rows / t_cdr:,.0f} rows/s; peak RSS {_rss_gb():.2f} GB")

    col = pa.chunked_array([c for ch in cols for c in ch.chunks])
    t = time.perf_counter()
    out = pseudonymise(col, key=DEMO_KEY, kind="phone")
    t_ps = time.perf_counter() - t
    print(f"pseudonymise {len(out):,} phone numbers ({world.numbers.size:,} distinct): "
          f"{t_ps:.2f} s = {len(out) / t_ps:,.0f} rows/s")
    peer_n = min(len(col), 1_000_000)
    vals = col.slice(0, peer_n).to_pylist()
    t = time.perf_counter()
    [hmac.new(DEMO_KEY, b"phone\x00" + v.lstrip("+").encode(), hashlib.sha256).hexdigest()[:32] for v in vals]
    t_peer = time.perf_counter() - t
    print(f"peer: per-row hmac.new loop on {peer_n:,} rows: {t_peer:.2f} s = {peer_n / t_peer:,.0f} rows/s")


if __name__ == "__main__":
    main()
