"""Feedback-loop audit and what-if patrol scenarios (#17 items 4 and 5), each week with the forecast.

``feedback_audit`` fits the simulator's true-crime model (:mod:`models.simulation`) to the incidents
recorded before the week, runs the ``naive`` policy (patrols follow a forecast fed only the crime they
discover) against ``corrected`` (the same forecast with Ensign et al.'s inverse-probability weighting),
with ``uniform`` and ``random`` for scale, over ``sim_weeks`` simulated weeks and ``seeds`` seeds, and
keeps each policy's final runaway index (total-variation distance between patrols and true crime across
districts) with its standard error. The check ``feedback_index_not_rising`` warns when the naive policy's
index rose by more than two standard errors since the previous audited week.

``patrol_whatif`` compares patrol strategies (``forecast``, ``kde``, ``naive``, ``uniform``) on expected
crime prevented under the simulator's stated deterrence, with intervals across seeds, and writes an offline
HTML report with its plot (reports/hotspots/whatif_<week>.html).

Both are partitioned by the forecast weeks, so they run in ``hotspot_forecast_weekly`` after the patrol
plan, and each partition replaces its own rows (``week = <key>``). Their settings and the sources of the
defaults: :class:`models.simulation.SimulationParams` and docs/accountability.md. The simulated forecast is
the self-exciting grid refitted each simulated week, not the serving model itself (which the simulator
cannot retrain 52 times in seconds): the metadata names the serving method beside it.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from orchestration.hotspots.inputs import HotspotConfig, forecast_source, local_week_start, study_inputs
from orchestration.hotspots.partitions import FORECAST_WEEKS
from orchestration.lakehouse.freshness import skip_unchanged
from orchestration.lakehouse.metadata import lake_table, table_metadata
from orchestration.platform.retries import STORAGE_RETRY
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse, sql_literal
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog

OWNERS = ["team:crime-analysis"]
#: The policies of the audit: the loop, its correction, and two that ignore the forecast.
AUDIT_POLICIES = ("naive", "corrected", "uniform", "random")
#: The strategies of the what-if comparison.
WHATIF_STRATEGIES = ("forecast", "kde", "naive", "uniform")
#: A rise of the naive policy's index by more than this many standard errors warns.
RISE_SE = 2.0


class SimulationConfig(HotspotConfig):
    """:class:`HotspotConfig` plus the simulation's length and seeds (the other settings: the simulator's
    documented defaults)."""

    sim_weeks: int = Field(52, ge=1, le=260, description="Simulated weeks per run.")
    seeds: int = Field(10, ge=2, le=100, description="Seeds per policy (at least 2, for a standard error).")


def _world(lakehouse: Lakehouse, sources: SourceCatalog, config: SimulationConfig, compute: Compute, key: str):
    """The simulator's world fitted to the incidents before the week; the local time zone; what was read."""
    import numpy as np
    import pyarrow.compute as pc

    from jobs.geo.areas import assign_areas
    from models.simulation import SimulationParams, fit_world

    read: dict = {}
    incidents, cells, districts, tz = study_inputs(lakehouse, sources, config, versions=read)
    week = local_week_start(key, tz)
    ts = incidents.column("occurred_at")
    incidents = incidents.filter(pc.less(ts, pa.scalar(week, ts.type)))
    if incidents.num_rows == 0:
        raise ValueError(f"no incidents before the week of {key}: nothing to fit the simulation to")
    area, _ = assign_areas(cells.column("lon").to_numpy(), cells.column("lat").to_numpy(), districts,
                           ctx=compute.sedona(), tolerance_m=float("inf"))
    params = SimulationParams()
    world = fit_world(incidents, cells, area.to_pylist(), params)
    return world, params, tz, read, np.arange(config.seeds)


