"""The gazetteer: every place name a post may use, where it is, and the ways people write it.

Built from the lakehouse, so it works for any study area without a list written for one
city:

- **tagged places**: the ``place_name`` tags of the posts feed, each at the median geotag
  of the posts carrying it (:func:`jobs.fusion.context.place_gazetteer`: the feed is its
  own gazetteer);
- **areas**: the study area's boundary rows (``reference/police_districts``): their
  names, and for numbered areas "district 7", "7th district", "distrito 7" (the word
  comes from the layer's name: ``nyc_precincts`` gives "precinct");
- **streets**: street names in incident exports' block or address columns
  ("001XX W MADISON ST" gives Madison Street), at the median of their incidents;
- **landmarks**: labelled features of a spec's ``map_layers``.

Each name gets **aliases**: generic words spelled out and abbreviated ("St"/"Street",
"Ave", "Blvd", "N"/"North"...), the Spanish order of a generic word ("Parque Humboldt",
"Calle Madison", "Lawndale Norte") and two-word names written as one ("Lakeview").
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pyarrow as pa

from jobs.osint.text import fold

#: Generic words of place names and how people abbreviate them (folded; the first form is the full word).
GENERIC: dict[str, tuple[str, ...]] = {
    "street": ("street", "st", "str"), "avenue": ("avenue", "ave", "av"), "boulevard": ("boulevard", "blvd"),
    "road": ("road", "rd"), "drive": ("drive", "dr"), "lane": ("lane", "ln"), "court": ("court", "ct"),
    "place": ("place", "pl"), "square": ("square", "sq"), "park": ("park", "pk"), "parkway": ("parkway", "pkwy"),
    "highway": ("highway", "hwy"), "expressway": ("expressway", "expy"), "terrace": ("terrace", "ter"),
    "heights": ("heights", "hts"), "village": ("village", "vlg", "vil"), "center": ("center", "ctr", "centre"),
    "station": ("station", "sta"), "mount": ("mount", "mt"), "fort": ("fort", "ft"), "saint": ("saint", "st"),
    "north": ("north", "n"), "south": ("south", "s"), "east": ("east", "e"), "west": ("west", "w"),
    "shore": ("shore", "shr"), "yards": ("yards", "yds"),
}
DIRECTIONS = ("north", "south", "east", "west")
#: Spanish words for the generic words, written first ("Parque Humboldt"), and the compass words, written last.
SPANISH: dict[str, tuple[str, ...]] = {
    "street": ("calle", "c"), "avenue": ("avenida", "av", "avda"), "boulevard": ("bulevar", "boulevard"),
    "road": ("camino", "carretera"), "park": ("parque",), "square": ("plaza",), "village": ("villa",),
    "station": ("estacion",), "yards": ("patios",), "heights": ("alturas",), "place": ("plaza",),
    "north": ("norte",), "south": ("sur",), "east": ("este",), "west": ("oeste",),
}
#: Words an abbreviation in an export stands for (the first where one spelling has two meanings).
_EXPAND = {abbr: full for full, forms in GENERIC.items() for abbr in forms[1:] if full != "saint"}
ARTICLES = ("the", "el", "la", "los", "las")
#: Words for an area layer's kind, from the layer name, and their Spanish.
AREA_WORDS = {"district": "distrito", "precinct": "precinto", "beat": "sector", "ward": "distrito",
              "sector": "sector", "zone": "zona", "area": "area", "neighborhood": "barrio", "neighbourhood": "barrio"}
KINDS = ("landmark", "tagged_place", "street", "area")  # priority when two places share an alias
MAX_VARIANTS = 48

GAZETTEER = pa.schema([
    pa.field("place_id", pa.string(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("lon", pa.float64()), pa.field("lat", pa.float64()),
    pa.field("h3", pa.string()), pa.field("district", pa.string()),
    pa.field("aliases", pa.list_(pa.string())),
])


def _canonical_words(name: str) -> list[str]:
    words = fold(name).split()
    while words and words[0] in ARTICLES and len(words) > 1:
        words = words[1:]
    out = []
    for i, w in enumerate(words):
        if w == "st" and i < len(words) - 1:
            out.append("saint")  # "St Louis Ave": a St before the name is a saint, the last word a street
        else:
            out.append(_EXPAND.get(w, w))
    return out


def aliases(name: str) -> list[str]:
    """Folded spellings of ``name``: full and abbreviated generic words, the Spanish form, one-word form.

    >>> sorted(aliases("West Town"))
    ['town oeste', 'w town', 'west town']
    """
    words = _canonical_words(name)
    if not words:
        return []
    choices = [GENERIC.get(w, (w,)) for w in words]
    out = {" ".join(c) for c in itertools.islice(itertools.product(*choices), MAX_VARIANTS)}
    out |= set(_spanish(words))
    generic = [w for w in words if w in GENERIC]
    if 2 <= len(words) <= 3 and not generic:
        out.add("".join(words))
    if len(generic) == len(words):  # a name of generic words only ("South Shore"): its spellings of 4+ letters
        return sorted(a for a in out if len(a.split()) >= 2 and all(len(w) >= 4 for w in a.split()[1:]))
    return sorted(a for a in out if _distinctive(a))


def _spanish(words: list[str]) -> list[str]:
    direction = words[:1] if words[0] in DIRECTIONS and len(words) > 1 else []
    rest = words[len(direction):]
    generic = rest[-1:] if 2 <= len(rest) <= 3 and rest[-1] in SPANISH and rest[-1] not in DIRECTIONS else []
    rest = rest[:len(rest) - len(generic)]
    if not direction and not generic:
        return []
    heads = SPANISH[generic[0]] if generic else ("",)
    tails = SPANISH[direction[0]] if direction else ("",)
    return [" ".join(p for p in (h, *rest, t) if p) for h in heads for t in tails]


def _distinctive(alias: str) -> bool:
    """Whether an alias says more than generic words (a lone "park" or "north" names nothing)."""
    words = alias.split()
    spanish = {f for forms in SPANISH.values() for f in forms}
    own = [w for w in words if w not in GENERIC and w not in spanish and w not in _EXPAND and not w.isdigit()]
    if not own:
        return len(words) >= 2 and any(w.isdigit() for w in words)  # "district 7", "calle 26"
    return max(len(w) for w in own) >= 3


# -- sources --------------------------------------------------------------------------------------

def _entries(ids, names, kind: str, lon, lat, district=None) -> pa.Table:
    n = len(ids)
    return pa.table({
        "place_id": pa.array(list(ids), pa.string()), "name": pa.array(list(names), pa.string()),
        "kind": pa.array([kind] * n, pa.string()),
        "lon": pa.array(np.asarray(lon, dtype="float64")), "lat": pa.array(np.asarray(lat, dtype="float64")),
        "district": pa.array(list(district) if district is not None else [None] * n, pa.string()),
    })


def tagged_places(places: pa.Table) -> pa.Table:
    """Entries of a ``place_name, lon, lat`` table (:func:`jobs.fusion.context.place_gazetteer`)."""
    names = [n for n in places["place_name"].to_pylist()]
    return _entries([f"tag:{n}" for n in names], names, "tagged_place", places["lon"].to_numpy(),
                    places["lat"].to_numpy())


def layer_word(layer: str) -> str:
    """The kind of area a boundary layer holds, from its name: ``nyc_precincts`` -> ``precinct``."""
    words = [w[:-1] if w.endswith("s") and not w.endswith("ss") else w for w in re.split(r"[_\W]+", layer.lower()) if w]
    known = [w for w in words if w in AREA_WORDS]
    return known[-1] if known else "district"


def area_places(boundaries: pa.Table) -> pa.Table:
    """Entries of boundary rows (``layer, area_id, name, geometry`` WKB): each area at a point inside it."""
    import shapely

    geoms = shapely.from_wkb(boundaries["geometry"].to_numpy(zero_copy_only=False))
    pts = shapely.point_on_surface(geoms)
    layers = boundaries["layer"].to_pylist()
    ids = boundaries["area_id"].to_pylist()
    names = boundaries["name"].to_pylist() if "name" in boundaries.column_names else [None] * len(ids)
    labels = [n if n and not str(n).strip().isdigit() else f"{layer_word(la).title()} {a}"
              for la, a, n in zip(layers, ids, names)]
    return _entries([f"area:{la}:{a}" for la, a in zip(layers, ids)], labels, "area", shapely.get_x(pts),
                    shapely.get_y(pts), district=ids)


def area_aliases(name: str, layer: str) -> list[str]:
    """Aliases of a numbered area ("District 7"): "district 7", "7th district", "distrito 7"."""
    word = layer_word(layer)
    number = name.split()[-1]
    if not number.isdigit():
        return aliases(name)
    n = int(number)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    es = AREA_WORDS.get(word, word)
    return sorted({f"{word} {n}", f"{n}{suffix} {word}", f"{es} {n}", f"{word} no {n}", f"{word} {number}"})


_BLOCK_NUMBER = re.compile(r"^\s*[0-9]+[0-9X]*\s+|^\s*[0-9]+\s*-\s*[0-9]+\s+", re.IGNORECASE)


def street_name(block: str | None) -> str | None:
    """The street of a block or address ("001XX W MADISON ST" -> "Madison Street"), or ``None``."""
    if not block:
        return None
    rest = _BLOCK_NUMBER.sub("", str(block)).split(",")[0].strip()
    words = _canonical_words(rest)
    if len(words) > 2 and words[0] in DIRECTIONS:
        words = words[1:]  # one street, both sides of the grid's axis: "W Madison St" and "E Madison St"
    if not words or not any(w in GENERIC for w in words[1:]) or not _distinctive(" ".join(words)):
        return None
    return " ".join(w.capitalize() for w in words)


def street_places(blocks: pa.Array | list, lon, lat, *, min_incidents: int = 2) -> pa.Table:
    """Streets named in incident block/address values, each at the median of its located incidents."""
    import pandas as pd

    df = pd.DataFrame({"street": [street_name(b) for b in pa.array(blocks).to_pylist()],
                       "lon": np.asarray(lon, dtype="float64"), "lat": np.asarray(lat, dtype="float64")}).dropna()
    g = df.groupby("street").agg(lon=("lon", "median"), lat=("lat", "median"), n=("lon", "size")).reset_index()
    g = g[g["n"] >= min_incidents]
    return _entries([f"street:{s}" for s in g["street"]], g["street"].tolist(), "street", g["lon"], g["lat"])


def landmark_places(layer: str, labels: list, lon, lat) -> pa.Table:
    """Entries of labelled map-layer features (unlabelled ones are skipped)."""
    keep = [i for i, lab in enumerate(labels) if lab and str(lab).strip()]
    names = [str(labels[i]).strip() for i in keep]
    return _entries([f"landmark:{layer}:{n}" for n in names], names, "landmark", np.asarray(lon)[keep],
                    np.asarray(lat)[keep])


def build_gazetteer(parts: list[pa.Table], *, bounds: tuple[float, float, float, float] | None = None,
                    boundaries: pa.Table | None = None) -> pa.Table:
    """One gazetteer (:data:`GAZETTEER`) of entry tables, with aliases, H3 cells and districts.

    Parameters
    ----------
    parts
        Tables from :func:`tagged_places`, :func:`area_places`, :func:`street_places`, :func:`landmark_places`.
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of the posts' study area: entries outside are dropped, so a
        lake holding several cities' boundaries gives each feed its own city's names.
    boundaries
        Boundary rows (``area_id``, ``geometry``) that give each entry without one its ``district``.
    """
    from jobs.geo.points import h3_cells

    parts = [p.select(["place_id", "name", "kind", "lon", "lat", "district"]) for p in parts if p.num_rows]
    if not parts:
        return GAZETTEER.empty_table()
    t = pa.concat_tables(parts).to_pandas().drop_duplicates("place_id")
    t = t.dropna(subset=["lon", "lat"])
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        t = t[(t.lon >= x0) & (t.lon <= x1) & (t.lat >= y0) & (t.lat <= y1)]
    if boundaries is not None and boundaries.num_rows and t["district"].isna().any():
        t.loc[t["district"].isna(), "district"] = _district_of(t.loc[t["district"].isna()], boundaries)
    t["aliases"] = [area_aliases(n, pid.split(":")[1]) if k == "area" else aliases(n)
                    for n, k, pid in zip(t["name"], t["kind"], t["place_id"])]
    t = t.sort_values("place_id", kind="stable")
    return pa.table({
        "place_id": pa.array(t["place_id"].tolist(), pa.string()), "name": pa.array(t["name"].tolist(), pa.string()),
        "kind": pa.array(t["kind"].tolist(), pa.string()),
        "lon": pa.array(t["lon"].to_numpy(), pa.float64()), "lat": pa.array(t["lat"].to_numpy(), pa.float64()),
        "h3": h3_cells(t["lon"].to_numpy(), t["lat"].to_numpy()),
        "district": pa.array([d if isinstance(d, str) else None for d in t["district"]], pa.string()),
        "aliases": pa.array(t["aliases"].tolist(), pa.list_(pa.string())),
    }, schema=GAZETTEER)


def _district_of(points, boundaries: pa.Table) -> list:
    import shapely

    geoms = shapely.from_wkb(boundaries["geometry"].to_numpy(zero_copy_only=False))
    tree = shapely.STRtree(geoms)
    pts = shapely.points(points["lon"].to_numpy(), points["lat"].to_numpy())
    hit_pt, hit_area = tree.query(pts, predicate="within")
    ids = boundaries["area_id"].to_pylist()
    out: list = [None] * len(pts)
    for p, a in zip(hit_pt.tolist(), hit_area.tolist()):
        if out[p] is None:
            out[p] = ids[a]
    return out
