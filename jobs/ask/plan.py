"""The query plan: the one structured form every question becomes before anything runs.

A plan names a table, filters on its columns, a local-time window, an optional grouping,
a measure, an order and a limit. It is checked against the lakehouse catalogue
(:func:`validate`) before the engine turns it into SQL, so a parser (or a person
editing a plan by hand) can only ask for tables, columns and values that exist; the
engine never runs SQL it did not build from a valid plan.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.ask.catalogue import Catalogue, TableInfo

#: groupings computed from a row's local time instead of a column
TIME_GROUPS = ("hour", "weekday", "day", "week", "month", "month_of_year", "year", "season")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class PlanError(ValueError):
    """A plan that cannot run on this lakehouse; the message says what is missing."""


def validation_reason(exc, limit: int = 3) -> str:
    """A pydantic ``ValidationError`` of a plan as one line: ``field.path: message; ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors()[:limit])


class Filter(BaseModel):
    """``column op value``; ``in`` takes a list."""

    model_config = ConfigDict(extra="forbid")
    column: str
    op: Literal["=", "!=", "in", ">", ">=", "<", "<="] = "="
    value: str | float | int | bool | list[str]


class TimeWindow(BaseModel):
    """Local-time conditions, all read in the study area's time zone.

    ``start``/``end``: local days, ``end`` exclusive. ``hours``: local hours ``[from, to)``;
    ``(22, 2)`` wraps past midnight. ``weekdays``: ISO numbers (1 = Monday).
    ``months``: 1-12, any year.
    """

    model_config = ConfigDict(extra="forbid")
    start: dt.date | None = None
    end: dt.date | None = None
    hours: tuple[int, int] | None = None
    weekdays: list[int] | None = None
    months: list[int] | None = None
    label: str = ""  # how the question said it ("in 2017", "in the last 4 weeks to 2017-12-31")

    @model_validator(mode="after")
    def _ranges(self) -> "TimeWindow":
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"time window ends ({self.end}) before it starts ({self.start})")
        if self.hours and not all(0 <= h <= 24 for h in self.hours):
            raise ValueError(f"hours must be 0-24, got {self.hours}")
        if self.weekdays and not all(1 <= d <= 7 for d in self.weekdays):
            raise ValueError(f"weekdays are ISO numbers 1-7, got {self.weekdays}")
        if self.months and not all(1 <= m <= 12 for m in self.months):
            raise ValueError(f"months are 1-12, got {self.months}")
        return self

    def empty(self) -> bool:
        return not (self.start or self.end or self.hours or self.weekdays or self.months)


class Measure(BaseModel):
    """``count`` rows, each group's ``share`` of rows, ``sum``/``mean`` of a numeric column, or ``list`` rows."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["count", "share", "sum", "mean", "list"] = "count"
    column: str | None = None

    @model_validator(mode="after")
    def _column(self) -> "Measure":
        if self.kind in ("sum", "mean") and not self.column:
            raise ValueError(f"measure {self.kind} needs a column")
        return self


class Search(BaseModel):
    """Rank the rows by how close their free text ``column`` is to ``text``; keep the ``k`` closest.

    Semantic search (:mod:`jobs.ask.semantic`): the plan's filters and time window choose the
    candidate rows in SQL, an embedding model ranks them. A plan with a search lists rows.
    """

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    column: str
    k: int = Field(default=10, ge=1, le=200)

    @model_validator(mode="after")
    def _words(self) -> "Search":
        if not any(c.isalnum() for c in self.text):
            raise ValueError(f"the search text {self.text!r} has no words")
        return self


class Plan(BaseModel):
    """A question as a query: see the module's docstring."""

    model_config = ConfigDict(extra="forbid")
    table: str
    filters: list[Filter] = Field(default_factory=list)
    #: filters that define the part, not the whole, of a ``share`` (``what share of incidents are at night``)
    share_filters: list[Filter] = Field(default_factory=list)
    time: TimeWindow = Field(default_factory=TimeWindow)
    share_time: TimeWindow | None = None  # a local-time part of a share (``... happen at night``)
    group_by: list[str] = Field(default_factory=list)
    measure: Measure = Field(default_factory=Measure)
    order: Literal["desc", "asc", "group"] | None = None
    limit: int | None = Field(default=None, ge=1, le=10_000)
    search: Search | None = None  # rank by similarity of a free-text column instead of ordering by time


def uses_hours(plan: Plan) -> bool:
    return bool(plan.time.hours or (plan.share_time and plan.share_time.hours) or "hour" in plan.group_by)