def _serving(lakehouse: Lakehouse, key: str) -> str:
    if not lakehouse.exists("gold", "hotspot_forecast"):
        return "none"
    rows = lakehouse.read("gold", "hotspot_forecast", columns=["method", "model_version"],
                          filters=[("week", "=", key)])
    return f"{rows['method'][0].as_py()} v{rows['model_version'][0].as_py()}" if rows.num_rows else "none"


def _rows(summary: pd.DataFrame, key: str, weeks: int, serving: str, read: dict) -> pa.Table:
    out = summary.assign(week=key, sim_weeks=weeks, serving=serving, **read)
    return pa.Table.from_pandas(out, preserve_index=False)


@dg.asset(
    key="feedback_audit",
    retry_policy=STORAGE_RETRY,
    group_name="gold",
    metadata=lake_table("gold", "feedback_audit"),
    kinds={"delta"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["patrol_plan"],
    description=(
        "Gold: the feedback-loop audit of the week. A self-exciting model fitted to the incidents before the week "
        "generates true crime; police discover it with a probability that rises with patrols; each simulated week "
        "the forecast is refitted on discovered crime and patrols follow it. Per policy (naive, corrected, "
        "uniform, random): the final runaway index (total-variation distance between patrols and true crime "
        "across districts) with its standard error over seeds, crime prevented, true and discovered crime. "
        "A plot of the index over the simulated weeks: reports/hotspots/feedback_<week>.png. The check "
        "`feedback_index_not_rising` warns when the naive index rises. docs/accountability.md."
    ),
)
@skip_unchanged()
def feedback_audit(context: dg.AssetExecutionContext, config: SimulationConfig, lakehouse: Lakehouse,
                   sources: SourceCatalog, compute: Compute, reports: Reports) -> dg.MaterializeResult:
    from models.simulation import run_seeds, summarise
    from models.simulation.plots import plot_runaway

    key = context.partition_key
    world, params, tz, read, seeds = _world(lakehouse, sources, config, compute, key)
    results = run_seeds(world, AUDIT_POLICIES, config.sim_weeks, seeds, params)
    summary = summarise(results)
    serving = _serving(lakehouse, key)
    table = _rows(summary, key, config.sim_weeks, serving, read)
    result = lakehouse.replace_where("gold", "feedback_audit", table, f"week = {sql_literal(key)}",
                                     evolve_schema=True)
    png = reports.folder("hotspots") / f"feedback_{key}.png"
    fig = plot_runaway(results)
    fig.suptitle(f"Feedback loop, simulated from the week of {key} ({tz}): {config.sim_weeks} weeks, "
                 f"{len(seeds)} seeds")
    fig.savefig(png, dpi=100)
    idx = summary.set_index("policy")
    context.log.info("runaway index after %d simulated weeks: %s" % (config.sim_weeks, ", ".join(
        f"{p} {r.runaway_index:.3f} ± {r.runaway_index_se:.3f}" for p, r in idx.iterrows())))
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 4)),
        **{f"runaway_{p}": dg.MetadataValue.float(float(r.runaway_index)) for p, r in idx.iterrows()},
        "naive_minus_corrected": dg.MetadataValue.float(float(idx.loc["naive", "runaway_index"]
                                                              - idx.loc["corrected", "runaway_index"])),
        "serving_method": dg.MetadataValue.text(serving),
        "simulation_params": dg.MetadataValue.json(params.to_dict()),
        "plot": dg.MetadataValue.path(str(png)),
    })


@dg.asset_check(asset="feedback_audit", name="feedback_index_not_rising", blocking=False,
                description=f"Warns when the naive policy's runaway index of the latest audited week rose by more than "
                            f"{RISE_SE:g} standard errors over the previous audited week's.")
