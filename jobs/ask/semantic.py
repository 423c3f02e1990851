"""Semantic search over free text: the rows whose text is closest to a phrase, ranked offline.

"posts about a planned fight near the park" becomes a plan with a :class:`jobs.ask.plan.Search`:
the plan's filters and time window choose the candidate rows in SQL (the SQL shown is that
candidate query, and it is what ran), then each candidate's text and the phrase are embedded
with WordLlama and the rows are ranked here, in Python, by cosine similarity. WordLlama's
weights (``l2_supercat``, 256 dimensions, token embeddings taken from Llama 2 and trained to
average into sentence vectors) ship inside its wheel, so nothing is downloaded.

A text's vector is the mean of its tokens' vectors: the ranking finds texts that use the same or
related words, in any order, in the languages Llama 2's vocabulary covers. It does not read
negation, who did what to whom, or sarcasm; the answer says so and gives each row's score.

Identifiers written in a text (handles, phone numbers, account numbers: the patterns of
:mod:`jobs.osint.identifiers`) are replaced by ``[handle]``, ``[phone]``, ``[account]`` before a
text is embedded or shown: silver texts are as posted, and an answer never prints a raw one.

Notes
-----
Miller, D. L. (2024), *WordLlama: recycled token embeddings from large language models*,
https://github.com/dleemiller/WordLlama.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jobs.ask.catalogue import Catalogue, TableInfo, local_time_sql, sql_string
from jobs.ask.engine import Answer, _cell, _visible, _why_empty, declined, where_clauses
from jobs.ask.plan import Plan, PlanError, validate

MODEL_CONFIG = "l2_supercat"
MODEL_DIM = 256
#: rows a search keeps when the question names no number
DEFAULT_K = 10
#: texts whose vectors are kept between questions (about 1 kB each); the cache is emptied past this
CACHE_TEXTS = 100_000
#: the words that turn a question into a search: what comes after them is the text to look for
TRIGGER = re.compile(
    r"\b(?:(?:that|which|who)\s+(?:are\s+|is\s+|were\s+|was\s+)?)?"
    r"(?:talking\s+about|talk\s+about|talks\s+about|about|mentioning|mentions?|regarding|concerning|describing"
    r"|describes?|similar\s+to|sobre|acerca\s+de)\b", re.IGNORECASE)
#: words that can open a trailing time of a search ("... in December 2017", "... on weekends")
FILTER_LEADS = frozenset({"in", "on", "during", "from", "between", "since", "until", "before", "after", "over",
                          "last", "past"})
_QUOTES = " \t\r\n?!.,;:\"'“”‘’«»`"


@dataclass(frozen=True)
class Model:
    """The loaded embedding model and how the answer names it."""

    inference: object
    name: str
    version: str

    def describe(self) -> dict:
        return {"method": "cosine similarity of mean-pooled word embeddings, ranked in Python after the SQL",
                "model": self.name, "version": self.version}


@functools.lru_cache(maxsize=1)
def model() -> Model:
    """WordLlama from the files inside its wheel (never a download), loaded once per process."""
    import logging
    from pathlib import Path

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama  # its __init__ calls logging.basicConfig: undone below, the CLI's logging is not its

    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    # the wheel keeps weights/ and tokenizers/ beside the package: pointed at as the cache, both resolve offline
    inference = wordllama.WordLlama.load(config=MODEL_CONFIG, dim=MODEL_DIM, disable_download=True,
                                         cache_dir=Path(wordllama.__file__).parent)
    return Model(inference=inference, name=f"WordLlama {MODEL_CONFIG} {MODEL_DIM}-d",
                 version=f"wordllama {wordllama.__version__}")


def redact(text: str) -> str:
    """``text`` with every handle, phone number and account number replaced by its kind in brackets."""
    from jobs.osint.identifiers import find_identifiers

    hits = sorted(find_identifiers(0, text), key=lambda h: h.start, reverse=True)
    for h in hits:
        start = h.start - 1 if h.kind == "handle" and text[h.start - 1:h.start] == "@" else h.start
        text = text[:start] + f"[{h.kind}]" + text[h.end:]
    return text


_vectors: dict[str, np.ndarray] = {}


def embed(texts: list[str]) -> np.ndarray:
    """Unit vectors of ``texts`` (rows; a text with no known token gets zeros), kept for the next question."""
    missing = list(dict.fromkeys(t for t in texts if t not in _vectors))
    if missing:
        if len(_vectors) + len(missing) > CACHE_TEXTS:
            _vectors.clear()
        raw = model().inference.embed(missing, norm=False)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit = np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
        _vectors.update(zip(missing, unit))
    if not texts:
        return np.zeros((0, MODEL_DIM), np.float32)
    return np.stack([_vectors[t] for t in texts])


def rank(query: str, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, scores)`` of the ``k`` texts closest to ``query``, best first; ties keep the texts' order."""
    unique = list(dict.fromkeys(texts))
    where = {t: i for i, t in enumerate(unique)}
    scores = (embed(unique) @ embed([query])[0])[[where[t] for t in texts]]
    order = np.argsort(-scores, kind="stable")[:k]
    return order, scores[order]


# -- reading a question --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchSplit:
    """A question cut at its search words: ``prefix`` names the records (and filters), ``text`` is searched for.

    ``readings`` are the ways to cut a trailing time off the text, longest first:
    ``("a fight", "in December 2017")``; the parser keeps the first that is only a time.
    """

    prefix: str
    text: str
    readings: tuple[tuple[str, str], ...]


