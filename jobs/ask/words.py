"""The one-line answer: a plan and its result table said in words, with the conditions it ran under."""

from __future__ import annotations

import datetime as dt

from jobs.ask.catalogue import TableInfo
from jobs.ask.plan import WEEKDAYS, Filter, Plan, TimeWindow, hourless_sources

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def describe_filters(filters: list[Filter]) -> str:
    parts = []
    for f in filters:
        value = " or ".join(map(str, f.value)) if isinstance(f.value, list) else str(f.value)
        op = "=" if f.op == "in" else f.op
        parts.append(f"{f.column} {op} {value}")
    return ", ".join(parts)


def _hour(h: int) -> str:
    return f"{h % 24:02d}:00"


def describe_window(w: TimeWindow | None) -> str:
    """The local-time conditions in words (``in 2017, 22:00-02:00, on Saturday, Sunday``)."""
    if w is None or w.empty():
        return ""
    parts = [w.label] if w.label else []
    if not w.label and (w.start or w.end):
        parts.append(f"from {w.start or 'the start'} to before {w.end or 'the end'}")
    if w.hours:
        parts.append(f"between {_hour(w.hours[0])} and {_hour(w.hours[1])}")
    if w.weekdays:
        parts.append("on " + ", ".join(WEEKDAYS[d - 1] for d in sorted(w.weekdays)))
    if w.months and not w.label:
        parts.append("in " + ", ".join(MONTHS[m - 1] for m in w.months))
    return " ".join(parts)


def _number(v) -> str:
    if v is None:
        return "no value"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{int(v):,}" if isinstance(v, (int, float)) else str(v)


def _conditions(plan: Plan, info: TableInfo) -> str:
    parts = []
    if plan.filters:
        parts.append(f"with {describe_filters(plan.filters)}")
    window = describe_window(plan.time)
    if window:
        parts.append(window)
    tail = " " + ", ".join(parts) if parts else ""
    local = " (local time)" if info.time and not plan.time.empty() else ""
    coverage = ""
    if info.span and (plan.time.start or plan.time.end):
        first, last = info.span
        after_last = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
        if (plan.time.start and plan.time.start.isoformat() < first) or \
                (plan.time.end and plan.time.end.isoformat() > after_last):
            coverage = f"; the data covers {first} to {last} only"
    hourless = hourless_sources(plan, info)
    if hourless:
        coverage += f"; leaving out {', '.join(hourless)}, which record{'s' if len(hourless) == 1 else ''} dates only"
    return tail + local + coverage


def sentence(plan: Plan, info: TableInfo, columns: list[str], rows: list[list]) -> str:
    """One sentence that states the result and every condition behind it."""
    m, name, cond = plan.measure, plan.table, _conditions(plan, info)
    if m.kind == "list":
        return f"{len(rows):,} {name} shown{cond} (latest first)." if rows else f"No {name} match{cond}."
    if not plan.group_by:
        row = dict(zip(columns, rows[0]))
        if m.kind == "share":
            if "matching" in row:
                part = describe_filters(plan.share_filters) or ""
                part = " ".join(p for p in (part, describe_window(plan.share_time)) if p)
                return (f"{100 * (row['share'] or 0):.1f} % of {name}{cond} are {part} "
                        f"({_number(row['matching'])} of {_number(row['total'])}).")
            return f"{_number(row['count'])} {name}{cond} (100 %)."
        if m.kind in ("sum", "mean"):
            label = "total" if m.kind == "sum" else "mean"
            return (f"The {label} {m.column} of {_number(row['count'])} {name}{cond} is "
                    f"{_number(row[f'{m.kind}_{m.column}'])}.")
        return f"{_number(row['count'])} {name}{cond}."
    return _grouped(plan, name, cond, columns, rows)


def _grouped(plan: Plan, name: str, cond: str, columns: list[str], rows: list[list]) -> str:
    m = plan.measure
    key = plan.group_by[0]
    value_col = {"share": "share", "sum": f"sum_{m.column}", "mean": f"mean_{m.column}"}.get(m.kind, "count")
    if value_col not in columns:
        value_col = "share" if "share" in columns else "count"
    vi, gi = columns.index(value_col), columns.index(key)

    def fmt(row) -> str:
        v = row[vi]
        return f"{100 * v:.1f} %" if value_col == "share" and v is not None else _number(v)

    if not rows:
        return f"No {name}{cond}."
    by = " and ".join(plan.group_by)
    if key in ("hour", "weekday", "day", "week", "month", "month_of_year", "year", "season") and \
            plan.order in (None, "group"):
        peak = max(rows, key=lambda r: (r[vi] is not None, r[vi] or 0))
        return (f"{name.capitalize()} by {by}{cond}: {len(rows)} {key}s from {rows[0][gi]} ({fmt(rows[0])}) to "
                f"{rows[-1][gi]} ({fmt(rows[-1])}); highest {peak[gi]} ({fmt(peak)}).")
    shown = "; ".join(f"{r[gi]}: {fmt(r)}" for r in rows[:5])
    more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
    asked = next((f.value for f in plan.filters if f.column == key and f.op == "in"), [])
    absent = [v for v in asked if str(v) not in {str(r[gi]) for r in rows}]
    if absent:
        more += f"; none for {', '.join(map(str, absent))}"
    lead = {"asc": "fewest ", "desc": "most "}.get(plan.order or "", "")
    what = {"share": "share of ", "sum": f"total {m.column} of ", "mean": f"mean {m.column} of "}.get(m.kind, "")
    head = f"{lead}{what}{name}"
    return f"{head[0].upper()}{head[1:]} by {by}{cond}: {shown}{more}."


def search_sentence(plan: Plan, info: TableInfo, shown: int, candidates: int, model: str,
                    best: float | None) -> str:
    """What a semantic search returned, from how many candidates, under which conditions, ranked how."""
    s, name, cond = plan.search, plan.table, _conditions(plan, info)
    if not shown:
        return f"No {name} with {s.column}{cond}: nothing to rank."
    return (f"The {shown:,} {name} whose {s.column} is closest to {s.text!r}, out of {candidates:,} {name} with "
            f"{s.column}{cond}; ranked outside SQL by {model} cosine similarity (best {best:.2f}; 1 = the same "
            "words): a likeness of words, not an understanding of them.")
