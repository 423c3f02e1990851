"""gold ``cell_features`` per day (asset config ``period: day``), with the fused feeds' activity of the days before."""

from __future__ import annotations

import shutil

import dagster as dg
import h3
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from models.hotspots.training import require_weekly
from orchestration.hotspots import assets as hotspot_assets
from orchestration.resources.lakehouse import LocalLakehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@pytest.fixture(scope="module")
def daily(full_run, tmp_path_factory):
    """cell_features with period: day, built in a copy of the full run's lake (the shared lake keeps its weekly table)."""
    defs, _, result, base = full_run
    assert result.success
    root = tmp_path_factory.mktemp("daily_features") / "lake"
    for layer, name in (("silver", "incidents"), ("reference", "police_districts"), ("gold", "events")):
        shutil.copytree(base / "lake" / layer / name, root / layer / name)
    lh = LocalLakehouse(root=str(root))
    asset = [a for a in dg.load_assets_from_modules([hotspot_assets]) if a.key.to_user_string() == "cell_features"]
    cfg = {**QUIET, "ops": {"cell_features": {"config": {"period": "day", "train_days": 21}}}}
    res = dg.materialize(asset, resources={**defs.resources, "lakehouse": lh}, run_config=cfg,
                         instance=dg.DagsterInstance.ephemeral())
    return lh, res


def test_daily_rows_through_the_asset(daily):
    lh, res = daily
    assert res.success
    meta = res.asset_materializations_for_node("cell_features")[0].metadata
    assert meta["period"].value == "day"
    feats = lh.read("gold", "cell_features").to_pandas()
    # days start at local midnight of the study area (Chicago), not UTC's
    days = pd.DatetimeIndex(sorted(feats["period_start"].unique())).tz_convert("America/Chicago")
    assert len(days) == 21 and (days.hour == 0).all() and (np.diff(days.tz_localize(None).normalize().asi8)
                                                           == pd.Timedelta(days=1).value).all()
    origin = pd.Timestamp(meta["origin"].value).tz_localize("America/Chicago")
    assert days[-1] == origin - pd.Timedelta(days=1)  # the last day before the origin week
    assert set(feats["day_of_week"]) == set(range(7))
    assert feats.groupby("period_start")["h3"].nunique().nunique() == 1  # every cell every day
    assert {"roll_7", "roll_28", "roll_91", "roll_364", "cdr_activity_roll_7", "decay_364"} <= set(feats.columns)

    # cdr_activity_roll_7 of day d = CDR events in the cell during the 7 days before d, counted here from gold events
    ev = lh.read("gold", "events", columns=["origin", "occurred_at", "h3"]).to_pandas()
    ev = ev[ev["origin"] == "cdr_events"]
    ev["cell"] = [h3.cell_to_parent(c, 9) for c in ev["h3"]]
    ev["day"] = ev["occurred_at"].dt.tz_convert("America/Chicago").dt.tz_localize(None).dt.floor("D")  # local days
    per_day = ev.groupby(["cell", "day"]).size()

    def week_before(cell, day):
        day = pd.Timestamp(day).tz_convert("America/Chicago").tz_localize(None)
        return sum(per_day.get((cell, day - pd.Timedelta(days=k)), 0) for k in range(1, 8))

    busy = feats.loc[feats["cdr_activity_roll_7"] > 0]
    assert len(busy) > 0
    for _, r in busy.sort_values("cdr_activity_roll_7", ascending=False).head(25).iterrows():
        assert r["cdr_activity_roll_7"] == week_before(r["h3"], r["period_start"])
    # every cell of one day, busy or not
    one = feats.loc[feats["period_start"] == days[-1]]
    assert (one["cdr_activity_roll_7"].to_numpy() == np.array([week_before(c, days[-1]) for c in one["h3"]])).all()


def test_weekly_model_refuses_daily_features(daily):
    lh, _ = daily
    with pytest.raises(ValueError, match="daily rows"):
        require_weekly(lh.read("gold", "cell_features", columns=["period_start"]))
    weekly = lh.read("gold", "cell_features", columns=["period_start"])
    mondays = weekly.filter(pc.equal(pc.day_of_week(weekly["period_start"]), 0))
    require_weekly(mondays)
