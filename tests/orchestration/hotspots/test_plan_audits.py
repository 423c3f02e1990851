"""The weekly audits of a patrol plan on a tiny lake: the feedback-loop simulation (``feedback_audit`` and its
check) and the what-if strategies (``patrol_whatif``), two weeks each."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from orchestration.hotspots.audits import AUDIT_POLICIES, WHATIF_STRATEGIES, feedback_audit, \
    feedback_index_not_rising, index_rise, patrol_whatif
from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import LocalLakehouse
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog

_spec = importlib.util.spec_from_file_location("patrol_exposure_test", Path(__file__).with_name(
    "test_patrol_exposure.py"))
_m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m)
WEEKS, QUIET, fill_lake, write_spec = _m.WEEKS, _m.QUIET, _m.fill_lake, _m.write_spec

SHORT = {"sim_weeks": 6, "seeds": 3}


def test_feedback_audit_and_whatif_two_weeks(tmp_path):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    fill_lake(lake)
    resources = {"lakehouse": lake, "reports": Reports(home=str(tmp_path / "home")), "compute": Compute(),
                 "sources": SourceCatalog(spec_paths=[write_spec(tmp_path, [6000, 3000])])}
    instance = dg.DagsterInstance.ephemeral()
    config = {"ops": {"feedback_audit": {"config": SHORT}, "patrol_whatif": {"config": SHORT}}, **QUIET}
    for week in WEEKS:
        res = dg.materialize([feedback_audit, patrol_whatif, feedback_index_not_rising], resources=resources,
                             partition_key=week, instance=instance, run_config=config)
        assert res.success
    audit = lake.read("gold", "feedback_audit").to_pandas()
    assert sorted(audit["week"].unique()) == WEEKS
    assert set(audit["policy"]) == set(AUDIT_POLICIES) and len(audit) == 2 * len(AUDIT_POLICIES)
    assert audit["runaway_index"].between(0, 1).all() and (audit["seeds"] == 3).all()
    assert (audit["sim_weeks"] == 6).all() and (audit["incidents_version"] == 0).all()
    # a re-run of a week replaces its rows (nothing duplicated)
    assert dg.materialize([feedback_audit], resources=resources, partition_key=WEEKS[0], instance=instance,
                          run_config={"ops": {"feedback_audit": {"config": SHORT}}, **QUIET}).success
    assert len(lake.read("gold", "feedback_audit").to_pandas()) == 2 * len(AUDIT_POLICIES)
    whatif = lake.read("gold", "patrol_whatif").to_pandas()
    assert set(whatif["strategy"]) == set(WHATIF_STRATEGIES) and len(whatif) == 2 * len(WHATIF_STRATEGIES)
    week = whatif[whatif["week"] == WEEKS[1]].set_index("strategy")
    assert (week["prevented_lo"] <= week["prevented"]).all() and (week["prevented"] <= week["prevented_hi"]).all()
    assert week.loc["forecast", "prevented"] > week.loc["uniform", "prevented"]  # 70 % of crime sits in the west
    reports = tmp_path / "home" / "reports" / "hotspots"
    assert (reports / f"feedback_{WEEKS[1]}.png").stat().st_size > 10_000
    page = (reports / f"whatif_{WEEKS[1]}.html").read_text()
    assert "What-if patrol strategies" in page and "data:image/png;base64" in page
    checks = [e for e in res.get_asset_check_evaluations() if e.check_name == "feedback_index_not_rising"]
    assert checks and "weeks" in checks[0].metadata  # the second week compares with the first


@pytest.mark.parametrize("values, ses, rising", [
    ([0.40, 0.50], [0.01, 0.01], True),     # +0.10 against an s.e. of 0.014
    ([0.40, 0.41], [0.01, 0.01], False),    # within two standard errors
    ([0.50, 0.40], [0.01, 0.01], False),    # falling
])
def test_index_rise(values, ses, rising):
    rows = pd.DataFrame({"week": ["2018-01-08", "2018-01-01"][::-1], "runaway_index": values,
                         "runaway_index_se": ses})
    verdict = index_rise(rows.sample(frac=1, random_state=0))  # order of the rows does not matter
    assert verdict["rising"] is rising and verdict["weeks"] == "2018-01-01 -> 2018-01-08"
    assert index_rise(rows.head(1)) is None
