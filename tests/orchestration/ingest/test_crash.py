"""A process killed mid-ingest leaves every table readable, and the next run finishes what was landed.

The ingest runs in a child process that kills itself with SIGKILL (no clean-up
handler runs) at a chosen point: right after its bronze commit, or between the
silver and the quarantine commits of the refine. The next ingest of another
file, in a fresh process, must refine the orphaned receipt too, so that bronze
rows = silver rows + quarantined rows for every receipt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestration.ingest import receipts
from jobs.ingest.spec import load_spec
from tests.orchestration.ingest.test_incremental import ID_SPEC

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
HEADER = "case_id,date,loc_cat,longitude,latitude"
SPEC = ID_SPEC.replace("name: inc_city", "name: crash_city")  # the incremental tests' feed, renamed

CHILD = textwrap.dedent("""
    import os, signal, sys
    from jobs.ingest.spec import load_spec
    from orchestration.ingest import pipeline
    from orchestration.resources.compute import Compute
    from orchestration.resources.lakehouse import Lakehouse, LocalLakehouse

    spec_path, file, lake_root, where = sys.argv[1:5]
    spec = load_spec(spec_path)
    lake = LocalLakehouse(root=lake_root)
    if where == "after_bronze":
        pipeline.land(lake, spec, file)
        os.kill(os.getpid(), signal.SIGKILL)
    original = Lakehouse.replace_where
    def replace_where(self, layer, name, *args, **kwargs):
        if layer == "quarantine":
            os.kill(os.getpid(), signal.SIGKILL)  # silver is committed, quarantine is not
        return original(self, layer, name, *args, **kwargs)
    Lakehouse.replace_where = replace_where
    pipeline.ingest_file(lake, spec, file, ctx=Compute().sedona(), pseudonym_key=b"k" * 32)
""")


def write(path: Path, ids: range, bad: int = 0) -> Path:
    rows = [f"{i},2016-05-01 12:30,street,-87.6277,41.7922" for i in ids]
    rows += [f"bad{i},2016-05-01 12:30,street,x,41.7922" for i in range(bad)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def killed(tmp_path: Path, file: Path, lake: Path, where: str) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "spec.yaml"), str(file), str(lake), where],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def cli_ingest(tmp_path: Path, file: Path, lake: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", "from orchestration.cli import main; main()", "ingest", "incidents", "--spec",
                           str(tmp_path / "spec.yaml"), "--file", str(file), "--lake", str(lake)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "CRIMEFUSION_PSEUDONYM_KEY": "k" * 32})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def reconciles_per_receipt(lake_root: Path) -> dict[str, tuple[int, int, int]]:
    from orchestration.resources.lakehouse import LocalLakehouse

    lake = LocalLakehouse(root=str(lake_root))

    def per_receipt(layer, name):
        if not lake.exists(layer, name):
            return {}
        t = lake.read(layer, name, columns=["ingest_id"]).group_by("ingest_id").aggregate([("ingest_id", "count")])
        return dict(zip(t["ingest_id"].to_pylist(), t["ingest_id_count"].to_pylist()))

    bronze = per_receipt("bronze", "raw_crash_city")
    silver = per_receipt("silver", "incidents")
    rejects = per_receipt("quarantine", "incidents_rejects")
    return {i: (n, silver.get(i, 0), rejects.get(i, 0)) for i, n in bronze.items()}


@pytest.mark.parametrize("where", ["after_bronze", "between_silver_and_quarantine"])
def test_next_ingest_finishes_a_killed_one(tmp_path, where):
    (tmp_path / "spec.yaml").write_text(SPEC)
    lake = tmp_path / "lake"
    first = write(tmp_path / "first.csv", range(0, 50), bad=3)
    killed(tmp_path, first, lake, where)

    state = reconciles_per_receipt(lake)  # every table still reads; the receipt is in bronze, not reconciled
    assert len(state) == 1
    (n_in, n_ok, n_q), = state.values()
    assert n_in == 53 and n_ok + n_q != n_in

    summary = cli_ingest(tmp_path, write(tmp_path / "second.csv", range(50, 80)), lake)
    assert (summary["rows_in"], summary["accepted"], summary["quarantined"]) == (30, 30, 0)
    state = reconciles_per_receipt(lake)
    assert len(state) == 2
    assert all(n_in == n_ok + n_q for n_in, n_ok, n_q in state.values()), state
    assert sorted(state.values()) == [(30, 30, 0), (53, 50, 3)]
    from orchestration.resources.lakehouse import LocalLakehouse

    ledger = receipts.latest(LocalLakehouse(root=str(lake)), load_spec(tmp_path / "spec.yaml").name)
    assert {e.state for e in ledger.values()} == {receipts.REFINED}