def split_search(question: str) -> SearchSplit | None:
    """Where ``question`` asks for rows about something, the parts; ``None`` when it asks nothing of the sort."""
    m = TRIGGER.search(question)
    if m is None:
        return None
    text = question[m.end():].strip(_QUOTES)
    if not any(c.isalnum() for c in text):
        return None
    tokens = text.split()
    readings = [(" ".join(tokens[:i]).strip(_QUOTES), " ".join(tokens[i:]).strip(_QUOTES))
                for i in range(1, len(tokens)) if tokens[i].lower() in FILTER_LEADS]
    readings = [(t, f) for t, f in readings if any(c.isalnum() for c in t)]
    return SearchSplit(prefix=question[:m.start()], text=text, readings=tuple(readings))


# -- running a search -----------------------------------------------------------------------------------

def _text_sql(info: TableInfo, frm: str) -> tuple[str, str]:
    """``(from clause, text expression)``: the table's own text, else its ``text_from`` side table's."""
    col = f'x."{info.text}"' if info.text in info.columns else None
    side = info.text_from
    if side is None:
        return frm, col
    # one row per key: several narratives of one record are read as one text
    joined = (f"{frm} LEFT JOIN (SELECT \"{side.key}\", string_agg(DISTINCT \"{side.column}\", ' ' ORDER BY "
              f"\"{side.column}\") AS text FROM delta_scan({sql_string(side.uri)}) WHERE \"{side.column}\" IS NOT NULL "
              f"GROUP BY 1) AS t ON t.\"{side.key}\" = x.\"{side.key}\"")
    return joined, f"coalesce({col}, t.text)" if col else "t.text"


def candidate_sql(plan: Plan, catalogue: Catalogue) -> str:
    """The SQL of a search's candidates: every row the plan's filters keep that has text, newest first.

    The columns are the row's id, its local time and the columns the vocabulary has words for (source,
    category, district, place, platform, language...); a list question shows a row's every column.
    """
    info = validate(plan, catalogue)
    frm, local = local_time_sql(info, catalogue.zones, catalogue.default_zone)
    frm, text = _text_sql(info, frm)
    where = " AND ".join([*where_clauses(plan, info, local), f"{text} IS NOT NULL"])
    vocab = catalogue.vocabulary
    visible = _visible(info, vocab.private)
    # the row's id, its local time, and the columns people name (vocabulary): the text is the point of the answer
    cols = [f'x."{c}"' for c in visible if c == "id" or c.endswith("_id")]
    if info.time:
        cols.append(f"{local} AS {info.time}_local")
    cols += [f'x."{c}"' for c in visible if c in vocab.column_words]
    order = f" ORDER BY {local} DESC" if info.time else ""
    return f"SELECT {', '.join(cols + [f'{text} AS {plan.search.column}'])} FROM {frm} WHERE {where}{order}"


def run_search(plan: Plan, catalogue: Catalogue, con, question: str = "") -> Answer:
    """Fetch the plan's candidate rows with SQL, rank them by similarity to ``plan.search.text``, keep k."""
    try:
        sql = candidate_sql(plan, catalogue)
    except PlanError as exc:
        return declined(question, str(exc), plan)
    try:
        embedder = model()
    except (ImportError, OSError) as exc:  # a deployment without the wheel's files: say so, rank nothing
        return declined(question, f"semantic search needs the WordLlama model, which cannot be loaded here ({exc})",
                        plan)
    info = catalogue.table(plan.table)
    searched = " ".join(plan.search.text.split())  # one line: the comment must not end inside the text
    header = (f"-- candidate rows only: they are ranked afterwards, outside SQL, by {embedder.name} "
              f"({embedder.version}) cosine similarity to {sql_string(searched)}\n")
    sources = [{"table": info.label, "version": info.version}]
    if info.text_from:
        sources.append({"table": info.text_from.label, "version": info.text_from.version})
    if catalogue.zones_uri and info.time:
        sources.append({"table": "reference.source_catalog", "version": catalogue.zones_version})
    table = con.execute(sql).arrow().read_all()
    column = plan.search.column
    names = [c for c in table.column_names if c != column]
    if table.num_rows == 0:
        reason = _why_empty(plan, info, catalogue, con) or _why_no_text(plan, info, catalogue, con)
        if reason:
            out = declined(question, reason, plan)
            out.sql, out.columns, out.sources = header + sql, ["similarity", column, *names], sources
            return out
    texts = [redact(t) for t in table.column(column).to_pylist()]
    order, scores = rank(redact(plan.search.text), texts, plan.search.k)
    picked = table.take(pa.array(order, pa.int64())).to_pylist()
    rows = [[round(float(s), 4), texts[i], *(_cell(row[c]) for c in names)]
            for row, i, s in zip(picked, order, scores)]
    from jobs.ask.words import search_sentence

    said = search_sentence(plan, info, len(rows), table.num_rows, embedder.name, rows[0][0] if rows else None)
    return Answer(question=question, answer=said, plan=plan.model_dump(mode="json"), sql=header + sql,
                  columns=["similarity", column, *names], rows=rows, sources=sources, ranking=embedder.describe())


def _why_no_text(plan: Plan, info: TableInfo, catalogue: Catalogue, con) -> str | None:
    """When no row of the table has text at all, say so: the search has nothing to rank, whatever the filters."""
    frm, _ = local_time_sql(info, catalogue.zones, catalogue.default_zone)
    frm, text = _text_sql(info, frm)
    if con.execute(f"SELECT count(*) FROM {frm} WHERE {text} IS NOT NULL").fetchone()[0]:
        return None
    where = f"{info.label}.{info.text}" + (f" or {info.text_from.label}" if info.text_from else "")
    return f"no {plan.table} have any text to search: {where} is empty in this lakehouse"
