"""The semantic parser: a question in plain language to a :class:`jobs.ask.plan.Plan`, or a reason it cannot be.

No model: the words it understands are the lakehouse's own (the values in each table's
text columns, read at run time by :mod:`jobs.ask.catalogue`), the general-language
words of ``vocabulary.toml`` (table nouns, column words, synonyms), and the calendar
(:mod:`jobs.ask.timewords`). The question is read phrase by phrase, each understood
phrase blanked out; a word left over that is neither grammar nor data makes the
parser decline, naming it, rather than guess: "drone smuggling" in a lakehouse of
assaults gets "no data for 'drone smuggling'", not a count of assaults.

Typos are forgiven only against the data's own values (``rapidfuzz`` ratio >= 88 on
words of five letters or more).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from jobs.ask.catalogue import Catalogue, TableInfo, Vocabulary
from jobs.ask.engine import seasons
from jobs.ask.plan import Filter, Measure, Plan, PlanError, TimeWindow, validate
from jobs.ask.semantic import DEFAULT_K, SearchSplit, split_search
from jobs.ask.timewords import NUMBER_WORDS, Text, read_time

FUZZY_CUTOFF = 88
_NUM = r"(\d+|" + "|".join(k for k in NUMBER_WORDS if k != "a") + ")"
_VERB = r"\b(?:are|were|is|was|happen|happened|happens|occur|occurred|occurs|took place|take place|fall|fell)\b"
#: the words before a time grouping ("by hour", "which month", "busiest day")
_BY = r"(?:by|per|each|every|which|what|busiest|peak|quietest)"
#: time groupings, most specific first: (pattern, group)
TIME_GROUPS = (
    (rf"\b{_BY}\s+(?:the\s+)?(?:day\s+of\s+(?:the\s+)?week|weekday)\b|"
     r"\bdays?\s+of\s+(?:the\s+)?week\b", "weekday"),
    (rf"\b{_BY}\s+(?:the\s+)?hour(?:\s+of\s+(?:the\s+)?day)?\b|\bhours?\s+of\s+(?:the\s+)?day\b"
     r"|\btime\s+of\s+(?:the\s+)?day\b|\bhourly\b", "hour"),
    (r"\b(?:which|what|busiest|peak|quietest)\s+(?:calendar\s+)?month\b|\bmonths?\s+of\s+(?:the\s+)?year\b"
     r"|\bcalendar\s+month\b", "month_of_year"),
    (r"\b(?:by|per|each|every)\s+month\b|\bmonthly\b|\bmonth\s+by\s+month\b", "month"),
    (rf"\b{_BY}\s+year\b|\byearly\b|\bannual(?:ly)?\b|\byear\s+by\s+year\b", "year"),
    (rf"\b{_BY}\s+week\b|\bweekly\b|\bweek\s+by\s+week\b", "week"),
    (rf"\b{_BY}\s+(?:day|date)\b|\bdaily\b|\bday\s+by\s+day\b", "day"),
    (rf"\b{_BY}\s+season\b", "season"),
)


class Decline(ValueError):
    """A question the lakehouse cannot answer; the message says what is missing."""


@dataclass
class Reading:
    """What has been understood so far."""

    measure: str = "count"
    order: str | None = None
    limit: int | None = None
    which: bool = False  # "which district ...": one winner unless a number is asked for
    share_at: int | None = None
    groups: list[str] = field(default_factory=list)
    table: str | None = None
    noun_end: int | None = None


def normalise(question: str) -> str:
    text = question.lower().replace("’", "'").replace("%", " percent ")
    text = re.sub(r"'s\b", "", text)
    text = re.sub(r"[^a-z0-9:\-\s.$]", " ", text)
    text = re.sub(r"(?<!\d)[.](?!\d)", " ", text)  # full stops, not decimal points
    return " " + re.sub(r"\s+", " ", text).strip() + " "


def parse(question: str, catalogue: Catalogue) -> Plan:
    """The plan of ``question``; :class:`Decline` with the reason when the data cannot answer it."""
    split = split_search(question)
    if split is not None and re.search(_nouns_pattern(catalogue), normalise(split.prefix)):
        return _parse_search(split, catalogue)
    return _parse_plain(question, catalogue)


def _parse_plain(question: str, catalogue: Catalogue) -> Plan:
    vocab = catalogue.vocabulary
    text = normalise(question)
    for phrase, target in sorted(vocab.place_words.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"\b{re.escape(phrase)}\b", target, text)
    t = Text(text)
    r = Reading()
    _shape(t, r)
    _nouns(t, r, catalogue)
    if r.table is None:
        r.table = _implied_table(t, catalogue)
    info = catalogue.table(r.table)
    split = _share_split(text, r)
    try:
        window, part_window = _time(t, info, vocab, split)
    except ValueError as exc:
        raise Decline(str(exc)) from None
    _latest(t, r)
    filters = _column_values(t, info, vocab) + _values(t, info, vocab)
    measure_col = _measure_column(t, info, vocab, r)
    filters += _comparisons(t, info, vocab)
    _column_groups(t, info, vocab, r)
    filters += _fuzzy(t, info, vocab)
    _leftovers(t, info, catalogue)
    try:
        return _assemble(question, r, info, filters, window, part_window, measure_col, split)
    except ValidationError as exc:  # e.g. a window that ends before it starts: say which, in one line
        raise Decline("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


# -- semantic search ("posts about a fight near the park") -----------------------------------------------

def _nouns_pattern(catalogue: Catalogue) -> str:
    nouns = sorted((n for spec in catalogue.vocabulary.tables.values() for n in spec["nouns"]), key=len, reverse=True)
    return r"\b(?:" + "|".join(map(re.escape, nouns)) + r")\b"


#: words asking for a figure, which a ranking cannot give
_NOT_RANKED = (r"\b(?:how\s+many|number\s+of|count|share|percentage|percent|proportion|fraction|average|mean|total"
               r"|sum|by|per|trends?)\b")


def _parse_search(split: SearchSplit, catalogue: Catalogue) -> Plan:
    """The records and filters from the words before the search words, the text from the rest (less a trailing time).

    Places, platforms and other values after the search words stay in the text: "posts about a fight in Gage
    Park" looks for posts that talk of Gage Park, not for posts tagged there ("posts in Gage Park about a fight").
    """
    prefix = re.sub(r"\b(?:search(?:\s+for)?|look(?:ing)?\s+for|closest|similar)\b", " ", normalise(split.prefix))
    k = None
    before_noun = rf"\b(?:top\s+|first\s+)?{_NUM}\s+(?=(?:[a-z]+\s+){{0,2}}{_nouns_pattern(catalogue)})"
    for m in re.finditer(before_noun, prefix):  # "5 posts about ...", "top 3 spanish posts about ..."
        k = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
        prefix = prefix[:m.start()] + " " * (m.end() - m.start()) + prefix[m.end():]
    if re.search(_NOT_RANKED, prefix):
        raise Decline("a search for rows about a text ranks them by similarity and lists the closest; it cannot count, "
                      "group or average them (no similarity score makes a row a match)")
    plan, text = _parse_plain(prefix, catalogue), split.text
    info, vocab = catalogue.table(plan.table), catalogue.vocabulary
    for searched, trailing in split.readings:  # a trailing time ("... in December 2017") is a filter, not text
        probe = Text(normalise(trailing))
        try:
            read_time(probe, info.span, vocab.day_parts, seasons(info))
        except ValueError:
            continue
        if all(w in vocab.stopwords for w in probe.words()):
            plan, text = _parse_plain(f"{prefix} {trailing}", catalogue), searched
            break
    update = {"measure": {"kind": "list"}, "limit": None, "order": None,
              "search": {"text": text, "column": info.text or "", "k": min(k or plan.limit or DEFAULT_K, 200)}}
    try:
        plan = Plan.model_validate(plan.model_dump() | update)
        validate(plan, catalogue)
    except ValidationError as exc:
        raise Decline("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    except PlanError as exc:
        raise Decline(str(exc)) from None
    return plan


# -- the question's shape --------------------------------------------------------------------------------

def _shape(t: Text, r: Reading) -> None:
    if t.take(r"\b(?:how\s+many|number\s+of|count\s+of|count)\b"):
        r.measure = "count"
    found = t.take(r"\b(?:what|which)?\s*(?:share|percentage|percent|proportion|fraction)\s*(?:of)?\b")
    if found:
        r.measure, r.share_at = "share", found[0].end()
    if t.take(r"\b(?:average|mean)\b"):
        r.measure = "mean"
    elif t.take(r"\b(?:sum\s+of|total)\b"):
        r.measure = "sum"
    if t.take(r"^\s*(?:list|show(?:\s+me)?|display|give\s+me)\b") and r.measure == "count":
        r.measure = "list"
    for m in t.take(rf"\b{_NUM}(?=\s+(?:most|least|highest|lowest|largest|biggest|busiest|quietest|fewest|latest"
                    r"|newest|most\s+recent)\b)"):
        r.limit = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
    for m in t.take(rf"\b(top|bottom|first)\s+{_NUM}\b"):
        r.limit = int(m.group(2)) if m.group(2).isdigit() else NUMBER_WORDS[m.group(2)]
        r.order = "asc" if m.group(1) == "bottom" else "desc"
    for m in t.take(rf"\b(?:most\s+recent|newest|latest)\s+{_NUM}\b"):
        r.limit = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
        r.measure = "list" if r.measure == "count" else r.measure
    if t.take(r"\b(?:most\s+recent|newest|latest)\b") and r.measure == "count" and not r.groups:
        r.measure = "list"
    for pattern, group in TIME_GROUPS:
        found = t.take(pattern)
        if found and group not in r.groups:
            r.groups.append(group)
            lead = found[0].group(0).split()[0]
            r.which = r.which or lead in ("which", "what", "busiest", "peak", "quietest")
            if lead in ("busiest", "peak", "quietest"):
                r.order = "asc" if lead == "quietest" else "desc"
    if t.take(r"\b(?:the\s+)?(?:most(?:\s+common)?|highest|largest|biggest|busiest)\b"):
        r.order = "desc"
    if t.take(r"(?<!at )\b(?:the\s+)?(?:least(?:\s+common)?|fewest|lowest|smallest|quietest)\b"):
        r.order = "asc"
    if t.take(r"\b(?:trends?|over\s+time)\b") and not r.groups:
        r.groups.append("month")
    if re.search(r"\b(?:which|what)\b", t.text):
        r.which = True


def _nouns(t: Text, r: Reading, catalogue: Catalogue) -> None:
    nouns = [(noun, name) for name, spec in catalogue.vocabulary.tables.items() for noun in spec["nouns"]]
    for noun, name in sorted(nouns, key=lambda nn: -len(nn[0])):
        found = t.take(rf"\b{re.escape(noun)}\b")
        if not found:
            continue
        if name in catalogue.missing:
            raise Decline(f"no data for {noun}: the lakehouse has no table {catalogue.missing[name]} (it has not "
                          "been built here)")
        if r.table not in (None, name):
            raise Decline(f"the question names two kinds of record ({r.table} and {name}); ask about one at a time")
        r.table = name
        r.noun_end = max(r.noun_end or 0, found[0].end())


def _implied_table(t: Text, catalogue: Catalogue) -> str:
    """The first table (vocabulary order) whose values (and, at half weight, columns) the question names most."""
    best, score = None, 0
    for name in catalogue.tables:
        info = catalogue.table(name)
        probe = Text(t.text)
        try:
            read_time(probe, info.span, catalogue.vocabulary.day_parts, seasons(info))
            vocab = catalogue.vocabulary
            n = len(_column_values(probe, info, vocab)) + len(_values(probe, info, vocab))
            # a column's word ("by location type") counts half a value: it names the table less surely
            n += 0.5 * sum(bool(re.search(rf"\b{re.escape(w)}\b", probe.text))
                           for w, c in column_words(info, vocab, info.dimensions) if c not in vocab.private)
        except (Decline, ValueError):
            continue
        if n > score:
            best, score = name, n
    if best is None:
        words = " ".join(w for w in t.words() if w not in catalogue.vocabulary.stopwords)
        raise Decline((f"no data for '{words}': " if words else "") + "the question names no kind of record the "
                      f"lakehouse holds ({', '.join(catalogue.tables)}) and no value found in them")
    return best


def _share_split(text: str, r: Reading) -> int | None:
    """Where the part of a share starts: its verb ("... were at night"), else the end of the table's noun."""
    if r.measure != "share" or r.groups or re.search(r"\b(?:by|per|for\s+each)\b", text):
        return None
    verb = re.search(_VERB, text[r.share_at or 0:])
    if verb:
        return (r.share_at or 0) + verb.start()
    return r.noun_end or r.share_at


