"""Keyed pseudonymisation of identifier columns (phones, IMEI/IMSI, accounts, handles, names).

Silver tables never hold a raw identifier: ingestion replaces each one by a
keyed hash so that the same person, phone or account still joins across
sources (a CDR's caller, a person record's phone list, a subscriber register)
while the value itself cannot be read back or brute-forced without the key.

The key is passed in as bytes; callers read it from the environment
(``CRIMEFUSION_PSEUDONYM_KEY``), never from a file. :data:`DEMO_KEY` is the
public key used for the bundled synthetic demo data only.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Public key for the bundled synthetic demo data only. It is printed here on
#: purpose: synthetic identifiers are not secret. Real deployments must pass a
#: random key of at least 32 bytes read from the environment.
DEMO_KEY: bytes = b"crimefusion-demo-key-not-secret-0001"

#: Number of hex characters kept from the HMAC-SHA256 digest (16 bytes = 128 bits).
HEX_CHARS = 32

Kind = Literal["phone", "imei", "imsi", "account", "handle", "name", "email", "raw"]
KINDS: tuple[str, ...] = ("phone", "imei", "imsi", "account", "handle", "name", "email", "raw")

_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


#: A key shorter than this is refused: HMAC-SHA256's security rests on the key (RFC 2104 section 3).
MIN_KEY_BYTES = 32
#: The placeholder shipped in ``infra/.env.example``: a deployment that kept it has no secret at all.
PLACEHOLDER_PREFIX = "CHANGE_ME"


def key_problem(key: str | None, *, deployment: str, raw_identifiers: bool = False) -> str | None:
    """Why ``key`` cannot pseudonymise identifiers in this deployment, or ``None`` when it can.

    Checked when settings load (so the Dagster code location and the CLI refuse to start), not only
    when the silver step runs: a cluster deployment needs a key; any key given must be at least
    :data:`MIN_KEY_BYTES` bytes and not the shipped placeholder.
    """
    if raw_identifiers:
        return None
    if not key:
        if deployment == "cluster":
            return ("no pseudonymisation key: set CRIMEFUSION_PSEUDONYM_KEY (a random secret of at least "
                    f"{MIN_KEY_BYTES} bytes, e.g. `openssl rand -hex 32`) for a cluster deployment; "
                    "see docs/operations.md")
        return None
    if key.strip().upper().startswith(PLACEHOLDER_PREFIX):
        return ("CRIMEFUSION_PSEUDONYM_KEY is still the shipped placeholder (CHANGE_ME...): set a random secret "
                f"of at least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)")
    if len(key.encode("utf-8")) < MIN_KEY_BYTES:
        return (f"CRIMEFUSION_PSEUDONYM_KEY is {len(key.encode('utf-8'))} bytes; use a random secret of at least "
                f"{MIN_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)")
    return None


def normalise(
    values: pa.Array | pa.ChunkedArray,
    *,
    kind: Kind,
    default_country_code: str = "1",
) -> pa.Array | pa.ChunkedArray:
    """Bring identifiers to one canonical spelling before hashing.

    Parameters
    ----------
    values
        Arrow string (or large string) array; nulls stay null.
    kind
        ``phone``: E.164 digits without ``+`` (``+1 (312) 555-0123``,
        ``001 312 555 0123`` and ``312.555.0123`` all become ``13125550123``;
        a bare 10-digit national number gets ``default_country_code``).
        ``imei``: the 14 identifying digits (TAC + serial), so an IMEI with or
        without its Luhn check digit, or an IMEISV, gives the same value.
        ``imsi``: digits only. ``account``: alphanumerics only, upper case
        (``US12 CFBK 0000...`` equals ``US12CFBK0000...``). ``handle``: trimmed,
        leading ``@`` dropped, case-folded. ``name``: trimmed, inner whitespace
        collapsed, case-folded. ``email``: trimmed, lower case. ``raw``: as is.
    default_country_code
        Country calling code prepended to 10-digit national phone numbers.

    Returns
    -------
    Arrow string array of the same length; an identifier that normalises to
    the empty string becomes null.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise TypeError(f"pseudonymise expects a string array, got {values.type}; cast it to string first")
    if kind == "raw":
        return values
    if kind == "phone":
        if not default_country_code.isdigit():
            raise ValueError(f"default_country_code must be digits, got {default_country_code!r}")
        v = pc.utf8_trim_whitespace(values)
        v = pc.replace_substring_regex(v, pattern=r"^00", replacement="+")
        has_plus = pc.starts_with(v, "+")
        d = pc.replace_substring_regex(v, pattern=r"\D", replacement="")
        national = pc.and_(pc.invert(has_plus), pc.equal(pc.utf8_length(d), 10))
        # a leading 1 with 11 digits is already a NANP number with country code
        out = pc.if_else(national, pc.binary_join_element_wise(default_country_code, d, ""), d)
    elif kind == "imei":
        d = pc.replace_substring_regex(values, pattern=r"\D", replacement="")
        out = pc.utf8_slice_codeunits(d, 0, 14)
    elif kind == "imsi":
        out = pc.replace_substring_regex(values, pattern=r"\D", replacement="")
    elif kind == "account":
        out = pc.utf8_upper(pc.replace_substring_regex(values, pattern=r"[^0-9A-Za-z]", replacement=""))
    elif kind == "handle":
        v = pc.utf8_trim_whitespace(values)
        v = pc.replace_substring_regex(v, pattern=r"^@+", replacement="")
        out = pc.utf8_lower(v)
    elif kind == "name":
        v = pc.utf8_trim_whitespace(values)
        v = pc.replace_substring_regex(v, pattern=r"\s+", replacement=" ")
        out = pc.utf8_lower(v)
    else:  # email
        out = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    empty = pc.equal(pc.utf8_length(out), 0)
    return pc.if_else(empty, pa.scalar(None, out.type), out)


