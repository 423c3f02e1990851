"""Short, stable aliases for phone pseudonyms: ``P-7F3KQ`` instead of 32 hex characters.

An analyst reads, says and writes down ``P-7F3KQ``; the link charts show it as the node's label and keep
the full pseudonym in the side panel, and ``crimefusion links chart --phone``/``timeline`` accept either.
The alias is a hash of the pseudonym, so the same pseudonym has the same alias in every chart, every run
and every deployment that shares the pseudonymisation key; it reveals nothing the pseudonym does not.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

__all__ = ["ALIAS_LENGTH", "ALIAS_PREFIX", "alias_map", "phone_alias", "resolve_phone"]

ALIAS_PREFIX = "P-"
#: Characters after the prefix: 25 bits, so a set of n phones has about n²/2**26 colliding pairs
#: (0.17 for the 3,388 phones of the bundled data, which have none).
ALIAS_LENGTH = 5
#: Crockford's base 32: digits and capitals without I, L, O and U, which read as 1, 1, 0 and V.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MAX_LENGTH = 12  # 60 of the digest's first 64 bits
_ALIAS = re.compile(r"^P-[0-9A-HJKMNP-TV-Z]{%d,%d}$" % (ALIAS_LENGTH, _MAX_LENGTH))


def phone_alias(pseudonym: str, length: int = ALIAS_LENGTH) -> str:
    """``P-`` and the first ``length`` base-32 characters of the SHA-256 of ``pseudonym``.

    Parameters
    ----------
    pseudonym
        A phone identifier as the lake stores it (an HMAC pseudonym, or a number where raw identifiers
        are allowed).
    length
        Characters after ``P-``, 1 to 12.

    Notes
    -----
    Crockford's base 32 (crockford.com/base32.html) avoids letters read as digits. The alias is
    unkeyed: it adds no secret to the pseudonym and takes none away.
    """
    if not isinstance(pseudonym, str) or not pseudonym:
        raise ValueError(f"a phone alias needs a non-empty pseudonym, got {pseudonym!r}")
    if not 1 <= length <= _MAX_LENGTH:
        raise ValueError(f"alias length must be 1 to {_MAX_LENGTH}, got {length}")
    bits = int.from_bytes(hashlib.sha256(pseudonym.encode("utf-8")).digest()[:8], "big")
    return ALIAS_PREFIX + "".join(_ALPHABET[(bits >> (59 - 5 * i)) & 31] for i in range(length))


def alias_map(pseudonyms: Iterable[str], length: int = ALIAS_LENGTH) -> dict[str, str]:
    """Pseudonym -> alias for every distinct pseudonym, unique within the set.

    Pseudonyms whose ``length``-character aliases collide all get two more characters (and again, until
    they differ); every other pseudonym keeps :func:`phone_alias`. So an alias changes only for a
    pseudonym that shares its alias with another one of the same set: pass the set the aliases must
    tell apart (a lake's phones, a chart's).
    """
    distinct = sorted({p for p in pseudonyms if p is not None})
    out: dict[str, str] = {}
    pending, n = distinct, length
    while pending:
        groups: dict[str, list[str]] = defaultdict(list)
        for p in pending:
            groups[phone_alias(p, n)].append(p)
        pending = []
        for alias, members in groups.items():
            if len(members) == 1:
                out[members[0]] = alias
            elif n + 2 > _MAX_LENGTH:
                raise ValueError(f"pseudonyms {members[:2]} share their first 60 hash bits; they cannot get aliases")
            else:
                pending += members
        n += 2
    return out


def resolve_phone(text: str, aliases: Mapping[str, str]) -> str:
    """The pseudonym that ``text`` names: a pseudonym of ``aliases``, or an alias (``P-7F3KQ``, any case,
    ``P-`` optional); ValueError saying what was searched otherwise."""
    value = (text or "").strip()
    if value in aliases:
        return value
    key = value.upper()
    if not key.startswith(ALIAS_PREFIX):
        key = ALIAS_PREFIX + key
    if _ALIAS.match(key):
        hits = [p for p, a in aliases.items() if a == key or (a.startswith(key) and len(key) >= len(ALIAS_PREFIX) + ALIAS_LENGTH)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ValueError(f"alias {key} is ambiguous: {', '.join(sorted(aliases[p] for p in hits))}; give one of those")
    lowered = value.lower()
    prefixed = [p for p in aliases if len(lowered) >= 8 and p.lower().startswith(lowered)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise ValueError(f"{value!r} starts {len(prefixed)} pseudonyms; give more characters or the P- alias")
    raise ValueError(f"no phone {value!r} among the {len(aliases):,} phones of the call networks: give a P- alias "
                     "(as the charts show it) or a pseudonym")