def _time(t: Text, info: TableInfo, vocab: Vocabulary, split: int | None) -> tuple[dict, dict]:
    if split is None:
        return read_time(t, info.span, vocab.day_parts, seasons(info)), {}
    base, part = Text(t.text[:split] + " " * (len(t.text) - split)), Text(" " * split + t.text[split:])
    w_base = read_time(base, info.span, vocab.day_parts, seasons(info))
    w_part = read_time(part, info.span, vocab.day_parts, seasons(info))
    t.text = base.text[:split] + part.text[split:]
    return w_base, w_part


def _latest(t: Text, r: Reading) -> None:
    for m in t.take(rf"\b(?:last|latest|recent)\s+{_NUM}\b"):
        r.limit = int(m.group(1)) if m.group(1).isdigit() else NUMBER_WORDS[m.group(1)]
        r.measure = "list" if r.measure == "count" else r.measure


# -- values, columns, comparisons ------------------------------------------------------------------

def column_words(info: TableInfo, vocab: Vocabulary, columns) -> list[tuple[str, str]]:
    """``(word, column)`` pairs of ``columns``, longest word first."""
    pairs = [(w, c) for c in columns for w in {*vocab.column_words.get(c, []), c.replace("_", " "), c}]
    return sorted(pairs, key=lambda wc: -len(wc[0]))


