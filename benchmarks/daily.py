"""Days of operation: does a night cost what the new data costs, or what is stored?

Simulates N nights (default 14) of a fusion centre. Each night lands a day of
synthetic CDRs, transactions and OSINT posts with new ids, timed within that
day (the demo world at ``--scale``: about 385k CDRs a day at scale 1), and runs
the scheduled nightly job, ``nightly_ingest_and_fusion`` (land, refine silver
and quarantine, fuse gold), for that ingest date, each night in a fresh
process. Along the way: a late file (night 5 lands CDRs dated three days
earlier), a corrected re-delivery (night 8 re-delivers night 7's CDR file
with 1 % of the rows changed and 1 % removed: a second run, for night 7's
date), and a night with nothing new (night 10 reruns night 9's date).

Prints, per night: wall time, rows landed, silver rows stored, peak RSS; then
the last night / second night ratios (the target: at most 1.25x), the slowest
steps and the steps during which the process's memory peaked (RSS sampled
every 20 ms and matched to each step's start and end), and the time of a full
rebuild (every receipt re-refined, gold rebuilt) of the final lake.

    .venv/bin/python benchmarks/daily.py                    # 14 nights, scale 1
    .venv/bin/python benchmarks/daily.py --nights 5 --scale 0.3
    .venv/bin/python benchmarks/daily.py --job crimefusion_all   # the whole main job each night

The job runs in-process in a child (``--night``): its peak RSS is that child's
(``os.wait4``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIRST_DAY = dt.date(2026, 1, 5)
FEEDS = {"cdr_events": "cdr", "transactions": "transactions", "osint_posts": "osint", "cell_sites": "cell_sites"}
DAILY = ("cdr_events", "transactions", "osint_posts")
LATE_NIGHT, CORRECTED_NIGHT, IDLE_NIGHT = 5, 8, 10


def day_of(night: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=night - 1)


def specs_folder(work: Path) -> Path:
    """The demo feeds' specs under a folder not named ``synthetic`` (they are this centre's real feeds here)."""
    folder = work / "specs" / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    for name in FEEDS.values():
        shutil.copy(ROOT / "specs" / "synthetic" / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


def world(work: Path, scale: float, seed: int) -> dict[str, pa.Table]:
    """The demo world's feeds (export column names), generated once and cached."""
    import pyarrow.parquet as pq

    cache = work / "world"
    if not cache.exists():
        import pyarrow.csv as pcsv

        from jobs.synth import generate
        from jobs.synth.incidents import from_crimemapping

        incidents = from_crimemapping(pcsv.read_csv(ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"))
        feeds = generate(incidents, seed=seed, scale=scale).feeds()
        cache.mkdir(parents=True)
        for name in FEEDS:
            pq.write_table(feeds[name], cache / f"{name}.parquet")
    return {name: pq.read_table(cache / f"{name}.parquet") for name in FEEDS}


def into_day(table: pa.Table, spec, day: dt.date, tag: str) -> pa.Table:
    """Rows with new ids (``<id>-<tag>``) and their times moved into ``day`` (time of day kept)."""
    id_col = spec.id.columns[0]
    time_field = next(f for f in spec.fields.values() if f.format == "iso8601" or (f.format or "").startswith("%"))
    col = time_field.source_columns[0]
    times = table[col]
    if not pa.types.is_timestamp(times.type):
        times = pc.cast(times, pa.timestamp("us", tz="UTC"))
    midnight = pc.floor_temporal(times, unit="day")
    start = pa.scalar(dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc), pa.timestamp("us", tz="UTC"))
    moved = pc.add(start, pc.subtract(times, midnight))
    out = table.set_column(table.schema.get_field_index(col), col, moved.cast(table[col].type)
                           if pa.types.is_timestamp(table[col].type) else pc.strftime(moved, "%Y-%m-%dT%H:%M:%S%z"))
    ids = pc.binary_join_element_wise(pc.cast(out[id_col], pa.string()), pa.scalar(tag), "-")
    return out.set_column(out.schema.get_field_index(id_col), id_col, ids)


def land_night(work: Path, night: int, feeds: dict[str, pa.Table], specs: dict) -> int:
    """Write the night's files into the landing folder; returns the rows written."""
    from orchestration.ingest.landing import landing_dir
    from orchestration.synthetic.files import write_feed

    landing, rows = work / "landing", 0
    day = day_of(night)
    if night == 1:
        write_feed("cell_sites", feeds["cell_sites"], landing_dir(landing, specs["cell_sites"], day.isoformat()))
        rows += feeds["cell_sites"].num_rows
    for name in DAILY:
        table = into_day(feeds[name], specs[name], day, f"d{night}")
        write_feed(name, table, landing_dir(landing, specs[name], day.isoformat()))
        rows += table.num_rows
    if night == LATE_NIGHT:  # a late file: a twentieth of a day's CDRs, dated three days back
        late = into_day(feeds["cdr_events"].slice(0, feeds["cdr_events"].num_rows // 20), specs["cdr_events"],
                        day - dt.timedelta(days=3), f"late{night}")
        folder = landing_dir(landing, specs["cdr_events"], day.isoformat()) / "late"
        write_feed("cdr_events", late, folder)
        (folder / "cdr_events.csv.gz").replace(folder.parent / "cdr_events-late.csv.gz")
        folder.rmdir()
        rows += late.num_rows
    if night == CORRECTED_NIGHT:  # the previous night's CDR file corrected: 1 % changed, 1 % removed
        prev = into_day(feeds["cdr_events"], specs["cdr_events"], day_of(night - 1), f"d{night - 1}")
        n = prev.num_rows
        dur = "duration_s"
        changed = pc.if_else(pc.less(pa.array(range(n)), n // 100), pc.add(pc.cast(prev[dur], pa.int64()), 1),
                             pc.cast(prev[dur], pa.int64()))
        prev = prev.set_column(prev.schema.get_field_index(dur), dur, changed.cast(prev[dur].type))
        prev = prev.slice(0, n - n // 100)
        write_feed("cdr_events", prev, landing_dir(landing, specs["cdr_events"], day_of(night - 1).isoformat()))
        rows += prev.num_rows
    return rows


def run_night(work: Path, dates: list[str], job: str) -> None:
    """The child: run ``job`` for each ingest date, in-process."""
    import warnings

    warnings.filterwarnings("ignore")
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.settings import load_settings

    defs = build_definitions(load_settings())
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    steps: dict[str, float] = {}
    results = []
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(samples, stop), daemon=True)
    sampler.start()
    for date in dates:
        if job == "crimefusion_all":
            from orchestration.cli.run import run_pipeline

            def execute(j, key, selection, label):
                return j.execute_in_process(instance=instance, partition_key=key, asset_selection=selection,
                                            raise_on_error=True, run_config=quiet)

            results += run_pipeline(defs, instance, date, execute)
        else:
            results.append(defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=date, raise_on_error=True, run_config=quiet))
    stop.set()
    sampler.join()
    for result in results:  # seconds per step, summed over the night's runs
        for event in result.all_events:
            if event.event_type_value == "STEP_SUCCESS":
                steps[event.step_key] = steps.get(event.step_key, 0.0) + event.event_specific_data.duration_ms / 1000
    (work / "steps.json").write_text(json.dumps({"seconds": steps, "peak_mb": _step_peaks(instance, results, samples)}))


def _sample_rss(samples: list, stop: threading.Event, every_s: float = 0.02) -> None:
    """Append (unix time, RSS bytes) of this process every ``every_s`` until ``stop`` is set."""
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as f:
        while True:
            f.seek(0)
            samples.append((time.time(), int(f.read().split()[1]) * page))
            if stop.wait(every_s):
                return


def _step_peaks(instance, results, samples) -> dict[str, float]:
    """Per step, the highest RSS (MB) sampled while it ran (steps run one at a time: in-process executor)."""
    import numpy as np

    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples], dtype=np.float64) / 2**20
    peaks: dict[str, float] = {}
    for result in results:
        start = {}
        for entry in instance.all_logs(result.run_id):
            ev = entry.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type_value == "STEP_START":
                start[ev.step_key] = entry.timestamp
            elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in start:
                during = (t >= start[ev.step_key]) & (t <= entry.timestamp)
                if during.any():
                    peaks[ev.step_key] = max(peaks.get(ev.step_key, 0.0), round(float(rss[during].max()), 1))
    return peaks