def hourless_sources(plan: Plan, info: TableInfo) -> list[str]:
    """The sources in the plan's scope that record dates only, when the plan asks about hours of the day.

    The engine leaves them out of such a question (and says so): their rows all sit at local
    midnight, which would count as "night" or "hour 0".
    """
    if not uses_hours(plan) or not info.dateonly:
        return []
    if "*" in info.dateonly:
        return ["*"]
    return sorted(_source_scope(plan, info) & info.dateonly)


def validate(plan: Plan, catalogue: Catalogue) -> TableInfo:
    """The plan's table, once every name and value in the plan is known to exist; :class:`PlanError` otherwise."""
    if plan.table not in catalogue.tables:
        if plan.table in catalogue.missing:
            raise PlanError(f"the lakehouse has no table {catalogue.missing[plan.table]} ({plan.table}): "
                            "it has not been built here")
        raise PlanError(f"there is no table {plan.table!r}; tables: {', '.join(sorted(catalogue.tables))}")
    info = catalogue.table(plan.table)
    private = catalogue.vocabulary.private
    for f in [*plan.filters, *plan.share_filters]:
        _check_filter(f, info, private)
    for g in plan.group_by:
        if g in TIME_GROUPS:
            if info.time is None:
                raise PlanError(f"{plan.table} has no time column to group by {g}")
        elif g not in info.columns:
            raise PlanError(f"{plan.table} has no column {g!r}")
        elif g in private:
            raise PlanError(f"{plan.table}.{g} is pseudonymised or an identifier: it cannot be grouped on")
    windows = [w for w in (plan.time, plan.share_time) if w is not None and not w.empty()]
    if windows and info.time is None:
        raise PlanError(f"{plan.table} has no time column, so it cannot be limited to a time window")
    m = plan.measure
    if m.column is not None:
        if m.column not in info.columns:
            raise PlanError(f"{plan.table} has no column {m.column!r}")
        if m.kind in ("sum", "mean") and m.column not in info.numeric():
            raise PlanError(f"{plan.table}.{m.column} is not a number, so it has no {m.kind}")
    if (plan.share_filters or plan.share_time) and m.kind != "share":
        raise PlanError("share filters need the share measure")
    if plan.search is not None:
        _check_search(plan, info, catalogue)
    hourless = hourless_sources(plan, info)
    if hourless and (hourless == ["*"] or _source_scope(plan, info) <= set(hourless)):
        what = plan.table if hourless == ["*"] else ", ".join(hourless)
        raise PlanError(f"{what} record dates only (every time is local midnight), so there is no hour of day "
                        "to ask about")
    return info


def _check_search(plan: Plan, info: TableInfo, catalogue: Catalogue) -> None:
    if info.text is None:
        searchable = [f"{t.name} ({t.text})" for t in catalogue.tables.values() if t.text]
        raise PlanError(f"{plan.table} have no free text to search (searchable here: "
                        f"{', '.join(searchable) or 'none'})")
    if plan.search.column != info.text:
        raise PlanError(f"{plan.table}.{plan.search.column} is not the text searched in {plan.table}; "
                        f"it is {info.text!r}")
    if plan.measure.kind != "list" or plan.group_by or plan.share_filters or plan.share_time:
        raise PlanError("a semantic search ranks rows by similarity: it lists the closest rows, and cannot be "
                        "counted, grouped or shared (no similarity threshold makes a row a match)")
    if plan.limit is not None or plan.order is not None:
        raise PlanError("a semantic search is ordered by similarity and keeps search.k rows: leave order and limit "
                        "empty")


def _source_scope(plan: Plan, info: TableInfo) -> set[str]:
    scope = set(info.dimensions.get("source", []))
    for f in plan.filters:
        if f.column == "source" and f.op in ("=", "in"):
            scope &= set(f.value if isinstance(f.value, list) else [f.value])
    return scope


def _check_filter(f: Filter, info: TableInfo, private: frozenset[str]) -> None:
    if f.column not in info.columns:
        raise PlanError(f"{info.name} has no column {f.column!r}")
    if f.column in private:
        raise PlanError(f"{info.name}.{f.column} is pseudonymised or an identifier: it cannot be filtered on here")
    if f.op == "in" and not isinstance(f.value, list):
        raise PlanError(f"filter {f.column} in ... needs a list of values")
    values = f.value if isinstance(f.value, list) else [f.value]
    known = info.dimensions.get(f.column)
    if known is not None and f.op in ("=", "in", "!="):
        unknown = [v for v in values if str(v).lower() not in {k.lower() for k in known}]
        if unknown:
            raise PlanError(f"no data for {f.column} = {', '.join(map(str, unknown))} in {info.name}")
    if f.op in (">", ">=", "<", "<=") and f.column not in info.numeric():
        raise PlanError(f"{info.name}.{f.column} is not a number: it cannot be compared with {f.op}")
