"""Scoring the link kernels against the planted truth of ``jobs.synth`` on the bundled Chicago incidents.

The thresholds are those of :mod:`jobs.links.scoring`, the one set the truth
checks and ``benchmarks/links.py`` use too; here the kernels run directly
(one network over the whole window rather than per week) on a small world
(seed 1, scale 0.3, incidents from June 2017). What they measure is printed by
``benchmarks/links.py`` and recorded in ``docs/links.md``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

synth_generate = pytest.importorskip("jobs.synth.generate")
synth_incidents = pytest.importorskip("jobs.synth.incidents")

from jobs.links.edges import aggregate_edges  # noqa: E402
from jobs.links.fraud import fraud_rings  # noqa: E402
from jobs.links.graph import call_network  # noqa: E402
from jobs.links.queries import burner_candidates  # noqa: E402
from jobs.links import scoring as th  # noqa: E402
from jobs.links.scoring import community_agreement, labels_from_table, precision_recall, ring_precision_recall  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CSV = Path(__file__).resolve().parents[3] / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
CDR_NAMES = {"record_id": "event_id", "a_number": "caller", "b_number": "callee", "event_type": "kind", "cgi": "cell_id"}


@pytest.fixture(scope="module")
def feeds():
    import pyarrow.csv as pcsv

    if not CSV.exists():
        pytest.skip(f"{CSV} not found")
    inc = synth_incidents.from_crimemapping(pcsv.read_csv(CSV))
    since = pa.scalar(dt.datetime(2017, 6, 1, tzinfo=dt.timezone.utc), pa.timestamp("us", tz="UTC"))
    inc = inc.filter(pc.greater_equal(inc["occurred_at"], since))
    f = synth_generate.generate(inc, seed=1, scale=0.3)
    # the raw feed's names -> silver names (ingest's mapping, kept minimal here)
    cdr = f.cdr_events.rename_columns([CDR_NAMES.get(n, n) for n in f.cdr_events.column_names])
    tx = f.transactions.rename_columns(["occurred_at" if n == "booked_at" else n for n in f.transactions.column_names])
    # both ledger rows, as silver holds them: mules are paid by victims at other banks (credit rows only)
    return f, cdr, tx


def test_groups_recovered(feeds):
    f, cdr, _ = feeds
    comms, _ = call_network(aggregate_edges(cdr, period="all"), seed=0)
    gm = f.truth_group_members
    truth = dict(zip(gm["msisdn"].to_pylist(), gm["group_id"].to_pylist()))
    s = community_agreement(labels_from_table(comms, "phone", "community"), truth)
    assert s["coverage"] >= 0.95 and s["nmi"] >= th.COMMUNITY_MIN_NMI and s["ari"] >= th.COMMUNITY_MIN_ARI, s


def test_burners_detected(feeds):
    f, cdr, _ = feeds
    b = burner_candidates(cdr)
    detected = b.filter(b["is_burner"])["phone"].to_pylist()
    s = precision_recall(detected, f.truth_burners["msisdn"].to_pylist())
    assert s["precision"] >= th.BURNER_MIN_PRECISION and s["recall"] >= th.BURNER_MIN_RECALL, s
    assert s["tp"] >= 5  # not vacuous


def test_rings_detected(feeds):
    f, _, tx = feeds
    # the fraud_rings asset's cycle lengths: 2-cycles are mostly loans paid back
    rings = fraud_rings(tx, min_cycle_length=3, max_cycle_length=8)
    ta = f.truth_accounts.to_pandas()
    planted = [set(g["account"]) for _, g in ta[ta["role"] == "ring"].groupby("ring_id")]
    cycles = [set(m) for m, p in zip(rings["core_members"].to_pylist(), rings["patterns"].to_pylist()) if "cycle" in p]
    s = ring_precision_recall(cycles, planted, min_jaccard=th.RING_MIN_JACCARD)
    assert planted and s["precision"] >= th.RING_MIN_PRECISION and s["recall"] >= th.RING_MIN_RECALL, s
    # the hub of each mule pattern in the evidence, against the planted mule accounts
    hubs = {p["hub"] for ev in rings["evidence"].to_pylist() for p in json.loads(ev)["patterns"] if p["type"] == "mule"}
    mules = set(ta.loc[ta["role"] == "mule", "account"])
    m = precision_recall(hubs, mules)
    assert len(mules) >= 2 and m["precision"] >= th.MULE_MIN_PRECISION and m["recall"] >= th.MULE_MIN_RECALL, m