def child(work: Path, dates: list[str], job: str, env: dict) -> tuple[float, float, dict]:
    """Run one night in a fresh process; returns wall seconds, peak RSS in MB and, per step, seconds and peak MB."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--work", str(work), "--job", job, "--night-dates", *dates],
                            env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"night {dates} failed (exit {os.waitstatus_to_exitcode(status)})")
    steps = json.loads((work / "steps.json").read_text())
    steps["cpu_s"] = usage.ru_utime + usage.ru_stime  # less disturbed than wall time by other load on the host
    return time.perf_counter() - start, usage.ru_maxrss / 1024, steps


def silver_rows(work: Path) -> int:
    from orchestration.resources.lakehouse import LocalLakehouse

    lake = LocalLakehouse(root=str(work / "lake"))
    return sum(lake.count("silver", t) for t in DAILY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=14)
    parser.add_argument("--scale", type=float, default=1.0, help="demo world scale; 1 gives about 385k CDRs a day")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--job", default="nightly_ingest_and_fusion",
                        help="job run each night: nightly_ingest_and_fusion (default) or crimefusion_all")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the full rebuild at the end")
    parser.add_argument("--night-dates", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.night_dates is not None:
        return run_night(args.work, args.night_dates, args.job)

    from jobs.ingest.spec import load_spec

    work = args.work or Path(tempfile.mkdtemp(prefix="crimefusion-daily-"))
    folder = specs_folder(work)
    specs = {name: load_spec(folder / f"{file}.yaml") for name, file in FEEDS.items()}
    env = {**os.environ, "CRIMEFUSION_LAKE": str(work / "lake"), "CRIMEFUSION_LANDING": str(work / "landing"),
           "CRIMEFUSION_HOME": str(work / "home"), "CRIMEFUSION_SYNTHETIC": "false",
           "CRIMEFUSION_SPECS": os.pathsep.join([str(ROOT / "specs" / "chicago_aggravated_assaults.yaml"), str(folder)]),
           "PYTHONPATH": str(ROOT), "DAGSTER_HOME": str(work / "home" / "dagster"),
           "CRIMEFUSION_PSEUDONYM_KEY": "daily-benchmark-key-not-a-secret-0123456789"}
    (work / "home" / "dagster").mkdir(parents=True, exist_ok=True)
    feeds = world(work, args.scale, args.seed)
    print(f"work folder {work}; a day = {feeds['cdr_events'].num_rows:,} CDRs, "
          f"{feeds['transactions'].num_rows:,} transactions, {feeds['osint_posts'].num_rows:,} posts; job {args.job}")
    print(f"{'night':>5} {'dates':>23} {'rows landed':>12} {'silver rows':>12} {'wall s':>8} {'CPU s':>7} "
          f"{'peak RSS MB':>12}  note")
    nights = []
    for night in range(1, args.nights + 1):
        dates, note = [day_of(night).isoformat()], ""
        if night == IDLE_NIGHT:
            dates, note, landed = [day_of(night - 1).isoformat()], "nothing new (night 9's date again)", 0
        else:
            landed = land_night(work, night, feeds, specs)
        if night == LATE_NIGHT:
            note = "late file (CDRs of three days earlier)"
        if night == CORRECTED_NIGHT:
            dates.append(day_of(night - 1).isoformat())
            note = "corrected re-delivery of night 7's CDRs (second run)"
        wall, rss, steps = child(work, dates, args.job, env)
        stored = silver_rows(work)
        nights.append({"night": night, "dates": dates, "rows_landed": landed, "silver_rows": stored,
                       "wall_s": round(wall, 2), "cpu_s": round(steps["cpu_s"], 2), "peak_rss_mb": round(rss, 1),
                       "note": note,
                       "steps_s": {k: round(v, 2) for k, v in sorted(steps["seconds"].items(), key=lambda kv: -kv[1])},
                       "steps_peak_mb": dict(sorted(steps["peak_mb"].items(), key=lambda kv: -kv[1]))})
        print(f"{night:>5} {','.join(dates):>23} {landed:>12,} {stored:>12,} {wall:>8.1f} {steps['cpu_s']:>7.1f} {rss:>12.0f}  {note}",
              flush=True)

    regular = [n for n in nights if n["night"] not in (1, LATE_NIGHT, CORRECTED_NIGHT, IDLE_NIGHT)]
    if len(nights) >= 2:
        second, last = nights[1], nights[-1]
        print(f"\nlast night / second night: wall {last['wall_s'] / second['wall_s']:.2f}x, "
              f"CPU {last['cpu_s'] / second['cpu_s']:.2f}x, "
              f"peak RSS {last['peak_rss_mb'] / second['peak_rss_mb']:.2f}x (target: at most 1.25x each), "
              f"silver rows {last['silver_rows'] / max(second['silver_rows'], 1):.1f}x")
    if regular:
        print(f"regular nights: wall {min(n['wall_s'] for n in regular):.1f}-{max(n['wall_s'] for n in regular):.1f} s, "
              f"peak RSS {min(n['peak_rss_mb'] for n in regular):.0f}-{max(n['peak_rss_mb'] for n in regular):.0f} MB")
    if len(nights) >= 2:
        print("\nseconds per step, second night -> last night (the ten slowest of the last night):")
        for step, secs in list(nights[-1]["steps_s"].items())[:10]:
            print(f"  {step:<40} {nights[1]['steps_s'].get(step, 0):>7.1f} -> {secs:>7.1f}")
    if len(nights) >= 2:
        print("\npeak RSS (MB) sampled during each step, second night -> last night (the five highest of the last):")
        for step, mb in list(nights[-1]["steps_peak_mb"].items())[:5]:
            print(f"  {step:<40} {nights[1]['steps_peak_mb'].get(step, 0):>7.0f} -> {mb:>7.0f}")
    idle = next((n for n in nights if n["night"] == IDLE_NIGHT), None)
    if idle:
        print(f"night with nothing new: {idle['wall_s']:.1f} s")
    if not args.no_rebuild:
        from orchestration.ingest import receipts
        from orchestration.ingest.pipeline import bronze_table
        from orchestration.resources.lakehouse import LocalLakehouse

        lake = LocalLakehouse(root=str(work / "lake"))
        for spec in specs.values():
            if lake.exists("bronze", bronze_table(spec)):
                receipts.forget(lake, spec)
        for name in ("events",):  # gold followers rebuild from scratch without their watermarks
            if lake.exists("gold", name):
                shutil.rmtree(work / "lake" / "gold" / name)
        wall, rss, _ = child(work, [nights[-1]["dates"][0]], args.job, env)
        print(f"full rebuild of the final lake (every receipt re-refined, events rebuilt): {wall:.1f} s, "
              f"peak RSS {rss:.0f} MB; last night was {nights[-1]['wall_s'] / wall:.2f}x of it")
    (work / "daily.json").write_text(json.dumps(nights, indent=1))
    print(f"per-night figures: {work / 'daily.json'}")


if __name__ == "__main__":
    main()
