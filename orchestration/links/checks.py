"""Checks on the link-analysis tables: coverage, and scores against the synthetic demo's planted truth.

Truth thresholds
----------------
The demo's feeds are synthetic with planted truth (``truth/<name>``, written by
``synthetic_truth``, identifiers pseudonymised like silver). The truth checks
are non-blocking warnings: a real deployment has no truth tables and the
checks then pass with a note. The thresholds are those of
:mod:`jobs.links.scoring` (one set for checks, tests and benchmark); the
figures measured against them are printed by ``benchmarks/links.py`` and
recorded, with the command, in ``docs/links.md``.

Communities are scored on every week pooled: a phone in week *w* is labelled
``w|community`` and ``w|group``, so a group split or merged in any week costs.
Group members that never call in a week are not scored in that week. A ring
matches a planted ring when the Jaccard index of their accounts is >= 0.5.
"""

import json

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from jobs.links.scoring import (  # noqa: F401  (the thresholds, re-exported for the tests)
    BURNER_MIN_PRECISION,
    BURNER_MIN_RECALL,
    COMMUNITY_MIN_ARI,
    COMMUNITY_MIN_NMI,
    MULE_MIN_PRECISION,
    MULE_MIN_RECALL,
    RING_MIN_JACCARD,
    RING_MIN_PRECISION,
    RING_MIN_RECALL,
)
from orchestration.resources.lakehouse import Lakehouse


def _no_truth(name: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=True, severity=dg.AssetCheckSeverity.WARN,
        metadata={"note": dg.MetadataValue.text(f"no truth/{name} table (real data): nothing to score against")},
    )


def _floats(scores: dict) -> dict:
    return {k: dg.MetadataValue.float(round(float(v), 4)) for k, v in scores.items()}


def community_scores(communities: pa.Table, group_members: pa.Table) -> dict[str, float]:
    """NMI/ARI of weekly communities against planted groups, every week pooled; also coverage.

    ``coverage`` is the share of planted phones that are in some week's network.
    """
    from jobs.links.scoring import community_agreement

    truth = dict(zip(group_members["msisdn"].to_pylist(), group_members["group_id"].to_pylist()))
    predicted, planted = {}, {}
    for phone, period, community in zip(communities["phone"].to_pylist(), communities["period"].to_pylist(),
                                        communities["community"].to_pylist()):
        if phone in truth:
            key = f"{period.isoformat()}|{phone}"
            predicted[key] = f"{period.isoformat()}|{community}"
            planted[key] = f"{period.isoformat()}|{truth[phone]}"
    seen = {k.split("|", 1)[1] for k in planted}
    if len(planted) < 2:
        return {"nmi": 0.0, "ari": 0.0, "n": float(len(planted)), "coverage": len(seen) / max(len(truth), 1)}
    scores = community_agreement(predicted, planted)
    scores["coverage"] = len(seen) / len(truth)
    return scores


