"""Time in a question: years, months, dates, weekdays, seasons, hours of the day and "the last N weeks".

Every phrase becomes part of a :class:`jobs.ask.plan.TimeWindow` in local time. Relative
phrases ("the last 4 weeks") count back from the table's last local day with data, not
from today: an offline lakehouse is read as of its newest row, and the answer says which
days that was.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from jobs.ask.words import MONTHS

MONTH_NAMES = {m.lower(): i + 1 for i, m in enumerate(MONTHS)} | \
              {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS) if m != "May"} | {"sept": 9}
DAY_NAMES = {d.lower(): i + 1 for i, d in enumerate(calendar.day_name)}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "a": 1}
SEASON_WORDS = {"winter": "winter", "spring": "spring", "summer": "summer", "autumn": "autumn", "fall": "autumn"}
_MONTH = "(" + "|".join(sorted(MONTH_NAMES, key=len, reverse=True)) + ")"
_YEAR = r"((?:19|20)\d{2})"
_DATE = r"(\d{4}-\d{2}-\d{2})"
_HOUR = r"(\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2}|midnight|noon)"


class Text:
    """A question being read: phrases are blanked out as they are understood, keeping every offset."""

    def __init__(self, text: str):
        self.text = text

    def take(self, pattern: str) -> list[re.Match]:
        """Every match of ``pattern`` (a regex, word-bounded by the caller), blanked from the text."""
        found = list(re.finditer(pattern, self.text))
        for m in found:
            self.text = self.text[:m.start()] + " " * (m.end() - m.start()) + self.text[m.end():]
        return found

    def words(self) -> list[str]:
        return self.text.split()


def _hour(token: str) -> int:
    token = token.replace(" ", "")
    if token == "midnight":
        return 0
    if token == "noon":
        return 12
    m = re.fullmatch(r"(\d{1,2})(?::\d{2})?(am|pm)?", token)
    h = int(m.group(1)) % 12 if m.group(2) else int(m.group(1))
    return h + 12 if m.group(2) == "pm" else h


def _iso(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a calendar day") from None


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year + (month == 12), month % 12 + 1, 1)


def _shift(day: dt.date, n: int, unit: str) -> dt.date:
    if unit == "day":
        return day - dt.timedelta(days=n)
    if unit == "week":
        return day - dt.timedelta(weeks=n)
    months = day.year * 12 + day.month - 1 - n * (12 if unit == "year" else 1)
    y, m = divmod(months, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def _window(w: dict, labels: list[str], label: str, start: dt.date | None = None, end: dt.date | None = None) -> None:
    """Set the window's ends; a second window in one question ("in 2016 compared with last year") is refused."""
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            if key in w:
                raise ValueError(f"the question names two time windows ({labels[-1] if labels else w[key]} and "
                                 f"{label}); ask about one at a time")
            w[key] = value
    labels.append(label)


def read_time(t: Text, span: tuple[str, str] | None, day_parts: dict[str, tuple[int, int]],
              season_months: dict[str, tuple[int, ...]]) -> dict:
    """The time conditions of ``t`` as TimeWindow fields (blanking what it read); ``{}`` when it names none."""
    w: dict = {}
    labels: list[str] = []
    _dates(t, w, labels)
    _relative(t, w, labels, span)
    _years_and_months(t, w, labels)
    _hours(t, w, labels, day_parts)
    _days_and_seasons(t, w, labels, season_months)
    if labels:
        w["label"] = ", ".join(labels)
    return w


def _dates(t: Text, w: dict, labels: list[str]) -> None:
    for m in t.take(rf"\b(?:between|from)\s+{_DATE}\s+(?:and|to|until)\s+{_DATE}\b"):
        a, b = _iso(m.group(1)), _iso(m.group(2))
        _window(w, labels, f"from {a} to {b}", a, b + dt.timedelta(days=1))
    for m in t.take(rf"\b(?:since|after|from)\s+{_DATE}\b"):
        _window(w, labels, f"since {m.group(1)}", _iso(m.group(1)))
    for m in t.take(rf"\b(?:before|until)\s+{_DATE}\b"):
        _window(w, labels, f"before {m.group(1)}", end=_iso(m.group(1)))
    for m in t.take(rf"\b(?:on\s+)?{_DATE}\b"):
        day = _iso(m.group(1))
        _window(w, labels, f"on {day}", day, day + dt.timedelta(days=1))