def feedback_index_not_rising(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    rows = lakehouse.read("gold", "feedback_audit", columns=["week", "policy", "runaway_index",
                                                             "runaway_index_se"],
                          filters=[("policy", "=", "naive")]).to_pandas()
    verdict = index_rise(rows)
    if verdict is None:
        return dg.AssetCheckResult(passed=True, metadata={"weeks_audited": len(rows),
                                                          "note": "one audited week: nothing to compare yet"})
    return dg.AssetCheckResult(passed=not verdict["rising"], severity=dg.AssetCheckSeverity.WARN, metadata={
        **{k: v for k, v in verdict.items() if k != "rising"},
        "verdict": "rising: patrols drift from true crime faster than last week" if verdict["rising"]
        else "not rising"})


def index_rise(rows: pd.DataFrame) -> dict | None:
    """Whether the latest week's runaway index (``week``, ``runaway_index``, ``runaway_index_se``; one policy)
    rose above the previous week's by more than :data:`RISE_SE` standard errors of the difference; None with
    fewer than two weeks."""
    import numpy as np

    rows = rows.sort_values("week")
    if len(rows) < 2:
        return None
    prev, last = rows.iloc[-2], rows.iloc[-1]
    rise = float(last["runaway_index"] - prev["runaway_index"])
    se = float(np.hypot(last["runaway_index_se"], prev["runaway_index_se"]))
    return {"weeks": f"{prev['week']} -> {last['week']}", "rise": rise, "rise_se": se,
            "rising": bool(rise > RISE_SE * se)}


@dg.asset(
    key="patrol_whatif",
    retry_policy=STORAGE_RETRY,
    group_name="gold",
    metadata=lake_table("gold", "patrol_whatif"),
    kinds={"delta", "html"},
    owners=OWNERS,
    partitions_def=FORECAST_WEEKS,
    deps=["patrol_plan"],
    description=(
        "Gold: what-if patrol strategies for the week (forecast: the self-exciting forecast fed discovered crime; "
        "kde; naive: last year's counts; uniform), simulated from the incidents before the week: expected crime "
        "prevented under the simulator's stated deterrence, with standard error and a 95 % interval across "
        "seeds; an offline HTML report with its plot (reports/hotspots/whatif_<week>.html)."
    ),
)
@skip_unchanged()
def patrol_whatif(context: dg.AssetExecutionContext, config: SimulationConfig, lakehouse: Lakehouse,
                  sources: SourceCatalog, compute: Compute, reports: Reports) -> dg.MaterializeResult:
    from models.simulation import STRATEGIES, run_seeds, summarise
    from models.simulation.report import whatif_report

    key = context.partition_key
    world, params, tz, read, seeds = _world(lakehouse, sources, config, compute, key)
    results = run_seeds(world, WHATIF_STRATEGIES, config.sim_weeks, seeds, params, plans=STRATEGIES)
    summary = summarise(results)
    table = _rows(summary.rename(columns={"policy": "strategy"}), key, config.sim_weeks, _serving(lakehouse, key),
                  read)
    result = lakehouse.replace_where("gold", "patrol_whatif", table, f"week = {sql_literal(key)}",
                                     evolve_schema=True)
    capacity = params.cells_patrolled(len(world.mu))
    page, _ = whatif_report(summary, weeks=config.sim_weeks, capacity=capacity, n_cells=len(world.mu),
                            params=params, source=f"{forecast_source(sources, config.source).name}, incidents "
                                                  f"before the week of {key}", timezone=tz)
    html = reports.folder("hotspots") / f"whatif_{key}.html"
    html.write_text(page, encoding="utf-8")
    best = summary.sort_values("prevented", ascending=False).iloc[0]
    context.log.info(f"what-if, week {key}: most prevented by {best['policy']} ({best['prevented']:.1f} ± "
                     f"{best['prevented_se']:.1f} over {config.sim_weeks} weeks)")
    return dg.MaterializeResult(metadata={
        **table_metadata(result, table.slice(0, 4)),
        **{f"prevented_{r.policy}": dg.MetadataValue.float(float(r.prevented)) for r in summary.itertuples()},
        "capacity_cells": dg.MetadataValue.int(int(capacity)),
        "report": dg.MetadataValue.path(str(html)),
    })
