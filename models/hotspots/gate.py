"""The champion gate's arithmetic: the weeks neither model trained on, each method's PAI on them, the verdict.

The gate compares the new model (challenger), the champion and every baseline
on the same weeks, out of sample for the models: weeks on or after both
models' training cut-offs (:data:`models.hotspots.training.TRAINED_TO`) and
before the data's origin (the incomplete week of the last incident). Models
are scored by their registered ONNX graph over features rebuilt from incidents
before each week with their own feature spec; baselines are fitted on the
incidents before the first week and score each week from the incidents before
it. :func:`decide` names the method that serves: a baseline can be champion,
and a challenger takes over only when it beats both the champion and the best
baseline by more than the paired standard error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import period_grid, resolve_cells, resolve_events
from jobs.stats import Margin, paired_margin  # noqa: F401 (the gate's rule; importable from here too)
from models.evaluation.metrics import hotspot_metrics
from models.hotspots.serving import FeatureSpec, OnnxHotspotScorer
from models.hotspots.training import TRAINED_TO


def trained_to(run_params: Mapping[str, str]) -> pd.Timestamp:
    """The first week a registered hotspot model did not train on, from its MLflow run params.

    Versions logged before the hold-out existed have no ``trained_to``: they
    trained on every week before their ``origin``.
    """
    value = run_params.get(TRAINED_TO) or run_params.get("origin")
    if not value:
        raise ValueError(f"the model's run has neither a {TRAINED_TO!r} nor an 'origin' param, so the weeks it "
                         f"trained on are unknown; params: {sorted(run_params)}")
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def gate_weeks(cutoffs: Iterable[pd.Timestamp], origin: pd.Timestamp, max_weeks: int,
               timezone: str = "UTC") -> list[pd.Timestamp]:
    """Week starts (Monday 00:00 local time of ``timezone``) on or after every cut-off and before ``origin``:
    the last ``max_weeks``.

    Empty when no complete week of data follows every model's training.
    """
    pg = period_grid("W", timezone=timezone)
    first_ns = max(pd.Timestamp(c).value for c in cutoffs)
    p0 = int(pg.index_of(np.array([first_ns]))[0])
    if int(pg.start_ns(p0)) < first_ns:  # a cut-off inside a week: that week was partly seen
        p0 += 1
    p1 = int(pg.index_of(np.array([pd.Timestamp(origin).value]))[0]) - 1
    p0 = max(p0, p1 - int(max_weeks) + 1)
    return [pd.Timestamp(int(pg.start_ns(p)), tz="UTC") for p in range(p0, p1 + 1)]


def weekly_pai(onnx_model, spec: FeatureSpec, incidents: pa.Table, cells: pa.Table, weeks: Sequence[pd.Timestamp],
               coverage: float = 0.01) -> list[float]:
    """PAI at ``coverage`` of a registered model in each week, scored from incidents before the week's start.

    ``cells`` are the study area at the spec's resolution; a week without
    incidents gives NaN. Ties in score are broken by cell id.
    """
    return period_pai(OnnxHotspotScorer(onnx_model, spec), incidents, cells, weeks, coverage,
                      timezone=spec.feature_params.timezone)


def period_pai(scorer, incidents: pa.Table, cells: pa.Table, weeks: Sequence[pd.Timestamp],
               coverage: float = 0.01, timezone: str = "UTC") -> list[float]:
    """PAI at ``coverage`` in each week of any scorer with ``predict_many(incidents, cells, starts)`` and
    ``resolution`` (a registered model's or a baseline's), from incidents before each week's start; weeks
    on the clock of ``timezone``."""
    if not weeks:
        return []
    scores = scorer.predict_many(incidents, cells, list(weeks))
    grid = resolve_cells(cells, scorer.resolution)
    ev = resolve_events(incidents, grid)
    pg = period_grid("W", timezone=timezone)
    p = pg.index_of(ev.t_ns)
    out = []
    for k, week in enumerate(weeks):
        y = np.bincount(ev.cell[p == pg.index_of(np.array([pd.Timestamp(week).value]))[0]],
                        minlength=len(grid)).astype(float)
        m = hotspot_metrics(scores[k], y, grid.area_km2, (coverage,), tie_key=grid.index)
        out.append(float(m["pai"].iloc[0]))
    return out


def mean_pai(pais: Sequence[float]) -> float:
    """Mean over the weeks that had incidents (NaN when none had)."""
    vals = np.asarray(pais, dtype=float)
    return float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict: which method serves after it, and why.

    ``winner`` is ``"challenger"``, ``"champion"`` or a baseline's name;
    ``promote`` says whether the champion alias moves (to the challenger or to a
    newly registered baseline); ``margins`` are the winner's paired margins over
    the others it was compared with.
    """

    winner: str
    promote: bool
    reason: str
    best_baseline: str
    margins: dict[str, Margin]

    def won_by(self, means: Mapping[str, float]) -> str:
        """One line for titles and tags: the winner's PAI and its margin over each rival."""
        parts = [f"{rival} {m.text()}" for rival, m in self.margins.items()]
        head = f"PAI@1% {means.get(self.winner, float('nan')):.2f}"
        return head + (f"; vs {', '.join(parts)}" if parts else "")


