"""Place mentions: gazetteer aliases found in folded post texts, exactly or with one or two slips.

Two passes over a batch of texts:

1. **exact**: a trie of every alias's words (:class:`jobs.osint.text.PhraseTrie`) is looked up word by
   word over each folded text (the longest alias at each word wins);
2. **fuzzy**: only the words that are not gazetteer words are candidates; each distinct
   candidate of the batch is compared once with the gazetteer's distinctive words
   (RapidFuzz ``cdist``, optimal-string-alignment distance, so a swap of two letters is one
   slip); a candidate within 1 slip (5-7 letters) or 2 (8+) of exactly one word is read as
   that word, and the exact look-up runs again over the corrected texts of the posts that
   had a correction.

Words of four letters or fewer are never corrected, and a correction keeps the first
letter; a corrected word must still complete a whole alias to count. Where one alias names several places the first by kind
(landmark, tagged place, street, area) wins and the score is divided by their number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jobs.osint.gazetteer import KINDS
from jobs.osint.text import PhraseTrie, fold

_CANDIDATE = re.compile(r"(?<![\w'])[^\W\d_]{5,}(?![\w'])")
#: A lower-case lone compass letter: "w" is Polish "in" and "e" Spanish "and"; "W Town" abbreviates West.
_LOWER_COMPASS = re.compile(r"(?<![\w'.])[nsew](?![\w'])")


def fold_places(text: str) -> str:
    """:func:`jobs.osint.text.fold` for place matching: a lone lower-case ``n``/``s``/``e``/``w`` becomes ``#``
    (no word), so only a capital one abbreviates a compass direction."""
    folded = fold(text)
    if _LOWER_COMPASS.search(text) is None:
        return folded
    chars = list(folded)
    for m in _LOWER_COMPASS.finditer(text):
        chars[m.start()] = "#"
    return "".join(chars)


@dataclass(frozen=True)
class PlaceHit:
    """One place mention: text row, span in the text as written, gazetteer row, score (spelling similarity
    divided by ``candidates``, the number of places sharing the alias), alias matched."""

    row: int
    start: int
    end: int
    place: int
    score: float
    alias: str
    candidates: int = 1

    @property
    def similarity(self) -> float:
        """How close the spelling is to the alias (1.0: exact), whatever the ambiguity."""
        return self.score * self.candidates


def max_slips(word: str) -> int:
    """Slips (edits) tolerated in a word of this length: none below 5 letters, 1 up to 7, 2 from 8."""
    return 0 if len(word) < 5 else 1 if len(word) < 8 else 2


class PlaceMatcher:
    """Finds gazetteer places in folded texts (see the module docstring).

    Parameters
    ----------
    gazetteer
        A :func:`jobs.osint.gazetteer.build_gazetteer` table.
    fuzzy
        Also read words with slips (default); off, only exact aliases match.
    """

    def __init__(self, gazetteer: pa.Table, *, fuzzy: bool = True):
        kinds = gazetteer["kind"].to_pylist()
        rank = {k: i for i, k in enumerate(KINDS)}
        by_alias: dict[str, list[int]] = {}
        for i, names in enumerate(gazetteer["aliases"].to_pylist()):
            for a in names or []:
                by_alias.setdefault(a, []).append(i)
        self.places = {a: sorted(ix, key=lambda i: (rank.get(kinds[i], len(KINDS)), i)) for a, ix in by_alias.items()}
        self.trie = PhraseTrie(list(self.places))
        words = {w for a in self.places for w in a.split()}
        self.words = frozenset(words)
        self.vocabulary = sorted(w for w in words if max_slips(w) and w.isalpha())
        self.fuzzy = fuzzy and bool(self.vocabulary)

    def find(self, folded: list[str]) -> list[PlaceHit]:
        """Every place mention of each folded text (:func:`fold_places`), exact ones first."""
        if not self.trie:
            return []
        hits = [h for i, t in enumerate(folded) for h in self._exact(i, t)]
        if self.fuzzy:
            hits += self._fuzzy(folded, {(h.row, h.start) for h in hits})
        return hits

    def _exact(self, row: int, text: str, offsets: np.ndarray | None = None, score=None) -> list[PlaceHit]:
        out = []
        for s, e, alias in self.trie.finditer(text):
            ix = self.places[alias]
            if offsets is not None:
                s, e = int(offsets[s]), int(offsets[e - 1]) + 1
            out.append(PlaceHit(row, s, e, ix[0], (1.0 if score is None else score(s, e, alias)) / len(ix), alias,
                                len(ix)))
        return out

    def corrections(self, candidates: list[str]) -> dict[str, str]:
        """Each candidate word that is one gazetteer word with slips -> that word (ties: no correction)."""
        from rapidfuzz.distance import OSA
        from rapidfuzz.process import cdist

        if not candidates:
            return {}
        out: dict[str, str] = {}
        vocab = self.vocabulary
        lengths = np.array([len(v) for v in vocab])
        for lo in range(0, len(candidates), 4096):
            chunk = candidates[lo:lo + 4096]
            d = cdist(chunk, vocab, scorer=OSA.distance, score_cutoff=2, dtype=np.int8, workers=1)
            for q, row in zip(chunk, d):
                limit = max_slips(q)
                ok = (row <= limit) & (np.minimum(lengths, len(q)) >= 5)
                if not ok.any():
                    continue
                best = row[ok].min()
                winners = np.flatnonzero(ok & (row == best))
                if len(winners) == 1 and vocab[winners[0]][0] == q[0]:
                    out[q] = vocab[winners[0]]
        return out

    def _fuzzy(self, folded: list[str], taken: set) -> list[PlaceHit]:
        from rapidfuzz import fuzz

        per_row = []
        distinct: set[str] = set()
        for i, t in enumerate(folded):
            c = [m for m in _CANDIDATE.finditer(t) if m.group() not in self.words]
            if c:
                per_row.append((i, c))
                distinct.update(m.group() for m in c)
        fixes = self.corrections(sorted(distinct))
        out = []
        for i, cands in per_row:
            fixed = [(m.start(), m.end(), fixes[m.group()]) for m in cands if m.group() in fixes]
            if not fixed:
                continue
            text, offsets = _rewrite(folded[i], fixed)
            starts = [s for s, _, _ in fixed]

            def score(s, e, alias, t=folded[i]):
                return fuzz.ratio(" ".join(t[s:e].split()), alias) / 100.0

            for h in self._exact(i, text, offsets, score):
                if (i, h.start) not in taken and any(h.start <= s < h.end for s in starts):
                    out.append(h)
        return out


def _rewrite(text: str, fixes: list[tuple[int, int, str]]) -> tuple[str, np.ndarray]:
    """``text`` with spans replaced, and for each character of the result its position in ``text``."""
    parts, pos, last = [], [], 0
    for s, e, word in fixes:
        parts.append(text[last:s])
        pos.append(np.arange(last, s))
        parts.append(word)
        # the corrected word's characters point into the span written, its last one at the span's end
        at = np.minimum(s + np.arange(len(word)), e - 1)
        at[-1] = e - 1
        pos.append(at)
        last = e
    parts.append(text[last:])
    pos.append(np.arange(last, len(text)))
    return "".join(parts), np.concatenate(pos)
