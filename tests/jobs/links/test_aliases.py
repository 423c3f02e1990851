"""Short aliases of phone pseudonyms: format, stability, uniqueness, and finding a phone by alias."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from jobs.links.aliases import ALIAS_LENGTH, alias_map, phone_alias, resolve_phone
from tests.helpers import REPO
from tests.jobs.links import bundled

FORMAT = re.compile(r"^P-[0-9A-HJKMNP-TV-Z]{5}$")  # Crockford base 32: no I, L, O, U


def test_format():
    for p in ("8c29d89fe250cd95b05209b6dfe30738", "+13125550100", "x"):
        assert FORMAT.match(phone_alias(p)), phone_alias(p)
    assert len(phone_alias("x", 9)) == 2 + 9 and phone_alias("x", 9).startswith(phone_alias("x"))
    for bad, length in (("", 5), (None, 5), ("x", 0), ("x", 13)):
        with pytest.raises(ValueError):
            phone_alias(bad, length)


def test_stable_across_runs_and_processes():
    # pinned: a demo phone's alias in the README and the charts; a change here renames every phone
    assert phone_alias("8c29d89fe250cd95b05209b6dfe30738") == "P-DD6NF"
    code = "from jobs.links.aliases import phone_alias; print(phone_alias('8c29d89fe250cd95b05209b6dfe30738'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=REPO)
    assert out.stdout.strip() == "P-DD6NF"  # no per-process hash salt


def test_unique_on_the_bundled_data():
    phones = bundled.phones()
    assert len(phones) == 3388
    aliases = alias_map(phones)
    assert len(set(aliases.values())) == len(phones)
    # no collision to resolve: every phone shows its plain alias, whatever chart it is in
    assert aliases == {p: phone_alias(p) for p in phones}
    assert alias_map(phones[:100]) == {p: aliases[p] for p in phones[:100]}


def test_collisions_get_longer_aliases_only_where_they_collide():
    # one character: 32 values, so 40 strings must collide somewhere
    names = [f"phone-{i}" for i in range(40)]
    short = alias_map(names, length=1)
    assert len(set(short.values())) == 40
    base = {p: phone_alias(p, 1) for p in names}
    clash = {p for p in names if sum(base[q] == base[p] for q in names) > 1}
    assert clash and all(len(short[p]) > 3 for p in clash)
    assert all(short[p] == base[p] for p in names if p not in clash)
    assert all(short[p].startswith(base[p]) for p in names)
    assert alias_map([]) == {} and alias_map(["a", "a", None]) == {"a": phone_alias("a")}


@pytest.mark.parametrize("text", ["P-DD6NF", "p-dd6nf", "DD6NF", " dd6nf ", "8c29d89fe250cd95b05209b6dfe30738",
                                  "8c29d89fe250"])
def test_resolve_phone(text):
    aliases = alias_map(["8c29d89fe250cd95b05209b6dfe30738", "fd609339e7b48d4cec4b2a69351daa6e"])
    assert resolve_phone(text, aliases) == "8c29d89fe250cd95b05209b6dfe30738"


def test_resolve_phone_errors():
    aliases = alias_map(["8c29d89fe250cd95b05209b6dfe30738", "8c29d89fe250ffff05209b6dfe30738"])
    with pytest.raises(ValueError, match="no phone 'P-ZZZZZ' among the 2 phones"):
        resolve_phone("P-ZZZZZ", aliases)
    with pytest.raises(ValueError, match="starts 2 pseudonyms"):
        resolve_phone("8c29d89fe250", aliases)
    with pytest.raises(ValueError, match="no phone"):
        resolve_phone("8c29", aliases)  # too short to be a pseudonym prefix
    assert ALIAS_LENGTH == 5
