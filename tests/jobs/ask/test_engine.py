"""Answers on the tiny lakehouse checked against pandas; plan validation; declines carry no figure."""

from __future__ import annotations

import pytest

from jobs.ask import ask, run_plan
from jobs.ask.engine import build_sql
from jobs.ask.plan import Filter, Measure, Plan, PlanError, TimeWindow, validate
from tests.jobs.ask.tiny_lake import local_frame, transactions

L = local_frame()
SPRING = L[L.source == "springfield_burglary"]
TIMED = L[L.source != "ogdenville_shootings"]  # the feeds with a time of day


def _scalar(answer) -> float:
    assert not answer.declined, answer.answer
    return answer.rows[0][answer.columns.index(answer.columns[-1])]


# question -> expected scalar computed with pandas from the same rows (local time per source)
SCALARS = [
    ("how many incidents in springfield in 2017", len(SPRING[SPRING.local.dt.year == 2017])),
    ("how many incidents in 2016", int((L.local.dt.year == 2016).sum())),  # s1 is 2016 locally, k1 is 2017
    ("how many incidents between 10pm and 2am",
     int(((TIMED.local.dt.hour >= 22) | (TIMED.local.dt.hour < 2)).sum())),
    ("how many incidents on sundays", int((L.local.dt.dayofweek == 6).sum())),
    ("how many burglaries at residences", int(((L.category == "burglary") & (L.location_type == "residence")).sum())),
    ("how many thefts in december 2017",
     int(((L.category == "theft") & (L.local >= "2017-12-01") & (L.local < "2018-01-01")).sum())),
    ("incidents in winter", int(L.local.dt.month.isin([12, 1, 2]).sum())),
    ("average amount of atm withdrawals", round(transactions().to_pandas().query("channel == 'atm'").amount.mean(), 2)),
    ("total amount of transfers", transactions().to_pandas().query("channel == 'transfer'").amount.sum()),
    ("how many transactions over 1000", int((transactions().to_pandas().amount > 1000).sum())),
    ("how many critical alerts", 2),
]


@pytest.mark.parametrize("question,expected", SCALARS, ids=[s[0] for s in SCALARS])
def test_scalar_answers_match_pandas(catalogue, con, question, expected):
    assert _scalar(ask(question, catalogue, con)) == pytest.approx(expected)


def test_grouped_counts_match_pandas(catalogue, con):
    answer = ask("incidents by district in kobe", catalogue, con)
    expected = L[L.source == "kobe_thefts"].groupby("district").size().sort_values(ascending=False)
    assert {r[0]: r[1] for r in answer.rows} == expected.to_dict()
    assert [r[1] for r in answer.rows] == sorted(expected.to_list(), reverse=True)


def test_trend_by_month_is_in_local_months(catalogue, con):
    answer = ask("trend of incidents in springfield by month", catalogue, con)
    expected = SPRING.groupby(SPRING.local.dt.strftime("%Y-%m")).size()
    assert [(r[0], r[1]) for r in answer.rows] == list(expected.items())


def test_hours_of_day_and_top_k(catalogue, con):
    answer = ask("which hour has the most incidents", catalogue, con)
    counts = TIMED.groupby(TIMED.local.dt.hour).size()
    assert answer.rows[0][1] == counts.max() and len(answer.rows) == 1


def test_share_of_a_part(catalogue, con):
    answer = ask("what share of incidents in springfield were at night", catalogue, con)
    night = ((SPRING.local.dt.hour >= 22) | (SPRING.local.dt.hour < 6)).sum()
    row = dict(zip(answer.columns, answer.rows[0]))
    assert (row["matching"], row["total"]) == (night, len(SPRING))
    assert row["share"] == pytest.approx(round(night / len(SPRING), 4))


def test_grouped_shares_sum_to_one(catalogue, con):
    answer = ask("share of incidents by category", catalogue, con)
    shares = {r[0]: r[2] for r in answer.rows}
    assert shares == pytest.approx((L.category.value_counts() / len(L)).round(4).to_dict())


def test_compare_two_cities(catalogue, con):
    answer = ask("compare springfield and kobe", catalogue, con)
    assert {r[0]: r[1] for r in answer.rows} == L.source.value_counts().drop("ogdenville_shootings").to_dict()


