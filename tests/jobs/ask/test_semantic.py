"""Semantic search on the tiny lakehouse: planted texts found by paraphrase, filters before ranking, declines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jobs.ask import ask, run_plan
from jobs.ask.parser import parse
from jobs.ask.plan import Measure, Plan, PlanError, Search, validate
from jobs.ask.semantic import model, redact, split_search
from tests.jobs.ask.tiny_lake import ENRICHMENT_MO, MO_TEXT, POSTS


def _ids(answer, column: str) -> list[str]:
    assert not answer.declined, answer.answer
    return [r[answer.columns.index(column)] for r in answer.rows]


# a paraphrase sharing no content word with the narrative it must find first
PARAPHRASES = [
    ("incidents mentioning someone broke a store's glass", "s3"),
    ("reports similar to stealing from pockets at the train station", "k2"),
    ("incidents mentioning a knife robbery at the market", "k7"),  # its narrative is only in incident_enrichment
]


@pytest.mark.parametrize("question,planted", PARAPHRASES, ids=[p[0] for p in PARAPHRASES])
def test_paraphrase_finds_the_planted_narrative_first(catalogue, con, question, planted):
    answer = ask(question, catalogue, con)
    assert _ids(answer, "incident_id")[0] == planted
    assert answer.rows[0][1] == {**ENRICHMENT_MO, **MO_TEXT}[planted]


def test_own_text_first_then_side_table(catalogue, con):
    """Every incident with a narrative is a candidate once; its own narrative wins over the side table's."""
    answer = ask("top 20 incidents mentioning a garden", catalogue, con)
    ids = _ids(answer, "incident_id")
    assert sorted(ids) == sorted(set(MO_TEXT) | set(ENRICHMENT_MO))
    assert dict(zip(ids, (r[1] for r in answer.rows)))["s1"] == MO_TEXT["s1"]
    assert {"table": "silver.incident_enrichment", "version": 0} in answer.sources


def test_scores_are_sorted_cosines_and_k_is_kept(catalogue, con):
    answer = ask("top 3 posts about a fight near the park", catalogue, con)
    scores = [r[0] for r in answer.rows]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert answer.plan["search"] == {"text": "a fight near the park", "column": "text", "k": 3}
    # the score is the cosine of the two texts' WordLlama vectors, computed here without the engine
    a, b = model().inference.embed(["a fight near the park", answer.rows[0][1]])
    assert scores[0] == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-4)
    assert len(ask("posts about a fight", catalogue, con).rows) == 10  # the default k, fewer than the 12 posts


def test_filters_choose_the_candidates_before_ranking(catalogue, con):
    answer = ask("spanish posts about una pelea en el parque", catalogue, con)
    spanish = [p for p, v in POSTS.items() if v[1] == "es"]
    assert _ids(answer, "post_id")[0] == "p8" and sorted(_ids(answer, "post_id")) == sorted(spanish)
    candidates = con.execute(answer.sql).fetchall()  # the SQL shown runs as is, and fetches the candidates only
    assert len(candidates) == len(spanish)
    assert answer.sql.startswith("-- candidate rows only")
    assert "WordLlama" in answer.to_json()["query"]["ranking"]["model"]


def test_a_trailing_time_is_a_filter(catalogue, con):
    anytime = ask("posts about a planned fight near the park", catalogue, con)
    assert _ids(anytime, "post_id")[0] == "p7"  # June 2016
    december = ask("posts about a planned fight near the park in December 2017", catalogue, con)
    assert december.plan["search"]["text"] == "a planned fight near the park"
    assert "p7" not in _ids(december, "post_id")
    assert all(t.startswith("2017-12") for t in _ids(december, "posted_at_local"))


def test_identifiers_in_texts_are_never_shown(catalogue, con):
    answer = ask("posts about a house party", catalogue, con)
    assert _ids(answer, "post_id")[0] == "p11"
    assert answer.rows[0][1] == "Call me at [phone] or DM [handle] about the house party"
    printed = json.dumps(answer.to_json())
    assert "bigmike" not in printed and "555" not in printed and "author" not in answer.columns


DECLINED = [
    ("transactions about rent", "no free text"),
    ("alerts mentioning atm", "no free text"),
    ("how many posts about a fight", "cannot count"),
    ("posts by language about a fight", "cannot count"),
    ("posts about a party in 2005", "no data for"),
]


@pytest.mark.parametrize("question,named", DECLINED, ids=[d[0] for d in DECLINED])
def test_declines_without_rows(catalogue, con, question, named):
    answer = ask(question, catalogue, con)
    assert answer.declined and not answer.rows and named in answer.answer


def _search_plan(**kw) -> Plan:
    base = {"table": "posts", "measure": Measure(kind="list"), "search": Search(text="a fight", column="text")}
    return Plan(**(base | kw))


@pytest.mark.parametrize("plan,named", [
    (_search_plan(search=Search(text="a fight", column="language")), "not the text searched"),
    (_search_plan(group_by=["language"]), "cannot be counted, grouped"),
    (_search_plan(measure=Measure(kind="count")), "cannot be counted, grouped"),
    (_search_plan(limit=3), "leave order and limit empty"),
    (_search_plan(table="transactions"), "no free text"),
], ids=["column", "group", "count", "limit", "table"])
def test_edited_search_plans_are_validated(catalogue, con, plan, named):
    with pytest.raises(PlanError, match=named):
        validate(plan, catalogue)
    assert run_plan(plan, catalogue, con).declined


def test_the_searched_text_never_reaches_sql(catalogue, con):
    text = "fight'\nDROP TABLE x; --"
    answer = run_plan(_search_plan(search=Search(text=text, column="text")), catalogue, con)
    comment, sql = answer.sql.split("\n")
    assert comment.startswith("-- ") and "DROP" not in sql and len(answer.rows) == 10


def test_an_edited_plan_runs_like_a_parsed_one(catalogue, con):
    plan = _search_plan(search=Search(text="a fight", column="text", k=2))
    assert [r[:2] for r in run_plan(plan, catalogue, con).rows] == \
        [r[:2] for r in ask("top 2 posts about a fight", catalogue, con).rows]


@pytest.mark.parametrize("text,shown", [
    ("DM @bigmike now", "DM [handle] now"),
    ("call +44 20 7946 0958 tonight", "call [phone] tonight"),
    ("send it to account no. 12345678", "send it to account no. [account]"),
    ("mail a.b@example.org about it", "mail a.b@example.org about it"),  # an e-mail address is not a handle
    ("nothing to hide", "nothing to hide"),
])
def test_redact(text, shown):
    assert redact(text) == shown


def test_only_search_words_after_a_noun_make_a_search(catalogue):
    assert split_search("how many incidents in 2017") is None
    assert split_search("posts about a fight in December 2017").readings == (("a fight", "in December 2017"),)
    plain = parse("what about incidents in kobe", catalogue)  # "about" with no records before it
    assert plain.search is None and plain.measure.kind == "count"
