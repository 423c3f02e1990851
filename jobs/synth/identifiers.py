"""Raw identifiers as operators, banks and platforms print them: MSISDNs, IMEIs, IMSIs, IBAN-like accounts, names."""

from __future__ import annotations

import numpy as np

# Type allocation codes (first 8 IMEI digits) of common handset makers' ranges.
TACS = np.array(
    ["35332509", "35891603", "35467810", "86769403", "35209911", "35684610",
     "35391110", "35925406", "86400004", "35254208", "35699808", "35328115"]
)
BURNER_TACS = np.array(["35171005", "35874406", "86012301"])  # cheap feature phones
CHICAGO_AREA_CODES = np.array([312, 773, 872])
MCC_MNC = np.array(["310260", "310410", "311480"])  # T-Mobile, AT&T, Verizon (US)
BANK_CODES = np.array(["CFBK", "LKSD", "MWBT", "PRRB", "GLCU"])

FIRST_NAMES = np.array([
    "James", "Michael", "Robert", "John", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Andrew", "Kenneth", "Joshua",
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Jose", "Luis", "Carlos", "Juan", "Miguel", "Maria", "Guadalupe", "Rosa", "Ana", "Alejandro",
    "DeShawn", "Jamal", "Tyrone", "Darnell", "Malik", "Keisha", "Tanisha", "Latoya", "Aaliyah", "Imani",
    "Piotr", "Krzysztof", "Agnieszka", "Katarzyna", "Tomasz", "Wei", "Mei", "Ahmed", "Fatima", "Omar",
])
NICKNAMES = {
    "James": "Jim", "Michael": "Mike", "Robert": "Bob", "William": "Bill", "Richard": "Rick",
    "Joseph": "Joe", "Thomas": "Tom", "Charles": "Chuck", "Christopher": "Chris", "Daniel": "Dan",
    "Matthew": "Matt", "Anthony": "Tony", "Kenneth": "Ken", "Joshua": "Josh", "Elizabeth": "Liz",
    "Patricia": "Pat", "Jennifer": "Jen", "Jessica": "Jess", "Alejandro": "Alex", "Katarzyna": "Kasia",
    "Jose": "Pepe", "Guadalupe": "Lupe", "Krzysztof": "Chris", "Tomasz": "Tom", "Andrew": "Andy",
}
LAST_NAMES = np.array([
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Washington", "Jefferson", "Coleman", "Kowalski", "Nowak", "Wisniewski", "Kaminski", "Chen", "Wang", "Khan",
    "O'Brien", "Murphy", "Sullivan", "Reyes", "Morales", "Gutierrez", "Banks", "Freeman", "Holmes", "Dixon",
])


def unique_ints(rng: np.random.Generator, high: int, n: int) -> np.ndarray:
    """``n`` distinct integers in ``[0, high)`` in random order."""
    if n > high:
        raise ValueError(f"cannot draw {n} distinct values from {high}")
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        draw = rng.integers(0, high, size=int((n - out.size) * 1.3) + 16)
        merged = np.concatenate([out, draw])
        _, first = np.unique(merged, return_index=True)
        out = merged[np.sort(first)]
    return out[:n]


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) digit matrix of non-negative integers, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10


def luhn_check_digit(payload: np.ndarray) -> np.ndarray:
    """Luhn check digit of each row of a (n, k) digit matrix (ISO/IEC 7812-1)."""
    d = payload.astype(np.int64).copy()
    k = d.shape[1]
    # the digit right of the payload is the check digit, so the payload's last digit is doubled
    dbl = np.arange(k)[::-1] % 2 == 0
    doubled = d[:, dbl] * 2
    d[:, dbl] = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - d.sum(axis=1) % 10) % 10


def _join_digits(m: np.ndarray) -> np.ndarray:
    return np.array(["".join(map(str, row)) for row in m.tolist()], dtype=object)


