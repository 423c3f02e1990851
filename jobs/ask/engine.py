"""Run a validated query plan with DuckDB over the Delta tables, read-only, and say what it found.

The SQL is built only from a plan that :func:`jobs.ask.plan.validate` accepted:
identifiers come from the catalogue, values are typed and quoted, so nothing a question
says reaches DuckDB as SQL. The SQL returned is exactly the SQL that ran (literals
inline), so an analyst can paste it into the DuckDB CLI with the ``delta`` extension
loaded and get the same rows.

An empty result is checked before it is reported: a time window outside the table's
days, or filters no row has ever matched, is declined ("no data for ..."), not
answered with a zero that reads like a measured figure.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass, field

from jobs.ask.catalogue import Catalogue, TableInfo, local_time_sql, sql_string
from jobs.ask.plan import TIME_GROUPS, Filter, Plan, PlanError, TimeWindow, hourless_sources, validate

#: rows a ``list`` plan returns when the question names no number
LIST_LIMIT = 20
NORTH_SEASONS = {"winter": (12, 1, 2), "spring": (3, 4, 5), "summer": (6, 7, 8), "autumn": (9, 10, 11)}
SOUTH_SEASONS = {"winter": (6, 7, 8), "spring": (9, 10, 11), "summer": (12, 1, 2), "autumn": (3, 4, 5)}


@dataclass
class Answer:
    """What ``crimefusion ask`` prints: the sentence, the table, and the plan and SQL behind them."""

    question: str
    answer: str
    declined: bool = False
    reason: str | None = None
    plan: dict | None = None
    sql: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    #: how a semantic search ranked the rows the SQL fetched (model, version, method); ``None``: SQL did it all
    ranking: dict | None = None
    #: the language model that wrote the plan (engine, model, timing); ``None``: the rule-based parser did
    planner: dict | None = None

    def to_json(self) -> dict:
        query = ({"plan": self.plan, "sql": self.sql} | ({"ranking": self.ranking} if self.ranking else {})
                 | ({"planner": self.planner} if self.planner else {}))
        return {"question": self.question, "answer": self.answer, "declined": self.declined, "reason": self.reason,
                "plan": self.plan, "sql": self.sql, "columns": self.columns, "rows": self.rows,
                "query": query, "sources": self.sources}


def declined(question: str, reason: str, plan: Plan | None = None) -> Answer:
    """An answer that gives no figure, saying why."""
    return Answer(question=question, answer=f"I can't answer that from the lakehouse: {reason}.", declined=True,
                  reason=reason, plan=plan.model_dump(mode="json") if plan is not None else None)


def seasons(info: TableInfo) -> dict[str, tuple[int, ...]]:
    """Season -> local months, turned round for a study area south of the equator."""
    return SOUTH_SEASONS if info.southern else NORTH_SEASONS


# -- SQL ------------------------------------------------------------------------------------------------

def _literal(info: TableInfo, column: str, value) -> str:
    kind = info.columns[column]
    if kind == "BOOLEAN":
        return "TRUE" if str(value).lower() in ("true", "1", "yes") else "FALSE"
    if column in info.numeric():
        number = float(value)
        if not math.isfinite(number):
            raise PlanError(f"{column}: {value!r} is not a finite number")
        return repr(int(number)) if number.is_integer() else repr(number)
    canonical = {v.lower(): v for v in info.dimensions.get(column, [])}
    return sql_string(canonical.get(str(value).lower(), str(value)))


def filter_sql(info: TableInfo, f: Filter) -> str:
    col = f'x."{f.column}"'
    if f.op == "in":
        return f"{col} IN ({', '.join(_literal(info, f.column, v) for v in f.value)})"
    return f"{col} {f.op} {_literal(info, f.column, f.value)}"


def window_sql(w: TimeWindow, local: str) -> list[str]:
    out = []
    if w.start:
        out.append(f"{local} >= TIMESTAMP '{w.start.isoformat()}'")
    if w.end:
        out.append(f"{local} < TIMESTAMP '{w.end.isoformat()}'")
    if w.hours:
        a, b = w.hours
        hour = f"hour({local})"
        out.append(f"({hour} >= {a} AND {hour} < {b})" if a < b else f"({hour} >= {a} OR {hour} < {b})")
    if w.weekdays:
        out.append(f"isodow({local}) IN ({', '.join(map(str, sorted(w.weekdays)))})")
    if w.months:
        out.append(f"month({local}) IN ({', '.join(map(str, sorted(w.months)))})")
    return out


#: time grouping -> (select expression, order expression), ``{t}`` the local time
_TIME_SQL = {
    "hour": ("hour({t})", "hour({t})"),
    "weekday": ("dayname({t})", "min(isodow({t}))"),
    "day": ("CAST({t} AS DATE)", "CAST({t} AS DATE)"),
    "week": ("CAST(date_trunc('week', {t}) AS DATE)", "CAST(date_trunc('week', {t}) AS DATE)"),
    "month": ("strftime({t}, '%Y-%m')", "strftime({t}, '%Y-%m')"),
    "month_of_year": ("monthname({t})", "min(month({t}))"),
    "year": ("year({t})", "year({t})"),
}


def _group_sql(g: str, local: str, info: TableInfo) -> tuple[str, str]:
    """``(select expression, order expression)`` of a grouping."""
    if g in _TIME_SQL:
        select, order = _TIME_SQL[g]
        return select.format(t=local), order.format(t=local)
    if g == "season":
        cases = " ".join(f"WHEN month({local}) IN ({', '.join(map(str, m))}) THEN '{s}'"
                         for s, m in seasons(info).items())
        return f"CASE {cases} END", f"min(month({local}) % 12)"  # the calendar's order, December first
    return f'x."{g}"', f'x."{g}"'


def _visible(info: TableInfo, private: frozenset[str]) -> list[str]:
    return [c for c, t in info.columns.items()
            if c not in private and t not in ("BLOB",) and not t.endswith("[]") and not t.startswith("STRUCT")]


def where_clauses(plan: Plan, info: TableInfo, local: str) -> list[str]:
    """The conditions of the plan's filters and time window, ``local`` the local-time expression."""
    where = [filter_sql(info, f) for f in plan.filters] + window_sql(plan.time, local)
    hourless = hourless_sources(plan, info)
    if hourless:  # dates-only feeds sit at midnight: not asked about hours (the answer says so)
        where.append(f'x."source" NOT IN ({", ".join(map(sql_string, hourless))})')
    return where