def _hmac_hex(unique: list[bytes | None], key: bytes, domain: bytes, hex_chars: int) -> list[str | None]:
    # HMAC-SHA256 (RFC 2104) with the key pads hashed once and copied per value:
    # about 3x faster than hmac.digest() per call on CPython.
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner0 = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer0 = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    inner0.update(domain)
    out: list[str | None] = []
    append = out.append
    for v in unique:
        if v is None:
            append(None)
            continue
        inner = inner0.copy()
        inner.update(v)
        outer = outer0.copy()
        outer.update(inner.digest())
        append(outer.hexdigest()[:hex_chars])
    return out


def pseudonymise(
    values: pa.Array | pa.ChunkedArray,
    *,
    key: bytes,
    kind: Kind = "raw",
    prefix: bool = False,
    normalise_first: bool = True,
    default_country_code: str = "1",
    hex_chars: int = HEX_CHARS,
) -> pa.Array:
    """Replace identifiers by keyed pseudonyms: ``hex(HMAC-SHA256(key, kind || 0x00 || value))[:32]``.

    Parameters
    ----------
    values
        Arrow string array (or chunked array), or a list-of-string array such
        as ``persons.phones`` (each element is pseudonymised, lists kept).
    key
        Secret key bytes (at least 16 bytes). Callers read it from the
        environment; use :data:`DEMO_KEY` only for the bundled demo data.
    kind
        Identifier type: selects the normalisation (see :func:`normalise`)
        and is hashed in as a domain separator, so the same digits as a phone
        and as an IMSI give unrelated pseudonyms.
    prefix
        Prepend ``"<kind>:"`` to each pseudonym (readable in link charts).
    normalise_first
        Normalise before hashing (default). Turn off only for values already
        normalised upstream.
    default_country_code
        Used by phone normalisation for 10-digit national numbers.
    hex_chars
        Hex characters kept (default 32 = 128 bits; collision chance for
        10^9 distinct values about 1.5e-21). Between 16 and 64.

    Returns
    -------
    pyarrow.Array of strings (a list array for list input); null in, null out.

    Notes
    -----
    HMAC is Krawczyk, Bellare & Canetti, RFC 2104 (1997), over SHA-256
    (FIPS 180-4). Identifier columns repeat heavily (a phone appears in
    thousands of CDRs), so values are dictionary-encoded in Arrow first and
    each distinct value is hashed once; the cost is linear in the number of
    distinct values plus a vectorised ``take``; normalisation too runs on the
    distinct spellings only.
    """
    _check(key, kind, hex_chars)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not isinstance(values, pa.Array):
        raise TypeError(f"values must be a pyarrow Array, got {type(values).__name__}")
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        flat = pseudonymise(
            values.flatten(), key=key, kind=kind, prefix=prefix, normalise_first=normalise_first,
            default_country_code=default_country_code, hex_chars=hex_chars,
        )
        offsets = pc.subtract(values.offsets, values.offsets[0])  # sliced arrays start above 0
        cls = pa.LargeListArray if pa.types.is_large_list(values.type) else pa.ListArray
        return cls.from_arrays(offsets, flat, mask=values.is_null())
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if len(values) == 0:
        return pa.array([], pa.string())
    # normalise and hash each distinct raw spelling once, then expand with a vectorised take
    encoded = pc.dictionary_encode(values)
    spellings = encoded.dictionary
    if normalise_first:
        spellings = normalise(spellings, kind=kind, default_country_code=default_country_code)
    return _expand(encoded, spellings, key=key, kind=kind, prefix=prefix, hex_chars=hex_chars)


def pseudonymise_encoded(
    encoded: pa.DictionaryArray,
    normalised: pa.Array,
    *,
    key: bytes,
    kind: Kind = "raw",
    hex_chars: int = HEX_CHARS,
    cache: "PseudonymCache | None" = None,
) -> pa.Array:
    """:func:`pseudonymise` of a dictionary-encoded string array whose dictionary the caller has already
    normalised (``normalised[i]`` is :func:`normalise` of ``encoded.dictionary[i]``).

    The same pseudonyms as ``pseudonymise(encoded.dictionary.take(encoded.indices), key=key, kind=kind)``,
    without encoding and normalising the values a second time when the caller needed them too (ingestion
    checks which identifiers normalise to nothing before it hashes them). ``cache``: pseudonyms of values
    hashed before under the same key (batches of one ingest share most identifiers).
    """
    _check(key, kind, hex_chars)
    if len(normalised) != len(encoded.dictionary):
        raise ValueError(f"normalised has {len(normalised)} values for a dictionary of {len(encoded.dictionary)}")
    return _expand(encoded, normalised, key=key, kind=kind, prefix=False, hex_chars=hex_chars, cache=cache)


