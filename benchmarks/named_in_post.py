"""Benchmark: cost of the ``named-in-post`` links (post author -> identifiers its text names) in ``entity_links``.

``entity_links`` recomputes these links whole whenever ``gold/osint_mentions`` or ``silver/osint_posts``
moved (docs/osint.md, "Links from post text"); this prints what that costs. On the lake's own posts
(``--lake``, default ``./lake``, read only): the identifier mentions are extracted from the silver posts
(``extract_mentions`` with no gazetteer: identifiers need none; or gold ``osint_mentions`` when the lake has
it), then the read of identifiers and authors, the partials and the ``entity_links`` kernel with and without
them are timed. Then a stress case: ``--per-post`` identifier mentions planted on every post (phones and
accounts of the person records and the CDRs, other authors' handles), the posts repeated ``--scale`` times.

    .venv/bin/python benchmarks/named_in_post.py
    .venv/bin/python benchmarks/named_in_post.py --per-post 3 --scale 10
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.fusion.entities import entity_links, named_in_post_partials
from jobs.ingest.pseudonymise import DEMO_KEY
from jobs.osint.gazetteer import GAZETTEER
from jobs.osint.mentions import OSINT_MENTIONS, extract_mentions
from orchestration.fusion import inputs
from orchestration.resources.lakehouse import LocalLakehouse


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t0:.3f} s")
    return out


def measure(title: str, mentions: pa.Table, posts: pa.Table, persons: pa.Table | None) -> None:
    """Time the read of a lake holding ``mentions`` and ``posts``, the partials and the links kernel."""
    print(f"{title}: {posts.num_rows:,} posts, {mentions.num_rows:,} mention rows")
    lake = LocalLakehouse(root=tempfile.mkdtemp(prefix="named_in_post_"))
    lake.overwrite("gold", "osint_mentions", mentions)
    lake.overwrite("silver", "osint_posts", posts.select(["post_id", "author", "posted_at"]))
    ids, authors = timed("read identifier mentions and authors", lambda: inputs.named_identifiers(lake))
    parts = timed(f"named_in_post_partials of {ids.num_rows:,} identifier rows",
                  lambda: named_in_post_partials(ids, authors))
    base = timed("entity_links (persons) without them", lambda: entity_links(persons=persons))
    links = timed("entity_links (persons) with them", lambda: entity_links(persons=persons, posts=authors, mentions=ids))
    named = links.filter(pc.equal(links["link_type"], "named-in-post"))
    kinds = {d["values"]: d["counts"] for d in pc.value_counts(pc.utf8_slice_codeunits(named["dst"], 0, 5)).to_pylist()}
    print(f"  {parts.num_rows:,} pairs -> {named.num_rows:,} named-in-post links {kinds}; "
          f"links {base.num_rows:,} -> {links.num_rows:,}")


def planted(posts: pa.Table, targets: np.ndarray, per_post: int, scale: int, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    """``scale`` copies of the posts, each naming ``per_post`` random ``kind:value`` targets."""
    rng = np.random.default_rng(seed)
    copies = [posts.set_column(posts.schema.get_field_index("post_id"), "post_id",
                               pc.binary_join_element_wise(posts["post_id"], pa.scalar(f"#{c}"), ""))
              for c in range(scale)]
    many = pa.concat_tables(copies)
    idx = np.repeat(np.arange(many.num_rows), per_post)
    kind_value = np.array([t.split(":", 1) for t in rng.choice(targets, len(idx))], dtype=object)
    n = len(idx)
    cols = {"post_id": pc.take(many["post_id"], pa.array(idx)), "posted_at": pc.take(many["posted_at"], pa.array(idx)),
            "kind": pa.array(["identifier"] * n), "subkind": pa.array(kind_value[:, 0], pa.string()),
            "span_start": pa.array(np.zeros(n, np.int32)), "span_end": pa.array(np.ones(n, np.int32)),
            "value": pa.array(kind_value[:, 1], pa.string()), "score": pa.array(np.ones(n)),
            "method": pa.array(["pattern"] * n), "language": pa.array(["en"] * n)}
    return pa.table({f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in OSINT_MENTIONS}, schema=OSINT_MENTIONS), many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", default="lake", help="lakehouse root to read (read only)")
    ap.add_argument("--per-post", type=int, default=3, help="identifiers planted per post in the stress case")
    ap.add_argument("--scale", type=int, default=10, help="copies of the posts in the stress case")
    args = ap.parse_args()
    src = LocalLakehouse(root=args.lake)
    posts = src.read("silver", "osint_posts", columns=["post_id", "author", "text", "posted_at"])
    persons = src.read("silver", "persons") if src.exists("silver", "persons") else None
    if src.exists("gold", "osint_mentions"):
        mentions = src.read("gold", "osint_mentions")
    else:
        mentions = timed("extract_mentions (no gazetteer)",
                         lambda: extract_mentions(posts, GAZETTEER.empty_table(), tz="UTC", key=DEMO_KEY))
    measure("bundled posts", mentions, posts, persons)
    targets = {"handle:" + a for a in pc.unique(posts["author"]).to_pylist() if a}
    if persons is not None:
        for col, kind in (("phones", "phone"), ("accounts", "account")):
            targets |= {f"{kind}:{v}" for v in pc.list_flatten(persons[col]).to_pylist() if v}
    if src.exists("silver", "cdr_events"):
        targets |= {"phone:" + v for v in pc.unique(src.read("silver", "cdr_events", columns=["caller"])["caller"])
                    .to_pylist() if v}
    stress, many = planted(posts, np.array(sorted(targets), dtype=object), args.per_post, args.scale)
    measure(f"planted: {args.per_post} identifiers per post, posts x{args.scale}", stress, many, persons)


if __name__ == "__main__":
    main()