@dg.asset_check(
    asset="call_communities",
    name="call_communities_cover_edges",
    blocking=True,
    description="Every phone of each week's call_edges has exactly one community that week, and no other phone has one.",
)
def call_communities_cover_edges(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    edges = lakehouse.read("gold", "call_edges", columns=["period", "caller", "callee"])
    comms = lakehouse.read("gold", "call_communities", columns=["period", "phone", "community", "size"])
    ends = pa.concat_tables([
        edges.select(["period", "caller"]).rename_columns(["period", "phone"]),
        edges.select(["period", "callee"]).rename_columns(["period", "phone"]),
    ]).group_by(["period", "phone"]).aggregate([])
    want = {(p, ph) for p, ph in zip(ends["period"].to_pylist(), ends["phone"].to_pylist())}
    have_list = list(zip(comms["period"].to_pylist(), comms["phone"].to_pylist()))
    have = set(have_list)
    duplicates = len(have_list) - len(have)
    missing, extra = want - have, have - want
    # the stored size must be the community's member count
    counts = comms.group_by(["period", "community"]).aggregate([("phone", "count"), ("size", "min"), ("size", "max")])
    bad_size = int(pc.sum(pc.or_(pc.not_equal(counts["phone_count"], counts["size_min"]),
                                 pc.not_equal(counts["size_min"], counts["size_max"]))).as_py() or 0)
    passed = not missing and not extra and duplicates == 0 and bad_size == 0
    return dg.AssetCheckResult(passed=passed, metadata={
        "phones_in_edges": dg.MetadataValue.int(len(want)),
        "phones_without_community": dg.MetadataValue.int(len(missing)),
        "phones_not_in_edges": dg.MetadataValue.int(len(extra)),
        "duplicate_rows": dg.MetadataValue.int(duplicates),
        "communities_with_wrong_size": dg.MetadataValue.int(bad_size),
        "examples_missing": dg.MetadataValue.json([f"{p.date()} {ph}" for p, ph in sorted(missing)[:5]]),
    })


@dg.asset_check(
    asset="call_communities",
    name="call_communities_match_truth",
    blocking=False,
    description=(f"Synthetic demo only: weekly communities recover the planted criminal groups (truth/group_members), "
                 f"NMI >= {COMMUNITY_MIN_NMI} and ARI >= {COMMUNITY_MIN_ARI}, every week pooled. Passes with a "
                 f"note when there is no truth table."),
)
def call_communities_match_truth(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    if not lakehouse.exists("truth", "group_members"):
        return _no_truth("group_members")
    scores = community_scores(lakehouse.read("gold", "call_communities", columns=["period", "phone", "community"]),
                              lakehouse.read("truth", "group_members", columns=["msisdn", "group_id"]))
    passed = scores["nmi"] >= COMMUNITY_MIN_NMI and scores["ari"] >= COMMUNITY_MIN_ARI
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata={
        **_floats(scores), "min_nmi": COMMUNITY_MIN_NMI, "min_ari": COMMUNITY_MIN_ARI,
    })


@dg.asset_check(
    asset="burner_phones",
    name="burner_phones_match_truth",
    blocking=False,
    description=(f"Synthetic demo only: flagged burners against truth/burners, precision >= {BURNER_MIN_PRECISION} "
                 f"and recall >= {BURNER_MIN_RECALL}. Passes with a note when there is no truth table."),
)
def burner_phones_match_truth(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    from jobs.links.scoring import precision_recall

    if not lakehouse.exists("truth", "burners"):
        return _no_truth("burners")
    b = lakehouse.read("gold", "burner_phones", columns=["phone", "is_burner"])
    detected = b.filter(pc.fill_null(b["is_burner"], False))["phone"].to_pylist()
    scores = precision_recall(detected, lakehouse.read("truth", "burners", columns=["msisdn"])["msisdn"].to_pylist())
    passed = scores["precision"] >= BURNER_MIN_PRECISION and scores["recall"] >= BURNER_MIN_RECALL
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata={
        **_floats(scores), "min_precision": BURNER_MIN_PRECISION, "min_recall": BURNER_MIN_RECALL,
    })


def ring_scores(rings: pa.Table, accounts: pa.Table) -> dict[str, float]:
    """Cycle rings against planted rings (Jaccard >= 0.5) and mule hubs against planted mule accounts."""
    from jobs.links.scoring import precision_recall, ring_precision_recall

    roles = accounts.to_pandas()
    planted = [set(g["account"]) for _, g in roles[roles["role"] == "ring"].groupby("ring_id")]
    mules = set(roles.loc[roles["role"] == "mule", "account"])
    cycles, hubs = [], set()
    for core, patterns, evidence in zip(rings["core_members"].to_pylist(), rings["patterns"].to_pylist(),
                                        rings["evidence"].to_pylist()):
        if "cycle" in patterns:
            cycles.append(set(core))
        # the hubs of mule patterns (a ring can join a cycle and a mule through a shared account)
        hubs.update(p["hub"] for p in json.loads(evidence)["patterns"] if p["type"] == "mule")
    r = ring_precision_recall(cycles, planted, min_jaccard=RING_MIN_JACCARD) if planted else {"precision": 0.0, "recall": 0.0}
    m = precision_recall(hubs, mules)
    return {"ring_precision": r["precision"], "ring_recall": r["recall"], "rings_detected": float(len(cycles)),
            "rings_planted": float(len(planted)), "mule_precision": m["precision"], "mule_recall": m["recall"],
            "mules_detected": float(len(hubs)), "mules_planted": float(len(mules))}


@dg.asset_check(
    asset="fraud_rings",
    name="fraud_rings_match_truth",
    blocking=False,
    description=(f"Synthetic demo only: cycle rings match the planted rings of truth/accounts (Jaccard >= "
                 f"{RING_MIN_JACCARD}; precision >= {RING_MIN_PRECISION}, recall >= {RING_MIN_RECALL}) and mule "
                 f"hubs the planted mule accounts (precision >= {MULE_MIN_PRECISION}, recall >= {MULE_MIN_RECALL}). "
                 f"Passes with a note when there is no truth table."),
)
def fraud_rings_match_truth(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    if not lakehouse.exists("truth", "accounts"):
        return _no_truth("accounts")
    scores = ring_scores(lakehouse.read("gold", "fraud_rings", columns=["core_members", "patterns", "evidence"]),
                         lakehouse.read("truth", "accounts", columns=["account", "role", "ring_id"]))
    passed = (scores["ring_precision"] >= RING_MIN_PRECISION and scores["ring_recall"] >= RING_MIN_RECALL
              and scores["mule_precision"] >= MULE_MIN_PRECISION and scores["mule_recall"] >= MULE_MIN_RECALL)
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata={
        **_floats(scores), "min_ring_precision": RING_MIN_PRECISION, "min_ring_recall": RING_MIN_RECALL,
        "min_mule_precision": MULE_MIN_PRECISION, "min_mule_recall": MULE_MIN_RECALL,
    })
