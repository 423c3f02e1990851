"""Identifiers written in post texts (handles, phone numbers, account numbers), pseudonymised.

Each one is replaced by the keyed hash ingestion gives the same kind of identifier
(:func:`jobs.ingest.pseudonymise.pseudonymise`, same key, same normalisation), so a
handle written in a text joins ``osint_posts.author``/``mentions`` and a phone number
joins the CDRs and person records; the raw value is never copied out of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

#: ``@name`` not inside an e-mail address or a word.
HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)(?![\w@])")
#: A phone number: optional ``+`` and country code, then 9-14 more digits with the usual separators.
PHONE = re.compile(r"(?<![\w+/.(-])(?:\+|00)?\(?\d(?:[\s.()-]{0,2}\d){8,14}(?![\w/])")
#: IBAN-shaped accounts (two letters, two check digits, 11-30 letters or digits, spaced or not), or
#: digits after a word for account.
ACCOUNT = re.compile(
    r"(?<![\w])(?:[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?"
    r"|(?:(?i:acct|account|cuenta|iban|a/c)\s*(?:(?i:no|nr|num|number|numero|n)\.?\s*|#\s*|:\s*)*)"
    r"(?P<digits>\d[\d -]{4,24}\d))(?![\w])")
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}|^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")


@dataclass(frozen=True)
class IdentifierHit:
    """One identifier: text row, span, kind (``handle``, ``phone``, ``account``) and the raw value."""

    row: int
    start: int
    end: int
    kind: str
    raw: str


def find_identifiers(row: int, text: str) -> list[IdentifierHit]:
    """Handles, phone numbers and account numbers in one post text (as written, not folded)."""
    out = [IdentifierHit(row, m.start(), m.end(), "handle", m.group(1)) for m in HANDLE.finditer(text)]
    taken: list[tuple[int, int]] = []
    for m in ACCOUNT.finditer(text):
        s, e = (m.start("digits"), m.end("digits")) if m.group("digits") else m.span()
        out.append(IdentifierHit(row, s, e, "account", text[s:e]))
        taken.append((s, e))
    for m in PHONE.finditer(text):
        s, e = m.span()
        digits = sum(c.isdigit() for c in m.group())
        if not 10 <= digits <= 15 or _DATE_LIKE.match(m.group()) or any(a < e and s < b for a, b in taken):
            continue
        out.append(IdentifierHit(row, s, e, "phone", m.group()))
    return out


def pseudonyms(hits: list[IdentifierHit], key: bytes | None) -> list[str | None]:
    """The pseudonym of each hit (ingestion's keyed hash for its kind); the normalised raw value when ``key``
    is ``None`` (a deployment that keeps raw identifiers: ``CRIMEFUSION_RAW_IDENTIFIERS``)."""
    from jobs.ingest.pseudonymise import normalise, pseudonymise

    out: list[str | None] = [None] * len(hits)
    for kind in ("handle", "phone", "account"):
        idx = [i for i, h in enumerate(hits) if h.kind == kind]
        if not idx:
            continue
        raw = pa.array([hits[i].raw for i in idx], pa.string())
        values = normalise(raw, kind=kind) if key is None else pseudonymise(raw, key=key, kind=kind)
        for i, v in zip(idx, values.to_pylist()):
            out[i] = v
    return out