def build_sql(plan: Plan, catalogue: Catalogue) -> str:
    """The SQL of a plan (validated first)."""
    info = validate(plan, catalogue)
    frm, local = local_time_sql(info, catalogue.zones, catalogue.default_zone)
    where = where_clauses(plan, info, local)
    if plan.limit and plan.measure.kind != "list":  # "top 3 places": rows without a place are not a place
        where += [f'x."{g}" IS NOT NULL' for g in plan.group_by if g not in TIME_GROUPS]
    where_sql = f" WHERE {' AND '.join(where)}" if where else ""
    m = plan.measure
    if m.kind == "list":
        cols = ", ".join(f'x."{c}"' for c in _visible(info, catalogue.vocabulary.private) if c != info.time)
        time_cols = f", {local} AS {info.time}_local" if info.time else ""
        order = f" ORDER BY {local} {'ASC' if plan.order == 'asc' else 'DESC'}" if info.time else ""
        return f"SELECT {cols}{time_cols} FROM {frm}{where_sql}{order} LIMIT {plan.limit or LIST_LIMIT}"
    part = [filter_sql(info, f) for f in plan.share_filters] + window_sql(plan.share_time or TimeWindow(), local)
    if m.kind == "share" and part:
        cond = " AND ".join(part)
        select = [f"count(*) FILTER (WHERE {cond}) AS matching", "count(*) AS total",
                  f"round(count(*) FILTER (WHERE {cond}) / nullif(count(*), 0), 4) AS share"]
    else:
        select = ["count(*) AS count"]
        if m.kind == "share":
            select.append("round(count(*) / sum(count(*)) OVER (), 4) AS share")
        elif m.kind in ("sum", "mean"):
            fn = "sum" if m.kind == "sum" else "avg"
            select.append(f'round({fn}(x."{m.column}"), 2) AS {m.kind}_{m.column}')
    groups = [(g, *_group_sql(g, local, info)) for g in plan.group_by]
    sql = f"SELECT {', '.join([f'{expr} AS {g}' for g, expr, _ in groups] + select)} FROM {frm}{where_sql}"
    if groups:
        sql += f" GROUP BY {', '.join(expr for _, expr, _ in groups)}"
        by_group = plan.order == "group" or (plan.order is None and all(g in TIME_GROUPS for g in plan.group_by))
        if by_group:
            sql += f" ORDER BY {', '.join(order for _, _, order in groups)}"
        else:
            measure = select[-1].rsplit(" AS ", 1)[1] if m.kind != "count" else "count"
            sql += f" ORDER BY {measure} {'ASC' if plan.order == 'asc' else 'DESC'}, 1"
    if plan.limit and groups:
        sql += f" LIMIT {plan.limit}"
    return sql