def _relative(t: Text, w: dict, labels: list[str], span) -> None:
    numbers = "|".join(NUMBER_WORDS)
    for m in t.take(rf"\b(?:in\s+|during\s+|over\s+)?(?:the\s+)?(?:last|past|previous)\s+(\d+|{numbers})?\s*"
                    r"(day|week|month|year)s?\b"):
        if span is None:
            raise ValueError("the table has no dated rows to count back from")
        word = m.group(1) or "1"
        n = int(word) if word.isdigit() else NUMBER_WORDS[word]
        last = dt.date.fromisoformat(span[1])
        end = last + dt.timedelta(days=1)
        start = _shift(end, n, m.group(2))
        _window(w, labels, f"in the last {n} {m.group(2)}{'s' if n > 1 else ''} of data ({start} to {last})", start,
                end)


def _years_and_months(t: Text, w: dict, labels: list[str]) -> None:
    for m in t.take(rf"\b(?:between|from)\s+{_YEAR}\s+(?:and|to|until|through)\s+{_YEAR}\b"):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        _window(w, labels, f"from {a} to {b}", dt.date(a, 1, 1), dt.date(b + 1, 1, 1))
    for m in t.take(rf"\b(?:since|after)\s+{_YEAR}\b"):
        y = int(m.group(1))
        _window(w, labels, m.group(0).strip(), dt.date(y + (m.group(0).startswith("after")), 1, 1))
    for m in t.take(rf"\bbefore\s+{_YEAR}\b"):
        _window(w, labels, m.group(0).strip(), end=dt.date(int(m.group(1)), 1, 1))
    for m in t.take(rf"\b{_MONTH}\s+(?:of\s+)?{_YEAR}\b"):
        y, mo = int(m.group(2)), MONTH_NAMES[m.group(1)]
        _window(w, labels, f"in {MONTHS[mo - 1]} {y}", dt.date(y, mo, 1), _month_end(y, mo))
    years = [int(m.group(1)) for m in t.take(rf"\b{_YEAR}\b")]
    if years:
        _window(w, labels, f"in {min(years)}" + (f" to {max(years)}" if max(years) > min(years) else ""),
                dt.date(min(years), 1, 1), dt.date(max(years) + 1, 1, 1))
    months = [MONTH_NAMES[m.group(1)] for m in t.take(rf"\b{_MONTH}s?\b")]
    if months:
        w["months"] = sorted(set(months))
        labels.append("in " + " and ".join(MONTHS[mo - 1] for mo in w["months"]))


def _hours(t: Text, w: dict, labels: list[str], day_parts: dict[str, tuple[int, int]]) -> None:
    for m in t.take(rf"\b(?:between|from)\s+{_HOUR}\s+(?:and|to|until)\s+{_HOUR}"):
        w["hours"] = (_hour(m.group(1)), _hour(m.group(2)) or 24)
    for m in t.take(rf"\b(?:after|since)\s+{_HOUR}"):
        w["hours"] = (_hour(m.group(1)), 24)
    for m in t.take(rf"\bbefore\s+{_HOUR}"):
        w["hours"] = (0, _hour(m.group(1)) or 24)
    for phrase in sorted(day_parts, key=len, reverse=True):
        for m in t.take(rf"\b(?:in\s+the\s+|at\s+|during\s+the\s+)?{re.escape(phrase)}s?\b"):
            w.setdefault("hours", day_parts[phrase])
            labels.append(f"{m.group(0).strip()}")


def _days_and_seasons(t: Text, w: dict, labels: list[str], season_months: dict[str, tuple[int, ...]]) -> None:
    days = [DAY_NAMES[m.group(1)] for m in t.take(r"\b(?:on\s+)?(" + "|".join(DAY_NAMES) + r")s?\b")]
    if t.take(r"\b(?:on\s+|at\s+|during\s+)?(?:the\s+)?weekends?\b"):
        days += [6, 7]
    if t.take(r"\b(?:on\s+)?weekdays\b"):
        days += [1, 2, 3, 4, 5]
    if days:
        w["weekdays"] = sorted(set(days))
    months: list[int] = []
    for m in t.take(r"\b(?:in\s+|during\s+)?(?:the\s+)?(" + "|".join(SEASON_WORDS) + r")s?\b"):
        season = SEASON_WORDS[m.group(1)]
        months += season_months[season]
        labels.append(f"in {season}")
    if months:
        w["months"] = sorted(set(w.get("months", [])) | set(months))
