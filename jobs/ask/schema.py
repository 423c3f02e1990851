"""What a language model is shown and allowed to write when it plans a question (issue #18, 2b).

A model never writes SQL: it writes a :class:`~jobs.ask.plan.Plan` as JSON, or a refusal,
and its generation is constrained to :func:`plan_schema` (a JSON schema that llama.cpp
turns into a grammar, and that an OpenAI-compatible server enforces as a structured output).
The schema is built from this lakehouse's catalogue, one branch per table: the table's own
columns for filters, groupings and measures, its searchable text column, the plan's time
groupings, bounded strings and lists (so a constrained generation always ends). The plan
then goes through the same checks as a parsed or hand-edited one (:func:`read_plan`, then
:func:`jobs.ask.plan.validate` in the engine): a schema-valid plan naming a value the data
does not hold is declined, not run.

:func:`messages` is the prompt: the tables, their columns and a sample of each column's
values, the study area's days, a few rules, and worked examples made by the rule-based
parser on this same lakehouse (so the examples are always valid plans here).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from jobs.ask.catalogue import Catalogue, TableInfo
from jobs.ask.plan import TIME_GROUPS, Plan, PlanError, validation_reason

#: bounds that keep a constrained generation finite (a plan is a few hundred characters)
MAX_FILTERS, MAX_GROUPS, MAX_VALUES, MAX_TEXT = 4, 2, 8, 80
#: values of each column shown in the prompt
PROMPT_VALUES = 12
#: questions the rule-based parser turns into the prompt's worked examples, when it can on this lakehouse
EXAMPLE_QUESTIONS = (
    "how many incidents in 2017?",
    "top 5 categories of incidents",
    "what share of incidents happen at night?",
    "incidents per month in 2017",
    "how many posts on weekends?",
)
REFUSAL = "refusal"


def _string(max_length: int = MAX_TEXT) -> dict:
    return {"type": "string", "maxLength": max_length}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict) -> dict:
    """An object with exactly these keys, all required (a constrained generation writes every one)."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _window() -> dict:
    days = _nullable({"type": "string", "format": "date"})
    hour = {"enum": list(range(25))}
    return _obj({"start": days, "end": days,
                 "hours": _nullable({"type": "array", "prefixItems": [hour, hour], "minItems": 2, "maxItems": 2}),
                 "weekdays": _nullable({"type": "array", "items": {"enum": list(range(1, 8))}, "maxItems": 7}),
                 "months": _nullable({"type": "array", "items": {"enum": list(range(1, 13))}, "maxItems": 12}),
                 "label": _string()})


def _filter(columns: list[str]) -> dict:
    value = {"anyOf": [_string(), {"type": "number"}, {"type": "boolean"},
                       {"type": "array", "items": _string(), "minItems": 1, "maxItems": MAX_VALUES}]}
    return _obj({"column": {"enum": columns}, "op": {"enum": ["=", "!=", "in", ">", ">=", "<", "<="]},
                 "value": value})


def askable_columns(info: TableInfo, private: frozenset[str]) -> list[str]:
    """The columns a plan may filter or group on: not pseudonymised, not nested."""
    return [c for c, t in info.columns.items()
            if c not in private and t != "BLOB" and not t.endswith("[]") and not t.startswith("STRUCT")]


def _table_branch(info: TableInfo, private: frozenset[str]) -> dict:
    columns = askable_columns(info, private) or [next(iter(info.columns))]
    groups = columns + (list(TIME_GROUPS) if info.time else [])
    numeric = [c for c in info.numeric() if c in columns]
    measure = _obj({"kind": {"enum": ["count", "share", "sum", "mean", "list"]},
                    "column": _nullable({"enum": numeric}) if numeric else {"type": "null"}})
    search = (_nullable(_obj({"text": {"type": "string", "minLength": 1, "maxLength": 200},
                              "column": {"const": info.text}, "k": {"enum": [5, 10, 20, 50]}}))
              if info.text else {"type": "null"})
    filters = {"type": "array", "items": _filter(columns), "maxItems": MAX_FILTERS}
    return _obj({
        "table": {"const": info.name},
        "filters": filters,
        "share_filters": filters | {"maxItems": 2},
        "time": _nullable({"$ref": "#/$defs/window"}),
        "share_time": _nullable({"$ref": "#/$defs/window"}),
        "group_by": {"type": "array", "items": {"enum": groups}, "maxItems": MAX_GROUPS},
        "measure": measure,
        "order": {"enum": ["desc", "asc", "group", None]},
        "limit": _nullable({"type": "integer"}),
        "search": search,
    })


