"""The plan schema a language model writes under, its prompt, and how its output is read."""

from __future__ import annotations

import json

import pytest

from jobs.ask.plan import Plan, PlanError
from jobs.ask.schema import ModelRefused, messages, plan_schema, read_plan, worked_examples


def _branch(schema: dict, table: str) -> dict:
    return next(b for b in schema["anyOf"] if b["properties"].get("table", {}).get("const") == table)


def test_each_table_branch_writes_every_field_of_a_plan(catalogue):
    schema = plan_schema(catalogue)
    assert len(schema["anyOf"]) == len(catalogue.tables) + 1  # one per table, and the refusal
    for name in catalogue.tables:
        branch = _branch(schema, name)
        assert set(branch["properties"]) == set(Plan.model_fields)
        assert branch["required"] == list(branch["properties"]) and branch["additionalProperties"] is False
    window = schema["$defs"]["window"]["properties"]
    assert set(window) == set(Plan.model_fields["time"].default_factory().model_dump())


def test_a_branch_offers_only_its_own_askable_columns(catalogue):
    private = catalogue.vocabulary.private
    info = catalogue.table("incidents")
    branch = _branch(plan_schema(catalogue), "incidents")
    columns = branch["properties"]["filters"]["items"]["properties"]["column"]["enum"]
    assert set(columns) <= set(info.columns) and not set(columns) & private
    assert "category" in columns
    assert "month" in branch["properties"]["group_by"]["items"]["enum"]  # time groupings where a time exists


def test_strings_and_lists_are_bounded_so_a_constrained_generation_ends(catalogue):
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "string" and "format" not in node:
                assert "maxLength" in node, node
            if node.get("type") == "array":
                assert "maxItems" in node, node
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(plan_schema(catalogue))


def test_the_prompt_describes_the_tables_and_never_a_pseudonymised_column(catalogue):
    chat = messages("how many thefts?", catalogue, worked_examples(catalogue))
    system = chat[0]["content"]
    assert chat[0]["role"] == "system" and chat[-1] == {"role": "user", "content": "how many thefts?"}
    assert "table incidents" in system and "theft" in system
    for column in catalogue.vocabulary.private:
        assert f"  {column} " not in system


def test_worked_examples_are_plans_valid_on_this_lakehouse(catalogue):
    examples = worked_examples(catalogue)
    assert examples, "the rule-based parser plans at least one example question on the tiny lakehouse"
    for _, plan in examples:
        Plan.model_validate(plan)


@pytest.mark.parametrize("text, error", [
    ("SELECT * FROM incidents", "not JSON"),
    ('{"table": "incidents", "sql": "DROP TABLE x"}', "sql: Extra inputs are not permitted"),
    ('{"table": "incidents", "limit": 0}', "limit: Input should be greater than or equal to 1"),
    ('[1, 2]', "not valid"),
])
def test_model_output_that_is_not_a_plan_is_an_error_saying_why(text, error):
    with pytest.raises(PlanError, match=error):
        read_plan(text)


def test_a_refusal_and_nulls():
    with pytest.raises(ModelRefused, match="no drone data"):
        read_plan('{"refusal": "no drone data"}')
    plan = read_plan('{"table": "incidents", "time": null, "order": null, "filters": []}')
    assert plan.table == "incidents" and plan.time.empty() and plan.order is None
    assert json.loads(json.dumps(plan.model_dump(mode="json")))["table"] == "incidents"