def _plurals(phrase: str) -> list[str]:
    if phrase.endswith("y") and len(phrase) > 3:
        return [phrase, phrase[:-1] + "ies"]
    return [phrase, phrase + "s", phrase + "es"]


def value_phrases(info: TableInfo, vocab: Vocabulary) -> dict[str, list[tuple[str, str]]]:
    """phrase -> ``(column, value)`` it names in ``info``: values, their plurals, synonyms, feed-name prefixes."""
    out: dict[str, list[tuple[str, str]]] = {}

    def add(phrase: str, column: str, value: str) -> None:
        if len(phrase) >= 3 and not phrase.isdigit() and phrase not in vocab.stopwords:
            if (column, value) not in out.setdefault(phrase, []):
                out[phrase].append((column, value))

    for column, values in info.dimensions.items():
        if info.columns.get(column) == "BOOLEAN" or column in vocab.private:
            continue
        lowered = {v.lower(): v for v in values}
        for v in values:
            words = re.sub(r"[_\s]+", " ", v.lower()).strip()
            for p in _plurals(words):
                add(p, column, v)
            if column == "source":  # a feed named after its place: "chicago_aggravated_assaults" -> "chicago"
                parts = words.split()
                for k in range(1, len(parts)):
                    add(" ".join(parts[:k]), column, v)
        for phrase, target in vocab.value_words.items():
            if target.lower() in lowered:
                add(phrase, column, lowered[target.lower()])
    for phrase, targets in out.items():  # one value in two columns (category, source_category): the curated one
        curated = [(c, v) for c, v in targets if c in vocab.column_words]
        if curated and len({c for c, _ in targets}) > 1:
            out[phrase] = curated
    for v in info.dimensions.get("source", []):  # "nyc_shootings" -> "shootings", unless another value's word
        parts = re.sub(r"[_\s]+", " ", v.lower()).split()
        for a in range(1, len(parts)):
            for b in range(a + 1, len(parts) + 1):
                phrase = " ".join(parts[a:b])
                if phrase not in out:
                    add(phrase, "source", v)
    return out


