"""Checks on the link-analysis tables: coverage of their input, and scores against the demo's planted truth.

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


def edge_coverage(counts: pa.Table, edges: pa.Table) -> tuple[list[str], dict[str, int]]:
    """Problems of each period's call edges against its CDR input, and totals.

    ``counts`` is :func:`jobs.links.edges.edge_input_counts` of the CDRs, ``edges`` has
    ``period``, ``n_voice`` and ``n_sms``. A kind is checked when some edge counts it
    (``call_edges`` may be configured without it; when no edge counts either kind, both are).
    A period with input rows of a checked kind and no edge fails, and a checked kind's summed
    count in a period must lie in ``[out_rows, rows]``: mirrored ``in`` rows are the only rows
    the aggregation may drop.
    """
    have: dict = {}  # period -> summed counts of its edges
    if edges.num_rows:
        sums = edges.group_by("period").aggregate([("n_voice", "sum"), ("n_sms", "sum"), ("period", "count")])
        for p, v, sm, n in zip(*(sums[c].to_pylist() for c in ("period", "n_voice_sum", "n_sms_sum", "period_count"))):
            have[p] = {"voice": v, "sms": sm, "edges": n}
    built = {k for k in ("voice", "sms") if any(h[k] for h in have.values())}
    problems, periods = [], set()
    n_rows = 0
    for p, kind, rows, out_rows in zip(*(counts[c].to_pylist() for c in ("period", "kind", "rows", "out_rows"))):
        if kind not in ("voice", "sms") or not rows:
            continue
        n_rows += rows
        periods.add(p)
        got = have.get(p, {"voice": 0, "sms": 0, "edges": 0})
        if got["edges"] == 0 and (kind in built or not built):
            problems.append(f"{p.date()}: {rows:,} {kind} CDR rows with a callee -> 0 edges")
        elif kind in built and not out_rows <= got[kind] <= rows:
            problems.append(f"{p.date()}: edges count {got[kind]:,} {kind} events, expected {out_rows:,} to "
                            f"{rows:,} ({rows - out_rows:,} of the CDR rows are 'in' rows that may mirror an 'out' row)")
    return problems, {"periods_with_input": len(periods), "input_rows": n_rows,
                      "periods_without_edges": len(periods - {p for p, h in have.items() if h["edges"]})}


@dg.asset_check(
    asset="call_edges",
    name="call_edges_cover_input",
    blocking=True,
    description=("Every week of silver/cdr_events with voice or SMS rows that have a callee has edges, and each "
                 "week's summed n_voice and n_sms lie between the CDR rows that are not 'in' rows (never "
                 "deduplicated) and all of them. Catches an engine that silently loses a week or part of it. "
                 "Checks the weeks whose CDRs or edges changed since its last pass (every week the first time)."),
)
def call_edges_cover_input(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    from jobs.links.edges import edge_input_counts, sum_edge_input_counts

    import datetime as dt

    from orchestration.lakehouse import changes
    from orchestration.lakehouse.changes import changed_periods
    from jobs.links.lookups import periods_of

    kinds = ("voice", "sms")
    parts = []
    consumer, weeks, mode = "check/call_edges_cover_input", None, "full"
    if lakehouse.exists("silver", "cdr_events"):
        version = lakehouse.version("silver", "cdr_events")
        # the weeks CDR rows changed since the last passing run (all of them the first time): a week whose
        # input changed and whose edges did not appear is exactly what this check exists to catch
        edges = (lambda: periods_of(lakehouse, "call_edges")) if lakehouse.exists("gold", "call_edges") \
            else (lambda: None)
        weeks, mode = changed_periods(lakehouse, "silver", "cdr_events", "start_time", consumer, version,
                                      existing=edges)
        if lakehouse.exists("gold", "call_edges") and mode != "full":  # and the weeks whose edges changed
            edges_version = lakehouse.version("gold", "call_edges")
            more, mode = changed_periods(lakehouse, "gold", "call_edges", "period", consumer, edges_version,
                                         period=None, existing=edges)
            weeks = sorted(set(weeks) | set(more))
        dataset = lakehouse.table("silver", "cdr_events", version).to_pyarrow_dataset()
        columns = [c for c in ("caller", "callee", "start_time", "kind", "direction") if c in dataset.schema.names]
        in_kinds = pc.field("kind").isin(list(kinds))
        ranges = [in_kinds & (pc.field("start_time") >= w) & (pc.field("start_time") < w + dt.timedelta(days=7))
                  for w in weeks] if mode != "full" else [in_kinds]
        # streamed in record batches: per-batch counts add up (the whole table is never in memory)
        for expr in ranges:
            for batch in dataset.to_batches(columns=columns, filter=expr):
                if batch.num_rows:
                    parts.append(edge_input_counts(pa.Table.from_batches([batch]), period="week", kinds=kinds))
    counts = sum_edge_input_counts(parts)
    edges = (lakehouse.read("gold", "call_edges", columns=["period", "n_voice", "n_sms"],
                            filters=[("period", "in", weeks)] if mode != "full" else None)
             if lakehouse.exists("gold", "call_edges") and (mode == "full" or weeks)
             else pa.table({"period": pa.array([], pa.timestamp("us", tz="UTC")), "n_voice": pa.array([], pa.int64()),
                            "n_sms": pa.array([], pa.int64())}))
    problems, totals = edge_coverage(counts, edges)
    if not problems and lakehouse.exists("silver", "cdr_events"):
        marks = {"silver/cdr_events": version}
        if lakehouse.exists("gold", "call_edges"):
            marks["gold/call_edges"] = lakehouse.version("gold", "call_edges")
        changes.save_watermarks(lakehouse, consumer, marks)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "scope": dg.MetadataValue.text("every week" if mode == "full" else
                                       f"{len(weeks)} week(s) whose CDRs or edges changed"),
        **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
        "problems": dg.MetadataValue.int(len(problems)),
        "examples": dg.MetadataValue.json(problems[:10]),
    }, description="; ".join(problems[:3]) if problems else None)


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