class PseudonymCache:
    """Pseudonyms already computed under one key, by kind and normalised value: the batches of one ingest
    repeat the same phones, IMEIs and accounts, and each HMAC costs about 1.5 µs of Python.

    Bounded: once it holds :attr:`LIMIT` values it starts afresh (about 60 MB at the limit), so memory does
    not grow with the identifiers of a source. A cache is tied to the key it was filled under.
    """

    #: Values held before the cache starts afresh.
    LIMIT = 1 << 18

    def __init__(self, key: bytes) -> None:
        self.key = bytes(key)
        self.values: dict[tuple[str, int], dict[bytes, str]] = {}
        self.size = 0

    def hexes(self, spellings: list[bytes | None], key: bytes, kind: str, hex_chars: int) -> list[str | None]:
        if bytes(key) != self.key:
            raise ValueError("a pseudonym cache serves the key it was filled under only")
        known = self.values.setdefault((kind, hex_chars), {})
        missing = [v for v in spellings if v is not None and v not in known]
        if missing:
            if self.size + len(missing) > self.LIMIT:
                self.values, self.size = {}, 0
                known = self.values.setdefault((kind, hex_chars), {})
            known.update(zip(missing, _hmac_hex(missing, key, kind.encode() + b"\x00", hex_chars)))
            self.size += len(missing)
        get = known.get
        return [None if v is None else get(v) for v in spellings]


def _check(key, kind: str, hex_chars: int) -> None:
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"key must be bytes, got {type(key).__name__}; encode the environment value first")
    if len(key) < 16:
        raise ValueError(f"key is {len(key)} bytes; use at least 16 random bytes (32 recommended)")
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not 16 <= hex_chars <= 64:
        raise ValueError(f"hex_chars must be between 16 and 64, got {hex_chars}")


def _expand(encoded: pa.DictionaryArray, spellings: pa.Array, *, key: bytes, kind: str, prefix: bool,
            hex_chars: int, cache: PseudonymCache | None = None) -> pa.Array:
    """Hash each distinct spelling once and give every value of ``encoded`` its spelling's pseudonym."""
    uniq = pc.dictionary_encode(spellings)
    distinct = [None if u is None else u.encode("utf-8") for u in uniq.dictionary.to_pylist()]
    hashed = cache.hexes(distinct, bytes(key), kind, hex_chars) if cache is not None else \
        _hmac_hex(distinct, bytes(key), kind.encode() + b"\x00", hex_chars)
    if prefix:
        hashed = [None if h is None else f"{kind}:{h}" for h in hashed]
    # the two index arrays compose first, then one gather of the strings
    return _gathered(hashed, uniq.indices.take(encoded.indices), len(kind) + 1 + hex_chars if prefix else hex_chars)


def _gathered(values: list[str | None], indices: pa.Array, width: int) -> pa.Array:
    """``pa.array(values).take(indices)`` for ASCII strings all ``width`` bytes long: a gather of fixed-width
    rows into the string array's data buffer (offsets are multiples of ``width``), several times faster
    than Arrow's variable-width take."""
    n = len(indices)
    if n * width >= 2**31 - 1 or not values:  # beyond 32-bit offsets: the plain take
        return pa.array(values, pa.string()).take(indices)
    absent = np.array([v is None for v in values], dtype=bool)
    table = np.frombuffer(b"".join(b"\0" * width if v is None else v.encode("ascii") for v in values),
                          dtype=f"S{width}")
    at = pc.fill_null(indices, 0).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    null = absent[at]
    if indices.null_count:
        null |= indices.is_null().to_numpy(zero_copy_only=False)
    data = np.ascontiguousarray(table[at])
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    nulls = int(null.sum())
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), validity, nulls)


def pseudonymise_columns(
    table: pa.Table,
    columns: dict[str, Kind],
    *,
    key: bytes,
    prefix: bool = False,
    default_country_code: str = "1",
) -> pa.Table:
    """Pseudonymise several identifier columns of a table in place of the raw values.

    Parameters
    ----------
    table
        Any Arrow table.
    columns
        Column name -> identifier kind, e.g. ``{"a_number": "phone", "imei": "imei"}``.
    key, prefix, default_country_code
        As in :func:`pseudonymise`.

    Returns
    -------
    The table with those columns replaced (same names, same positions).
    """
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"columns {missing} not in table; it has {table.column_names}")
    for name, kind in columns.items():
        i = table.column_names.index(name)
        col = pseudonymise(table.column(name), key=key, kind=kind, prefix=prefix,
                           default_country_code=default_country_code)
        table = table.set_column(i, pa.field(name, col.type), col)
    return table