def _column_values(t: Text, info: TableInfo, vocab: Vocabulary) -> list[tuple[int, str, str]]:
    """``district 11``: a column's word followed by one of its values; an unknown value is declined."""
    out = []
    for word, column in column_words(info, vocab, [c for c in info.dimensions if c not in vocab.private]):
        lowered = {v.lower(): v for v in info.dimensions[column]}
        for m in re.finditer(rf"\b{re.escape(word)}\s+(?:no\.?\s+|number\s+|#)?([a-z0-9][\w\-]*)\b", t.text):
            token = m.group(1)
            if token in lowered:
                t.text = t.text[:m.start()] + " " * (m.end() - m.start()) + t.text[m.end():]
                out.append((m.start(), column, lowered[token]))
            elif token.isdigit():
                raise Decline(f"no data for {word} {token}: {info.name} have no {column} {token}")
    return out


def _values(t: Text, info: TableInfo, vocab: Vocabulary) -> list[tuple[int, str, str]]:
    out = []
    for phrase, targets in sorted(value_phrases(info, vocab).items(), key=lambda kv: -len(kv[0])):
        for m in t.take(rf"\b{re.escape(phrase)}\b"):
            out += [(m.start(), column, value) for column, value in targets]
    return out


def _measure_column(t: Text, info: TableInfo, vocab: Vocabulary, r: Reading) -> str | None:
    for word, column in column_words(info, vocab, info.numeric()):
        if column in vocab.private:
            continue
        if re.search(rf"\b{re.escape(word)}\b", t.text) and r.measure in ("mean", "sum"):
            t.take(rf"\b{re.escape(word)}\b")
            return column
    if r.measure in ("mean", "sum"):
        if r.measure == "sum" and not re.search(r"\b(?:amount|value|duration|score)\b", t.text):
            r.measure = "count"  # "total incidents": a count
            return None
        word = next((w for w in t.words() if w not in vocab.stopwords), "a number")
        raise Decline(f"{info.name} have no numeric column {word!r} to {'average' if r.measure == 'mean' else 'add up'}"
                      f" (numbers: {', '.join(c for c in info.numeric() if c not in vocab.private) or 'none'})")
    return None


