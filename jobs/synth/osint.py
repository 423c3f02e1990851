"""Open-source posts of the synthetic world: mostly chatter, some reporting or announcing real incidents."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
from scipy.spatial import cKDTree

from jobs.synth.geometry import NEIGHBOURHOODS
from jobs.synth.world import TZ, World, _ts, sample_hours

PLATFORMS = np.array(["twitter", "instagram", "facebook", "reddit"], dtype=object)
PLATFORM_P = np.array([0.45, 0.25, 0.2, 0.1])
OSINT_COLUMNS = ("post_id", "platform", "author", "text", "language", "posted_at", "lon", "lat",
                 "place_name", "mentions", "urls")

BENIGN = {
    "en": [
        "Cubs game tonight, who's going?", "Traffic on the Dan Ryan is insane again",
        "Best tacos in {place}, no contest", "Lake effect snow coming, stay warm Chicago",
        "Bulls lost again smh", "New coffee spot opened in {place}", "Finally Friday",
        "Anyone know a good mechanic near {place}?", "CTA Red Line delayed 20 min this morning",
        "Block party in {place} was great, thanks neighbors", "Deep dish vs tavern style, fight me",
        "Bears gonna Bears", "Sunset over the lake today was unreal", "Looking for a roommate in {place}",
    ],
    "es": [
        "Los mejores tacos en {place}", "Mucho trafico hoy en la 26", "Vamos Fire!",
        "Alguien sabe de trabajo en {place}?", "Que frio hace en Chicago",
    ],
    "pl": ["Pierogi w {place} najlepsze", "Zimno dzisiaj w Chicago", "Kto idzie na mecz?"],
}
REPORT = {
    "en": ["Just heard shots near {place}, cops everywhere", "Somebody got hurt outside a {loc} in {place}",
           "Fight broke out by the {loc} in {place} {when}", "Ambulance and like 5 squad cars at the {loc} on my block ({place})",
           "Stay away from {place} right now, something went down at a {loc}"],
    "es": ["Balazos cerca de {place}, mucha policia", "Pelea afuera de un {loc} en {place}"],
}
ANNOUNCE = {
    "en": ["Pull up {day} night in {place}, it's going down", "{day} night {place}, bring everybody",
           "Party in {place} {day} after 9, you know where"],
    "es": ["Fiesta en {place} el {day} en la noche"],
}
#: Chatter bursts (truth ``osint_bursts``): a day on which many people post about one topic in one place.
#: Each template speaks of its topic only (jobs/osint/topics.py's words) and names no time.
BURSTS = {
    "violence": {"en": ["Shots fired in {place} again", "So many gunshots over in {place}",
                        "Another shooting in {place}??", "Heard gunfire by {place}, everybody ok?"],
                 "es": ["Balacera en {place}, cuidense", "Se oyen disparos en {place}"]},
    "drugs": {"en": ["Everybody selling weed on every corner in {place}", "Fentanyl all over {place} right now",
                     "Pills going around {place}, be careful"],
              "es": ["Mucha droga en {place}", "Venden mota en cada esquina de {place}"]},
    "gathering": {"en": ["Block party in {place}!!", "Everybody pull up to {place}", "Huge party in {place}"],
                  "es": ["Fiesta en {place}, vengan todos", "Pachanga en {place}"]},
}
LOC_WORDS = {"street": "corner", "residence": "house", "education": "school", "open space": "park",
             "retail": "store", "leisure": "bar", "transportation": "bus stop", "vehicle": "gas station",
             "government": "office", "healthcare": "clinic", "commercial": "shop", "hotel": "hotel"}
#: How posters write a place name besides its full spelling (truth ``form``): abbreviated generic words, and
#: the Spanish word order of a generic place word ("Humboldt Park" -> "Parque Humboldt").
ABBREVIATIONS = {"north": "N", "south": "S", "east": "E", "west": "W.", "park": "Pk", "street": "St",
                 "avenue": "Ave", "boulevard": "Blvd", "square": "Sq.", "village": "Vlg", "shore": "Shr"}
SPANISH_GENERIC = {"park": "Parque", "square": "Plaza", "street": "Calle", "avenue": "Avenida",
                   "village": "Villa", "yards": "Patios"}
SPANISH_DIRECTION = {"north": "Norte", "south": "Sur", "east": "Este", "west": "Oeste"}
#: Share of written place names misspelled (one typing slip in a word of 5+ letters) and abbreviated.
MISSPELT_P, ABBREVIATED_P, SPANISH_P = 0.15, 0.2, 0.6
DOMAINS = ["https://chicago.suntimes.example/news/", "https://www.chicagotribune.example/story/",
           "https://blockclub.example/", "https://youtu.example/watch?v="]


def _misspelt(name: str, r: np.random.Generator) -> str | None:
    """``name`` with one slip (dropped, doubled, swapped or replaced letter) in one of its 5+ letter words."""
    words = name.split(" ")
    long = [i for i, wd in enumerate(words) if len(wd) >= 5 and wd.isalpha()]
    if not long:
        return None
    i = long[int(r.integers(0, len(long)))]
    wd = words[i]
    j = int(r.integers(1, len(wd) - 1))  # never the first letter: people rarely slip there
    slip = int(r.integers(0, 4))
    if slip == 0:
        wd = wd[:j] + wd[j + 1:]
    elif slip == 1:
        wd = wd[:j] + wd[j] + wd[j:]
    elif slip == 2:
        wd = wd[:j] + wd[j + 1] + wd[j] + wd[j + 2:]
    else:
        wd = wd[:j] + "aeiouy"[int(r.integers(0, 6))] + wd[j + 1:] if wd[j] not in "aeiouy" else \
            wd[:j] + "rstnlm"[int(r.integers(0, 6))] + wd[j + 1:]
    if wd == words[i]:  # two equal letters swapped: drop one instead
        wd = wd[:j] + wd[j + 1:]
    words[i] = wd
    return " ".join(words)


def _abbreviated(name: str) -> str | None:
    words = name.split(" ")
    out = [ABBREVIATIONS.get(wd.lower(), wd) for wd in words]
    return " ".join(out) if out != words else None


def _spanish(name: str) -> str | None:
    """Spanish order: the generic word first ("Parque Humboldt"), a compass word last ("Lawndale Norte")."""
    words = name.split(" ")
    words = words[1:] if words[0].lower() == "the" else words
    direction = [SPANISH_DIRECTION[wd.lower()] for wd in words[:1] if wd.lower() in SPANISH_DIRECTION]
    words = words[len(direction):]
    generic = [SPANISH_GENERIC[wd.lower()] for wd in words[-1:] if wd.lower() in SPANISH_GENERIC and len(words) == 2]
    words = words[:len(words) - len(generic)]
    if not direction and not generic:
        return None
    return " ".join(generic + words + direction)


def written_place(name: str, lang: str, r: np.random.Generator) -> tuple[str, str]:
    """How a post writes place ``name`` and the truth ``form``: ``exact``, ``misspelt``, ``abbreviated`` or
    ``spanish`` (a Spanish post writes the Spanish form when the name has one, most of the time)."""
    u = r.random()
    if lang == "es":
        sp = _spanish(name)
        if sp is not None and u < SPANISH_P:
            return sp, "spanish"
        u = r.random()
    if u < MISSPELT_P:
        m = _misspelt(name, r)
        if m is not None:
            return m, "misspelt"
    elif u < MISSPELT_P + ABBREVIATED_P:
        a = _abbreviated(name)
        if a is not None:
            return a, "abbreviated"
    return name, "exact"


def _fill(template: str, place: str, lang: str, r: np.random.Generator, **kw) -> tuple[str, str | None, str | None]:
    """The post text and, when the template names the place, how it is written and its form."""
    if "{place}" not in template:
        return template.format(place=place, **kw), None, None
    written, form = written_place(place, lang, r)
    return template.format(place=written, **kw), written, form


def _incident_texts(templates: dict, ci: np.ndarray, lang: np.ndarray, inc, place: np.ndarray, names: np.ndarray,
                    rng: np.random.Generator, vrng: np.random.Generator) -> tuple[list, list, list]:
    """Texts of posts about incidents ``ci`` (template per language), with how each writes its place."""
    txt, tform, twritten = [], [], []
    for c, l_, pl in zip(ci.tolist(), lang.tolist(), place.tolist()):
        tp = templates[l_][int(rng.integers(0, len(templates[l_])))]
        local = datetime.fromtimestamp(int(inc.t[c]), tz=TZ)
        one, written, form = _fill(tp, names[pl], l_, vrng, loc=LOC_WORDS.get(inc.location_type[c], "corner"),
                                   when=f"around {local:%-I%p}".lower(), day=f"{local:%A}")
        txt.append(one)
        tform.append(form)
        twritten.append(written)
    return txt, tform, twritten


def _truth_places(post_id: np.ndarray, p: dict, names: np.ndarray) -> pa.Table:
    """Truth ``osint_places``: each post whose text names a place, the place, its spelling and location."""
    named = p["tplace"] >= 0
    plon, plat = (np.array([pl[i] for pl in NEIGHBOURHOODS]) for i in (1, 2))
    tpl = p["tplace"][named]
    return pa.table({
        "post_id": pa.array(post_id[named], pa.string()),
        "place_name": pa.array(names[tpl], pa.string()),
        "written": pa.array(p["twritten"][named], pa.string()),
        "form": pa.array(p["tform"][named], pa.string()),
        "lon": pa.array(plon[tpl], pa.float64()), "lat": pa.array(plat[tpl], pa.float64()),
    })


def _place_index(w: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    lon = np.array([p[1] for p in NEIGHBOURHOODS])
    lat = np.array([p[2] for p in NEIGHBOURHOODS])
    px, py = w.frame.to_xy(lon, lat)
    _, i = cKDTree(np.column_stack([px, py])).query(np.column_stack([x, y]))
    return i


def generate_posts(w: World, rng: np.random.Generator, author_phone: np.ndarray,
                   handle: np.ndarray) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Posts by the given authors (handle per author, owner phone index) plus incident mentions.

    Returns (posts, truth mentions: post_id, incident_id, relation ``report``|``announce``, truth places:
    post_id, place_name, written, form, lon, lat, one row per post whose text names a place, truth bursts:
    :func:`plant_bursts`). Place spellings (misspelt, abbreviated, Spanish) and the bursts come from their
    own random streams, so every other column is what it was before they were planted.
    """
    s = w.settings
    names = np.array([p[0] for p in NEIGHBOURHOODS], dtype=object)
    na = len(handle)
    cnt = rng.poisson(s.posts_per_handle_day * rng.gamma(1.5, 1 / 1.5, na)[:, None], (na, s.days))
    au = np.repeat(np.repeat(np.arange(na), s.days), cnt.ravel())
    day = np.repeat(np.tile(np.arange(s.days), na), cnt.ravel())
    k = len(au)
    t = w.day_start[day] + sample_hours(rng, w.weekend[day]) * 3600 + rng.integers(0, 3600, k)
    owner = author_phone[au]
    place = _place_index(w, w.home_x[owner], w.home_y[owner])
    lang = rng.choice(np.array(["en", "es", "pl"], dtype=object), k, p=[0.85, 0.12, 0.03])
    vrng = np.random.default_rng([w.seed, 9, 1])  # place spellings: their own stream, the other draws unchanged
    text, tplace, tform, twritten = [], [], [], []
    for lg, pl in zip(lang.tolist(), place.tolist()):
        tpl = BENIGN[lg][int(rng.integers(0, len(BENIGN[lg])))]
        txt, written, form = _fill(tpl, names[pl], lg, vrng)
        text.append(txt)
        tplace.append(pl if form else -1)
        tform.append(form)
        twritten.append(written)
    geo = rng.random(k) < 0.15
    gx, gy = w.clip_xy(w.home_x[owner] + rng.normal(0, 800, k), w.home_y[owner] + rng.normal(0, 800, k))
    rel = np.full(k, None, dtype=object)
    inc_ref = np.full(k, -1, dtype=np.int64)
    posts = {"au": au, "t": t, "lang": lang, "text": np.array(text, dtype=object), "geo": geo, "x": gx, "y": gy,
             "place": np.where(rng.random(k) < 0.3, place, -1), "tplace": np.array(tplace, dtype=np.int64),
             "tform": np.array(tform, dtype=object), "twritten": np.array(twritten, dtype=object)}

    # planted: reports after real incidents, announcements before some
    inc = w.inc
    parts = [posts]
    if len(inc.t):
        iplace = _place_index(w, inc.x, inc.y)
        for relation, frac, templates in (("report", s.incident_report_fraction, REPORT),
                                          ("announce", s.incident_announce_fraction, ANNOUNCE)):
            chosen = np.flatnonzero(rng.random(len(inc.t)) < frac)
            per = rng.integers(1, 4 if relation == "report" else 2, len(chosen))
            ci = np.repeat(chosen, per)
            m = len(ci)
            if m == 0:
                continue
            if relation == "report":
                tt = inc.t[ci] + rng.integers(300, 6 * 3600, m)
            else:
                tt = inc.t[ci] - rng.integers(24 * 3600, 72 * 3600, m)
            lg = np.where(rng.random(m) < 0.85, "en", "es").astype(object)
            txt, tform, twritten = _incident_texts(templates, ci, lg, inc, iplace[ci], names, rng, vrng)
            au_i = rng.integers(0, na, m)
            g = rng.random(m) < (0.5 if relation == "report" else 0.2)
            xx, yy = w.clip_xy(inc.x[ci] + rng.normal(0, 150, m), inc.y[ci] + rng.normal(0, 150, m))
            parts.append({"au": au_i, "t": tt, "lang": lg, "text": np.array(txt, dtype=object), "geo": g,
                          "x": xx, "y": yy, "place": iplace[ci], "tplace": iplace[ci],
                          "tform": np.array(tform, dtype=object), "twritten": np.array(twritten, dtype=object)})
            rel = np.concatenate([rel, np.full(m, relation, dtype=object)])
            inc_ref = np.concatenate([inc_ref, ci])
    p = {key: np.concatenate([d[key] for d in parts]) for key in parts[0]}
    n = len(p["t"])
    order = np.argsort(p["t"], kind="stable")
    p = {key: v[order] for key, v in p.items()}
    rel, inc_ref = rel[order], inc_ref[order]
    post_id = np.array([f"{x:019d}" for x in np.sort(rng.integers(10**17, 10**18, n)).tolist()], dtype=object)
    _, uniq = np.unique(post_id, return_index=True)
    if len(uniq) != n:  # vanishingly rare; keep ids unique
        post_id = np.array([f"{i:019d}" for i in range(10**17, 10**17 + n)], dtype=object)
    lon, lat = w.frame.to_lonlat(p["x"], p["y"])
    geo = p["geo"]
    # mentions: a contact's handle (if any); urls: news links
    ph_to_handle = {int(ph): h for ph, h in zip(author_phone.tolist(), handle.tolist())}
    mentions, urls = [], []
    mr, ur = rng.random(n), rng.random(n)
    for i in range(n):
        ph = int(author_phone[p["au"][i]])
        if mr[i] < 0.12:
            lo, hi = w.nbr_offs[ph], w.nbr_offs[ph + 1]
            friends = [ph_to_handle[int(f)] for f in w.nbr[lo:hi] if int(f) in ph_to_handle][:2]
            mentions.append([f"@{h}" for h in friends] or None)
        else:
            mentions.append(None)
        urls.append([DOMAINS[int(ur[i] * 100) % len(DOMAINS)] + f"{int(ur[i] * 1e9):09d}"] if ur[i] < 0.08 else None)
    plat = rng.choice(PLATFORMS, n, p=PLATFORM_P)
    table = pa.table({
        "post_id": pa.array(post_id, pa.string()),
        "platform": pa.array(plat, pa.string()),
        "author": pa.array(handle[p["au"]], pa.string()),
        "text": pa.array(p["text"], pa.string()),
        "language": pa.array(p["lang"], pa.string()),
        "posted_at": _ts(p["t"]),
        "lon": pa.array(np.round(lon, 5), mask=~geo),
        "lat": pa.array(np.round(lat, 5), mask=~geo),
        "place_name": pa.array(np.where(p["place"] >= 0, names[np.clip(p["place"], 0, None)], None), pa.string()),
        "mentions": pa.array(mentions, pa.list_(pa.string())),
        "urls": pa.array(urls, pa.list_(pa.string())),
    })
    places = _truth_places(post_id, p, names)
    table, places, bursts = plant_bursts(w, table, places, handle, names)
    sel = inc_ref >= 0
    truth = pa.table({
        "post_id": pa.array(post_id[sel], pa.string()),
        "incident_id": pa.array(inc.incident_id[inc_ref[sel]] if sel.any() else [], pa.string()),
        "relation": pa.array(rel[sel], pa.string()),
    })
    return table, truth, places, bursts


