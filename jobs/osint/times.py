"""Time expressions in posts ("tonight", "Saturday 9pm", "mañana", "el sábado en la noche", "Dec 24"),
resolved against the post's own time, on the study area's wall clock.

A folded text (:func:`jobs.osint.text.fold` with ``times=True``) is scanned once for *atoms*: a day word
("tomorrow", "ayer"), a weekday ("next Saturday", "el sábado"), a date ("2017-12-24",
"12/24", "24 de diciembre"), a part of the day ("night", "en la noche") and a clock time
("9pm", "21:30", "a las 9"). Atoms separated only by connecting words ("at", "around",
"a las", "en la"...) form one expression; an expression needs a day, a weekday, a date
or a clock time (a lone "night" names no time).

Resolution, relative to ``posted_at`` read in the study area's time zone:

- day words count days from the local date posted; a weekday is its next occurrence
  (the same day counts; "next"/"próximo" on that weekday means a week later);
- a date without a year takes the year that puts it nearest the post;
- a part of the day sets its usual hour (morning 09:00, afternoon 15:00, evening 19:00,
  night 21:00); a clock time without am/pm reads 1-11 as afternoon or evening unless the
  part says morning (posts announce evenings far more than mornings);
- a clock time alone is the occurrence nearest the post (a report at 01:00 of "around
  11pm" means the evening before);
- the local wall-clock time becomes an instant with :func:`jobs.localtime.wall_time`, so a
  time across a daylight-saving change keeps its wall-clock hour.

The grain says how precise the result is: ``day``, ``part`` (of day), ``hour`` or ``minute``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WEEKDAYS = {w: i for i, ws in enumerate((
    ("monday", "lunes"), ("tuesday", "martes"), ("wednesday", "miercoles"), ("thursday", "jueves"),
    ("friday", "viernes"), ("saturday", "sabado"), ("sunday", "domingo"))) for w in ws}
MONTHS = {m: i + 1 for i, ms in enumerate((
    ("january", "jan", "enero", "ene"), ("february", "feb", "febrero"), ("march", "mar", "marzo"),
    ("april", "apr", "abril", "abr"), ("may", "mayo"), ("june", "jun", "junio"), ("july", "jul", "julio"),
    ("august", "aug", "agosto", "ago"), ("september", "sep", "sept", "septiembre", "setiembre"),
    ("october", "oct", "octubre"), ("november", "nov", "noviembre"), ("december", "dec", "diciembre", "dic"),
)) for m in ms}
#: Day words -> (days from the day posted, part of the day they imply).
DAY_WORDS = {"today": (0, None), "hoy": (0, None), "tonight": (0, "night"), "tonite": (0, "night"),
             "esta noche": (0, "night"), "this morning": (0, "morning"), "this afternoon": (0, "afternoon"),
             "this evening": (0, "evening"), "esta manana": (0, "morning"), "esta tarde": (0, "afternoon"),
             "tomorrow": (1, None), "tmrw": (1, None), "tmr": (1, None), "manana": (1, None),
             "pasado manana": (2, None), "yesterday": (-1, None), "ayer": (-1, None), "last night": (-1, "night"),
             "anoche": (-1, "night")}
PARTS = {"morning": "morning", "manana": "morning", "afternoon": "afternoon", "tarde": "afternoon",
         "evening": "evening", "night": "night", "noche": "night", "noon": "noon", "mediodia": "noon",
         "midnight": "midnight", "medianoche": "midnight", "madrugada": "small_hours"}
PART_HOURS = {"morning": 9, "noon": 12, "afternoon": 15, "evening": 19, "night": 21, "midnight": 24,
              "small_hours": 3}
_CONNECT = re.compile(r"^(?:\s|\b(?:at|around|after|about|by|from|on|in|the|this|a|las|la|el|de|en|por|"
                      r"sobre|desde|despues|eso|@|,)\b|@|,)*$")


def _words(options) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(options, key=len, reverse=True))


_MONTH = _words(MONTHS)
ATOMS = re.compile(
    r"(?<![\w'])(?:"
    rf"(?P<date_iso>(?P<iy>\d{{4}})-(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}}))"
    rf"|(?P<date_num>(?P<na>\d{{1,2}})/(?P<nb>\d{{1,2}})(?:/(?P<ny>\d{{2,4}}))?)"
    rf"|(?P<date_md>(?P<mm>{_MONTH})\.?\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?)"
    rf"|(?P<date_dm>(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:de\s+|of\s+)?(?P<dm>{_MONTH}))"
    rf"|(?P<part>(?:(?:la|las|el)\s+)(?P<pw>{_words(PARTS)}))"
    rf"|(?P<day>{_words(DAY_WORDS)})"
    rf"|(?P<weekday>(?:(?P<next>next|proximo|el\s+proximo|this|este|el|on)\s+)?(?P<wd>{_words(WEEKDAYS)})s?)"
    rf"|(?P<part2>(?P<pw2>{_words(PARTS)}))"
    r"|(?P<clock>(?:(?P<cp>at|around|after|by|about|@|a\s+las|a\s+la|sobre\s+las|desde\s+las|despues\s+de\s+las)"
    r"\s*)?(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?(?:\s*(?P<ap>am|pm|a\s?m|p\s?m|hrs|h))?)"
    r")(?![\w'])")


@dataclass(frozen=True)
class TimeHit:
    """One time expression: span in the text, local wall-clock time, grain."""

    start: int
    end: int
    local: datetime  # naive, on the study area's wall clock
    grain: str


def _atoms(text: str) -> list[tuple[str, re.Match]]:
    out = []
    for m in ATOMS.finditer(text):
        kind = next(k for k in ("date_iso", "date_num", "date_md", "date_dm", "part", "day", "weekday", "part2",
                                "clock") if m.group(k))
        kind = {"part2": "part", "date_iso": "date", "date_num": "date", "date_md": "date", "date_dm": "date"}.get(
            kind, kind)
        if kind == "clock" and not (m.group("cp") or m.group("ap") or m.group("mi")):
            continue  # a bare number is not a time
        if kind == "clock" and (int(m.group("h")) > 24 or int(m.group("mi") or 0) > 59):
            continue
        out.append((kind, m))
    return out


def _groups(text: str, atoms: list[tuple[str, re.Match]]) -> list[list[tuple[str, re.Match]]]:
    groups: list[list] = []
    for kind, m in atoms:
        g = groups[-1] if groups else None
        if g and kind not in {k for k, _ in g} and _CONNECT.match(text[g[-1][1].end():m.start()]) \
                and not (kind in ("day", "weekday", "date") and {"day", "weekday", "date"} & {k for k, _ in g}):
            g.append((kind, m))
        else:
            groups.append([(kind, m)])
    return [g for g in groups if {k for k, _ in g} & {"day", "weekday", "date", "clock"}]


def _date(m: re.Match, anchor: date, day_first: bool) -> date | None:
    if m.group("iy"):
        y, mo, d = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
    elif m.group("na"):
        a, b = int(m.group("na")), int(m.group("nb"))
        mo, d = (b, a) if day_first else (a, b)
        y = int(m.group("ny")) if m.group("ny") else None
        y = y + 2000 if y is not None and y < 100 else y
    elif m.group("mm"):
        mo, d, y = MONTHS[" ".join(m.group("mm").split())], int(m.group("md")), None
    else:
        mo, d, y = MONTHS[" ".join(m.group("dm").split())], int(m.group("dd")), None
    try:
        if y is not None:
            return date(y, mo, d)
        options = [date(anchor.year + k, mo, d) for k in (-1, 0, 1)]
    except ValueError:
        return None
    return min(options, key=lambda o: abs((o - anchor).days))


def _hour(m: re.Match, part: str | None) -> tuple[float, str]:
    h, mi, ap = int(m.group("h")), int(m.group("mi") or 0), (m.group("ap") or "").replace(" ", "")
    if ap in ("pm", "p m") and h < 12:
        h += 12
    elif ap in ("am", "a m") and h == 12:
        h = 0
    elif not ap and 1 <= h <= 11 and part not in ("morning", "small_hours"):
        h += 12
    return h + mi / 60.0, "minute" if m.group("mi") and mi else "hour"


def resolve(text: str, posted_local: datetime, *, day_first: bool = False) -> list[TimeHit]:
    """Time expressions of a text folded with ``fold(text, times=True)`` posted at ``posted_local`` (naive
    local wall-clock time).

    ``day_first``: read ``3/4`` as 3 April (Spanish and most of the world) instead of March 4.
    """
    out = []
    for g in _groups(text, _atoms(text)):
        kinds = dict(g)
        anchor = posted_local.date()
        day, part, fixed = anchor, None, False
        if "day" in kinds:
            offset, part = DAY_WORDS[" ".join(kinds["day"].group("day").split())]
            day, fixed = anchor + timedelta(days=offset), True
        if "weekday" in kinds:
            m = kinds["weekday"]
            delta = (WEEKDAYS[m.group("wd")] - anchor.weekday()) % 7
            if delta == 0 and m.group("next") and m.group("next").split()[-1] in ("next", "proximo"):
                delta = 7
            day, fixed = anchor + timedelta(days=delta), True
        if "date" in kinds:
            d = _date(kinds["date"], anchor, day_first)
            if d is None:
                continue
            day, fixed = d, True
        if "part" in kinds:
            m = kinds["part"]
            part = PARTS[m.group("pw") or m.group("pw2")]
        hours, grain = (PART_HOURS[part], "part") if part else (0.0, "day")
        if "clock" in kinds:
            hours, grain = _hour(kinds["clock"], part)
        local = datetime(day.year, day.month, day.day) + timedelta(hours=hours)
        if "clock" in kinds and not fixed:  # a clock time alone: the occurrence nearest the post
            local = min((local + timedelta(days=k) for k in (-1, 0, 1)), key=lambda t: abs(t - posted_local))
        out.append(TimeHit(g[0][1].start(), g[-1][1].end(), local, grain))
    return out