_UNIT = r"(?:\s*(?:dollars|usd|euros?|eur|pounds|gbp|seconds|secs|s)\b|\b)"
_OPS = {"over": ">", "above": ">", "more than": ">", "greater than": ">", "at least": ">=", "under": "<",
        "below": "<", "less than": "<", "at most": "<="}


def _comparisons(t: Text, info: TableInfo, vocab: Vocabulary) -> list[tuple[int, str, str, float]]:
    ops = "|".join(sorted(_OPS, key=len, reverse=True)).replace(" ", r"\s+")
    out = []
    for word, column in column_words(info, vocab, [c for c in info.numeric() if c not in vocab.private]):
        for m in t.take(rf"\b{re.escape(word)}\s+(?:of\s+|is\s+)?({ops})\s+\$?(\d+(?:\.\d+)?){_UNIT}"):
            out.append((m.start(), column, _OPS[re.sub(r"\s+", " ", m.group(1))], float(m.group(2))))
    if info.value_column:  # "transactions over 1000": the table's own measure
        for m in t.take(rf"\b({ops})\s+\$?(\d+(?:\.\d+)?){_UNIT}"):
            out.append((m.start(), info.value_column, _OPS[re.sub(r"\s+", " ", m.group(1))], float(m.group(2))))
    return out


def _column_groups(t: Text, info: TableInfo, vocab: Vocabulary, r: Reading) -> None:
    """A column's word with no value after it (``by district``, ``top 5 location types``) groups by it."""
    groupable = [c for c in info.dimensions if c not in vocab.private and info.columns.get(c) != "BOOLEAN"]
    for word, column in column_words(info, vocab, groupable):
        found = t.take(rf"\b(?:by|per|for\s+each|each|across|which|what)?\s*{re.escape(word)}\b")
        if found and column not in r.groups:
            r.groups.append(column)