def plan_schema(catalogue: Catalogue) -> dict:
    """The JSON schema a model's output must follow on this lakehouse: a plan over one of its tables, or a refusal."""
    private = catalogue.vocabulary.private
    branches = [_table_branch(info, private) for info in catalogue.tables.values()]
    branches.append(_obj({REFUSAL: _string(200)}))
    return {"$defs": {"window": _window()}, "anyOf": branches}


def _describe(info: TableInfo, private: frozenset[str]) -> str:
    lines = [f"table {info.name} ({info.rows:,} rows"
             + (f", local days {info.span[0]} to {info.span[1]}" if info.span else "")
             + (f", time column {info.time}" if info.time else ", no time column") + ")"]
    for column in askable_columns(info, private):
        values = info.dimensions.get(column)
        shown = ""
        if values:
            more = f", ... ({len(values)} values)" if len(values) > PROMPT_VALUES else ""
            shown = ": " + ", ".join(values[:PROMPT_VALUES]) + more
        lines.append(f"  {column} {info.columns[column]}{shown}")
    if info.text:
        lines.append(f"  searchable text: {info.text}")
    return "\n".join(lines)


RULES = """\
Rules:
- Answer with one JSON object: a query plan, or {"refusal": "what the data lacks"} when no table holds the answer.
- Never invent a table, a column or a value; use values as they are written above.
- Times are the study area's local time. time.start and time.end are local days (ISO), end exclusive;
  time.hours is [from, to) in local hours (22, 6 wraps past midnight); weekdays are 1 (Monday) to 7; months 1-12.
- measure.kind: count rows, share of rows per group (or share_filters/share_time for the part of a whole),
  sum or mean of a numeric column, list rows. group_by takes columns or hour, weekday, day, week, month,
  month_of_year, year, season. order desc/asc sorts by the measure, group by the groups. limit keeps the top rows.
- search ranks rows by meaning of their text (lists only; leave order and limit null)."""


def messages(question: str, catalogue: Catalogue, examples: list[tuple[str, dict]]) -> list[dict]:
    """The chat messages that ask a model to plan ``question`` (system, worked examples, the question)."""
    private = catalogue.vocabulary.private
    tables = "\n".join(_describe(catalogue.table(name), private) for name in catalogue.tables)
    system = ("You turn an analyst's question into a query plan over a crime-intelligence lakehouse.\n\n"
              f"{tables}\n\n{RULES}")
    out = [{"role": "system", "content": system}]
    for q, plan in examples:
        out += [{"role": "user", "content": q}, {"role": "assistant", "content": json.dumps(plan)}]
    return out + [{"role": "user", "content": question}]


def worked_examples(catalogue: Catalogue) -> list[tuple[str, dict]]:
    """The example questions the rule-based parser plans on this lakehouse, with their plans (all fields written)."""
    from jobs.ask.parser import Decline, parse
    from jobs.ask.plan import validate

    out = []
    for question in EXAMPLE_QUESTIONS:
        try:
            plan = parse(question, catalogue)
            validate(plan, catalogue)
        except (Decline, PlanError):
            continue
        out.append((question, plan.model_dump(mode="json")))
    return out


class ModelRefused(Exception):
    """The model answered with a refusal: the data cannot answer; the message is the model's reason."""


def read_plan(text: str) -> Plan:
    """The plan a model wrote; :class:`PlanError` (with what is wrong) when it is not one, :class:`ModelRefused`."""
    try:
        doc = json.loads(text, strict=False)  # a control character inside a string is not a reason to decline
    except ValueError as exc:
        raise PlanError(f"the model's output is not JSON ({exc.msg} at character {exc.pos}): "
                        f"{text[:120]!r}") from None
    if isinstance(doc, dict) and set(doc) == {REFUSAL}:
        raise ModelRefused(str(doc[REFUSAL]).strip() or "the model gave no reason")
    if isinstance(doc, dict):  # null is "not given": a plan's time window defaults to none
        doc = {k: v for k, v in doc.items() if v is not None}
    try:
        return Plan.model_validate(doc)
    except ValidationError as exc:
        raise PlanError(f"the model's plan is not valid: {validation_reason(exc)}") from None