def plant_bursts(w: World, posts: pa.Table, places: pa.Table, handle: np.ndarray,
                 names: np.ndarray) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Add ``settings.n_chatter_bursts`` chatter bursts to ``posts``: each a local day on which 15-40 posts
    name one place and speak of one topic. Returns (posts, truth places with the bursts' posts, truth
    ``osint_bursts``: burst, topic, local day, place and its location, the posts' ids).

    The bursts draw from their own random stream: every post the generator wrote before is unchanged.
    """
    s = w.settings
    r = np.random.default_rng([w.seed, 9, 2])
    topics = sorted(BURSTS)
    first = min(7, s.days - 1)  # a week of history before a burst at least
    rows, truth = [], []
    taken = set(posts["post_id"].to_pylist())
    plon, plat = (np.array([pl[i] for pl in NEIGHBOURHOODS]) for i in (1, 2))
    for b in range(s.n_chatter_bursts if s.days > first else 0):
        topic, day = topics[b % len(topics)], int(r.integers(first, s.days))
        pl, n = int(r.integers(0, len(names))), int(r.integers(15, 41))
        t = w.day_start[day] + sample_hours(r, np.repeat(w.weekend[day], n)) * 3600 + r.integers(0, 3600, n)
        ids = []
        for k in range(n):
            lang = "es" if r.random() < 0.2 else "en"
            templates = BURSTS[topic][lang]
            text, written, form = _fill(templates[int(r.integers(0, len(templates)))], names[pl], lang, r)
            while (pid := f"{int(r.integers(10**17, 10**18)):019d}") in taken:
                pass
            taken.add(pid)
            ids.append(pid)
            geo = r.random() < 0.15
            px, py = w.frame.to_xy(np.array([plon[pl]]), np.array([plat[pl]]))
            lon, lat = w.frame.to_lonlat(*w.clip_xy(px + r.normal(0, 300, 1), py + r.normal(0, 300, 1)))
            rows.append({"post_id": pid, "platform": str(r.choice(PLATFORMS, p=PLATFORM_P)),
                         "author": str(handle[int(r.integers(0, len(handle)))]), "text": text, "language": lang,
                         "posted_at": int(t[k]), "lon": round(float(lon[0]), 5) if geo else None,
                         "lat": round(float(lat[0]), 5) if geo else None,
                         "place_name": names[pl] if r.random() < 0.3 else None,
                         "written": written, "form": form, "place": pl})
        local = datetime.fromtimestamp(int(w.day_start[day]) + 12 * 3600, tz=TZ).date()
        truth.append({"burst_id": f"burst-{b + 1}", "topic": topic, "day": local, "place_name": names[pl],
                      "lon": float(plon[pl]), "lat": float(plat[pl]), "posts": n, "post_ids": ids})
    burst_schema = pa.schema([("burst_id", pa.string()), ("topic", pa.string()), ("day", pa.date32()),
                              ("place_name", pa.string()), ("lon", pa.float64()), ("lat", pa.float64()),
                              ("posts", pa.int64()), ("post_ids", pa.list_(pa.string()))])
    if not rows:
        return posts, places, pa.Table.from_pylist([], schema=burst_schema)
    added = pa.table({
        **{c: pa.array([row[c] for row in rows], pa.string())
           for c in ("post_id", "platform", "author", "text", "language", "place_name")},
        "posted_at": _ts(np.array([row["posted_at"] for row in rows])),
        "lon": pa.array([row["lon"] for row in rows], pa.float64()),
        "lat": pa.array([row["lat"] for row in rows], pa.float64()),
        "mentions": pa.nulls(len(rows), pa.list_(pa.string())), "urls": pa.nulls(len(rows), pa.list_(pa.string())),
    }).select(posts.column_names).cast(posts.schema)
    named = [row for row in rows if row["form"]]  # every burst template names its place
    burst_places = pa.table({
        "post_id": pa.array([row["post_id"] for row in named], pa.string()),
        "place_name": pa.array([names[row["place"]] for row in named], pa.string()),
        "written": pa.array([row["written"] for row in named], pa.string()),
        "form": pa.array([row["form"] for row in named], pa.string()),
        "lon": pa.array([plon[row["place"]] for row in named], pa.float64()),
        "lat": pa.array([plat[row["place"]] for row in named], pa.float64()),
    })
    out = pa.concat_tables([posts, added]).sort_by([("posted_at", "ascending")])
    return out, pa.concat_tables([places, burst_places]), pa.Table.from_pylist(truth, schema=burst_schema)