def _fuzzy(t: Text, info: TableInfo, vocab: Vocabulary) -> list[tuple[int, str, str]]:
    from rapidfuzz import fuzz, process

    phrases = value_phrases(info, vocab)
    out = []
    for m in list(re.finditer(r"[a-z][a-z\-]{4,}", t.text)):
        if m.group(0) in vocab.stopwords:
            continue
        best = process.extractOne(m.group(0), list(phrases), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if best:
            t.text = t.text[:m.start()] + " " * (m.end() - m.start()) + t.text[m.end():]
            out += [(m.start(), column, value) for column, value in phrases[best[0]]]
    return out


def _leftovers(t: Text, info: TableInfo, catalogue: Catalogue) -> None:
    """Decline on any word that is neither grammar nor data, saying where (if anywhere) it is data."""
    vocab = catalogue.vocabulary
    unknown = [w for w in t.words() if w.strip("-:.$") and w.strip("-:.$") not in vocab.stopwords]
    if not unknown:
        return
    phrase = " ".join(unknown)
    for other in map(catalogue.table, catalogue.tables):
        if other.name == info.name:
            continue
        probe = Text(t.text)
        hits = _values(probe, other, vocab) + [(0, c, "") for w, c in column_words(other, vocab, other.columns)
                                               if re.search(rf"\b{re.escape(w)}\b", t.text) and c not in vocab.private]
        if hits:
            _, column, value = hits[0]
            what = f"{column} {value}" if value else f"a {column} column"
            raise Decline(f"no data for '{phrase}' in {info.name}: {what} is in {other.name}, not in {info.name}")
    dims = {c: v for c, v in sorted(info.dimensions.items(), key=lambda cv: (cv[0] != "source", cv[0] != "category"))
            if c not in vocab.private and info.columns.get(c) != "BOOLEAN"}
    hint = "; ".join(f"{c}: {', '.join(v[:6])}{'...' if len(v) > 6 else ''}" for c, v in list(dims.items())[:3])
    raise Decline(f"no data for '{phrase}': it is not a table, column or value in the lakehouse"
                  + (f" ({info.name} have {hint})" if hint else ""))


# -- the plan -------------------------------------------------------------------------------------------

def _filters(matches: list[tuple]) -> list[Filter]:
    by_column: dict[str, list] = {}
    out = []
    for match in sorted(matches, key=lambda m: m[0]):
        if len(match) == 4:
            out.append(Filter(column=match[1], op=match[2], value=match[3]))
        elif match[2] not in by_column.setdefault(match[1], []):
            by_column[match[1]].append(match[2])
    for column, values in by_column.items():
        out.append(Filter(column=column, op="=", value=values[0]) if len(values) == 1
                   else Filter(column=column, op="in", value=values))
    return out


def _assemble(question: str, r: Reading, info: TableInfo, matches: list[tuple], window: dict, part_window: dict,
              measure_col: str | None, split: int | None) -> Plan:
    base = [m for m in matches if split is None or m[0] < split]
    part = [m for m in matches if split is not None and m[0] >= split]
    filters = _filters(base)
    compared = [f.column for f in filters if f.op == "in"]
    if compared and not r.groups and re.search(r"\b(?:compare|compared|vs|versus|against)\b", question.lower()):
        r.groups.append(compared[0])
    named = {f.column for f in filters} | {f.column for f in _filters(part)}
    filters += [Filter(column=c, value=v) for c, v in info.default_filters.items() if c not in named]
    measure = r.measure
    if measure == "list" and r.groups:
        measure = "count"
    limit = r.limit if r.limit is not None else (1 if r.which and r.order and r.groups else None)
    order = r.order
    if measure == "list" and order == "desc":
        order = None  # "latest" lists newest first anyway
    if not r.groups and measure not in ("list",):
        limit, order = None, None
    return Plan(table=info.name, filters=filters, share_filters=_filters(part), time=TimeWindow(**window),
                share_time=TimeWindow(**part_window) if part_window else None, group_by=r.groups,
                measure=Measure(kind=measure, column=measure_col), order=order, limit=limit)