# -- running and explaining --------------------------------------------------------------------------

def _cell(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def run_plan(plan: Plan, catalogue: Catalogue, con, question: str = "") -> Answer:
    """Validate, run and explain ``plan``; a plan the data cannot answer comes back declined, without figures."""
    if plan.search is not None:  # rows ranked by text similarity: the SQL fetches candidates, Python ranks
        from jobs.ask.semantic import run_search

        return run_search(plan, catalogue, con, question=question)
    try:
        sql = build_sql(plan, catalogue)
    except PlanError as exc:
        return declined(question, str(exc), plan)
    info = catalogue.table(plan.table)
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    rows = [[_cell(v) for v in row] for row in cursor.fetchall()]
    sources = [{"table": info.label, "version": info.version}]
    if catalogue.zones_uri and info.time:
        sources.append({"table": "reference.source_catalog", "version": catalogue.zones_version})
    empty = not rows or (plan.measure.kind != "list" and not plan.group_by and not rows[0][columns.index(
        "total" if "total" in columns else "count")])
    if empty:
        reason = _why_empty(plan, info, catalogue, con)
        if reason:
            out = declined(question, reason, plan)
            out.sql, out.columns, out.sources = sql, columns, sources
            return out
    from jobs.ask.words import sentence

    return Answer(question=question, answer=sentence(plan, info, columns, rows), plan=plan.model_dump(mode="json"),
                  sql=sql, columns=columns, rows=rows, sources=sources)


def _why_empty(plan: Plan, info: TableInfo, catalogue: Catalogue, con) -> str | None:
    """Why a plan matched nothing, when the data cannot speak to it at all; ``None`` when zero is the answer."""
    from jobs.ask.words import describe_filters, describe_window

    if info.rows == 0:
        return f"{info.label} has no rows"
    w = plan.time
    if info.span and (w.start or w.end):
        first, last = dt.date.fromisoformat(info.span[0]), dt.date.fromisoformat(info.span[1])
        if (w.end and w.end <= first) or (w.start and w.start > last):
            return (f"no data for {describe_window(w) or 'that time'}: {plan.table} run from {first} to {last} "
                    f"(local days)")
    if plan.filters:
        frm, _ = local_time_sql(info, catalogue.zones, catalogue.default_zone)
        where = " AND ".join(filter_sql(info, f) for f in plan.filters)
        ever = con.execute(f"SELECT count(*) FROM {frm} WHERE {where}").fetchone()[0]
        if not ever:
            return f"no data for {plan.table} with {describe_filters(plan.filters)}: no row has ever matched that"
    return None