def decide(models: Mapping[str, Sequence[float]], baselines: Mapping[str, Sequence[float]],
           champion_method: str | None = None) -> GateDecision:
    """Which method serves: the challenger, the champion or the best baseline, on paired weekly PAIs.

    Parameters
    ----------
    models
        Weekly PAI of ``"challenger"`` and, when there is one, ``"champion"``, on the same weeks.
    baselines
        Weekly PAI of every baseline on the same weeks.
    champion_method
        The champion's method (``"learned"`` or a baseline's name), None without a champion.

    Notes
    -----
    A contender takes over only when it beats what serves now by more than the
    paired standard error of the weekly differences (fewer than two weeks never
    suffice); the challenger must also beat the best baseline so, which keeps
    a learned model that lost to a baseline on its own backtest from serving.
    Without a champion, the challenger serves only by beating the best baseline
    so; otherwise the best baseline (highest mean PAI; ties by name) is
    registered and serves.
    """
    if "challenger" not in models:
        raise ValueError("models needs the challenger's weekly PAI")
    if not baselines:
        raise ValueError("the gate needs at least one baseline to compare with")
    means = {k: float(np.nanmean(v)) if np.isfinite(np.asarray(v, float)).any() else float("-inf")
             for k, v in baselines.items()}
    best = sorted(means, key=lambda k: (-means[k], k))[0]
    chal = models["challenger"]
    vs_best = paired_margin(chal, baselines[best])
    if "champion" not in models:
        if vs_best.beats:
            return GateDecision("challenger", True, f"no champion yet; the challenger beat the best baseline "
                                f"{best} by more than its standard error", best, {best: vs_best})
        return GateDecision(best, True, f"no champion yet; the challenger did not beat the best baseline {best} "
                            f"by more than its standard error ({vs_best.text()}), so {best} serves",
                            best, {"challenger": paired_margin(baselines[best], chal)})
    champ = models["champion"]
    vs_champ = paired_margin(chal, champ)
    if vs_champ.beats and vs_best.beats:
        return GateDecision("challenger", True, "the challenger beat the champion and the best baseline by more "
                            "than their standard errors", best, {"champion": vs_champ, best: vs_best})
    if champion_method != best:
        base_vs_champ = paired_margin(baselines[best], champ)
        if base_vs_champ.beats:
            return GateDecision(best, True, f"the best baseline {best} beat the champion by more than its "
                                f"standard error ({base_vs_champ.text()})", best,
                                {"champion": base_vs_champ, "challenger": paired_margin(baselines[best], chal)})
    why = "did not beat the champion" if not vs_champ.beats else f"did not beat the best baseline {best}"
    return GateDecision("champion", False, f"the challenger {why} by more than the standard error "
                        f"(vs champion {vs_champ.text()}, vs {best} {vs_best.text()}): champion kept",
                        best, {"challenger": paired_margin(champ, chal)})