def test_list_hides_pseudonymised_columns(catalogue, con):
    answer = ask("list transactions over 100", catalogue, con)
    assert "account" not in answer.columns and "amount" in answer.columns
    assert len(answer.rows) == 4 and "occurred_at_local" in answer.columns


def test_dates_only_feeds_are_left_out_of_hours(catalogue, con):
    """Ogdenville's rows all sit at local midnight: never counted as "night" or "hour 0"."""
    assert catalogue.table("incidents").dateonly == {"ogdenville_shootings"}
    answer = ask("how many incidents at night", catalogue, con)
    assert "leaving out ogdenville_shootings" in answer.answer and "NOT IN ('ogdenville_shootings')" in answer.sql
    declined = ask("incidents in ogdenville by hour", catalogue, con)
    assert declined.declined and "dates only" in declined.reason and declined.rows == []
    by_day = ask("incidents in ogdenville by day of week", catalogue, con)  # days are fine
    assert sum(r[1] for r in by_day.rows) == 3


def test_a_zero_inside_the_data_is_an_answer(catalogue, con):
    """Robberies in Springfield exist, just not in March 2017: 0 is a figure, not a decline."""
    answer = ask("how many robberies in springfield in march 2017", catalogue, con)
    assert not answer.declined and answer.rows == [[0]]


@pytest.mark.parametrize("question", [
    "how many incidents in 2005",  # outside the data's days
    "how many thefts in springfield",  # a combination no row has ever had
    "how many incidents in Boston",
    "average age of victims",
])
def test_declined_questions_give_no_figure(catalogue, con, question):
    answer = ask(question, catalogue, con)
    assert answer.declined and answer.rows == [] and answer.reason
    assert answer.answer.startswith("I can't answer that from the lakehouse")


def test_sql_is_what_ran_and_reruns(catalogue, con):
    answer = ask("top 2 location types in springfield", catalogue, con)
    assert [list(r) for r in con.execute(answer.sql).fetchall()] == answer.rows
    assert answer.sources[0]["table"] == "silver.incidents" and answer.sources[0]["version"] == 0


def _plan(**kw) -> Plan:
    return Plan(**{"table": "incidents", **kw})


@pytest.mark.parametrize("plan,message", [
    (_plan(table="arrests"), "no table 'arrests'"),
    (_plan(table="hotspot_forecast"), "gold.hotspot_forecast"),
    (_plan(filters=[Filter(column="weapon", value="knife")]), "no column 'weapon'"),
    (_plan(filters=[Filter(column="category", value="arson")]), "no data for category = arson"),
    (_plan(group_by=["mo_text"]), "pseudonymised or an identifier"),
    (_plan(measure=Measure(kind="mean", column="category")), "not a number"),
    (_plan(table="alerts", filters=[Filter(column="feed", op=">", value=3)]), "not a number"),
    (_plan(share_filters=[Filter(column="category", value="theft")]), "share filters need the share measure"),
])
def test_plan_validation(catalogue, plan, message):
    with pytest.raises(PlanError, match=message):
        validate(plan, catalogue)


def test_plan_rejects_bad_windows():
    with pytest.raises(ValueError, match="ends"):
        TimeWindow(start="2017-02-01", end="2017-01-01")
    with pytest.raises(ValueError):
        Plan(table="incidents", measure={"kind": "median"})


def test_values_are_quoted_not_spliced(catalogue, con):
    """A hand-edited plan with a quote in a value never reaches DuckDB as SQL."""
    plan = _plan(filters=[Filter(column="category", value="x' OR '1'='1")])
    answer = run_plan(plan, catalogue, con)
    assert answer.declined and answer.rows == []
    sql = build_sql(_plan(filters=[Filter(column="category", value="theft")]), catalogue)
    assert "x.\"category\" = 'theft'" in sql


def test_seasons_are_local_months(catalogue, con):
    answer = ask("incidents by season", catalogue, con)
    season = L.local.dt.month.map({12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
                                   6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"})
    assert {r[0]: r[1] for r in answer.rows} == season.value_counts().to_dict()
    assert [r[0] for r in answer.rows] == [s for s in ("winter", "spring", "summer", "autumn") if s in set(season)]