def msisdns(rng: np.random.Generator, n: int) -> np.ndarray:
    """E.164 Chicago numbers (``+1312555xxxx``); exchange 555 while it fits, else 200-999."""
    if n <= 3 * 10_000 // 2:
        sub = unique_ints(rng, 3 * 10_000, n)
        area = CHICAGO_AREA_CODES[sub // 10_000]
        exch = np.full(n, 555)
        line = sub % 10_000
    else:
        sub = unique_ints(rng, 3 * 800 * 10_000, n)
        area = CHICAGO_AREA_CODES[sub // (800 * 10_000)]
        exch = 200 + (sub // 10_000) % 800
        line = sub % 10_000
    num = area.astype(np.int64) * 10_000_000 + exch * 10_000 + line
    return np.array([f"+1{x}" for x in num.tolist()], dtype=object)


def imeis(rng: np.random.Generator, n: int, *, tacs: np.ndarray = TACS) -> np.ndarray:
    """15-digit IMEIs: TAC + 6-digit serial + Luhn check digit (3GPP TS 23.003)."""
    tac = tacs[rng.integers(0, len(tacs), n)]
    serial = unique_ints(rng, 1_000_000, n) if n <= 500_000 else rng.integers(0, 1_000_000, n)
    tac_d = np.array([[int(c) for c in t] for t in tac.tolist()], dtype=np.int64).reshape(n, 8)
    payload = np.concatenate([tac_d, _digits(serial, 6)], axis=1)
    full = np.concatenate([payload, luhn_check_digit(payload)[:, None]], axis=1)
    return _join_digits(full)


def imsis(rng: np.random.Generator, n: int) -> np.ndarray:
    """15-digit IMSIs: MCC 310/311 + 3-digit MNC + 9-digit MSIN."""
    plmn = MCC_MNC[rng.integers(0, len(MCC_MNC), n)]
    msin = unique_ints(rng, 10**9, n)
    return np.array([f"{p}{m:09d}" for p, m in zip(plmn.tolist(), msin.tolist())], dtype=object)


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 / ISO 7064 MOD 97-10 check digits."""
    s = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in s)
    return f"{98 - int(num) % 97:02d}"


def accounts(rng: np.random.Generator, n: int) -> np.ndarray:
    """IBAN-format account numbers (``US`` + check digits + bank code + 14 digits).

    The United States has no IBAN; the format is kept so that validation and
    normalisation code paths are exercised.
    """
    bank = BANK_CODES[rng.integers(0, len(BANK_CODES), n)]
    num = unique_ints(rng, 10**14, n)
    out = []
    for b, x in zip(bank.tolist(), num.tolist()):
        bban = f"{b}{x:014d}"
        out.append(f"US{iban_check_digits('US', bban)}{bban}")
    return np.array(out, dtype=object)


def iban_spaced(acct: np.ndarray) -> np.ndarray:
    """Print form with a space every four characters, as on statements."""
    return np.array([" ".join(a[i:i + 4] for i in range(0, len(a), 4)) for a in acct.tolist()], dtype=object)


def national_format(phone: np.ndarray) -> np.ndarray:
    """``+13125550123`` -> ``(312) 555-0123``."""
    return np.array([f"({p[2:5]}) {p[5:8]}-{p[8:]}" for p in phone.tolist()], dtype=object)


def names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last names drawn from lists typical of Chicago."""
    return (FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)].astype(object),
            LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)].astype(object))


def handles(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Unique social-media handles derived from names, with mixed case as users type them."""
    styles = rng.integers(0, 4, len(first))
    nums = rng.integers(1, 999, len(first))
    seen: set[str] = set()
    out = []
    for f, l, s, k in zip(first.tolist(), last.tolist(), styles.tolist(), nums.tolist()):
        l = l.replace("'", "")
        base = [f"{f}{l}", f"{f[0]}{l}{k}", f"{f.lower()}_{l.lower()}", f"{l}{f[:3]}{k}"][s]
        h, j = base, 1
        while h.lower() in seen:
            h, j = f"{base}{j}", j + 1
        seen.add(h.lower())
        out.append(h)
    return np.array(out, dtype=object)
