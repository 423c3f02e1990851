"""The champion gate's arithmetic: the weeks neither model trained on, and each model's PAI on them.

A challenger replaces the champion only when its ranking of cells beats the
champion's on the same weeks, out of sample for both: weeks on or after both
models' training cut-offs (:data:`models.hotspots.training.TRAINED_TO`) and
before the data's origin (the incomplete week of the last incident). Both are
scored the same way, their registered ONNX graph over features rebuilt from
incidents before each week with their own feature spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.grid.cell_features import period_grid, resolve_cells, resolve_events
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


def gate_weeks(cutoffs: Iterable[pd.Timestamp], origin: pd.Timestamp, max_weeks: int) -> list[pd.Timestamp]:
    """Week starts (Monday 00:00 UTC) on or after every cut-off and before ``origin``: the last ``max_weeks``.

    Empty when no complete week of data follows every model's training.
    """
    pg = period_grid("W")
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
    if not weeks:
        return []
    scores = OnnxHotspotScorer(onnx_model, spec).predict_many(incidents, cells, list(weeks))
    grid = resolve_cells(cells, spec.resolution)
    ev = resolve_events(incidents, grid)
    pg = period_grid("W")
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
