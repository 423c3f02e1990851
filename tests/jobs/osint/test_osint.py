"""OSINT kernels on tiny fixtures: a gazetteer of five places, English and Spanish posts, slips,
abbreviations, times across a daylight-saving change, identifiers pseudonymised like ingestion."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

from jobs.ingest.pseudonymise import DEMO_KEY, pseudonymise
from jobs.localtime import wall_time
from jobs.osint.gazetteer import (aliases, area_places, build_gazetteer, landmark_places, street_name,
                                  street_places, tagged_places)
from jobs.osint.identifiers import find_identifiers
from jobs.osint.language import detect
from jobs.osint.mentions import extract_mentions, place_scores
from jobs.osint.text import fold
from jobs.osint.times import resolve

TZ = "America/New_York"
PLACES = pa.table({"place_name": ["Humboldt Park", "West Town", "Englewood", "North Lawndale", "the Loop"],
                   "lon": [-73.90, -73.91, -73.92, -73.93, -73.94], "lat": [40.70, 40.71, 40.72, 40.73, 40.74]})
AREAS = pa.table({"layer": ["city_precincts"], "area_id": ["7"], "name": ["7"],
                  "geometry": [shapely.to_wkb(shapely.box(-74.0, 40.6, -73.8, 40.8))]})


@pytest.fixture(scope="module")
def gazetteer():
    return build_gazetteer([tagged_places(PLACES), area_places(AREAS)], boundaries=AREAS)


def _posts(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"post_id": [f"p{i}" for i in range(len(rows))], "text": [t for t, _ in rows],
                     "posted_at": pa.array([datetime.fromisoformat(a) for _, a in rows], pa.timestamp("us", tz="UTC"))})


PLACE_CASES = [  # text, place expected (None: no place), method
    ("Shots near Humboldt Park, cops everywhere", "Humboldt Park", "exact"),
    ("Fight broke out in W. Town last night", "West Town", "exact"),
    ("Balazos cerca de Parque Humboldt", "Humboldt Park", "exact"),
    ("Pelea en Lawndale Norte", "North Lawndale", "exact"),
    ("Stay away from Englewod right now", "Englewood", "fuzzy"),
    ("Party in Humbolt Park tonight", "Humboldt Park", "fuzzy"),
    ("Pierogi w Englewood najlepsze", "Englewood", "exact"),  # Polish "w" is no West
    ("Traffic downtown by the loop", "the Loop", "exact"),
    ("Shooting reported in the 7th precinct", "Precinct 7", "exact"),
    ("Best tacos in town, no contest", None, None),
    ("It's a parked car, nothing else", None, None),
]


@pytest.mark.parametrize("text,expected,method", PLACE_CASES)
def test_places(gazetteer, text, expected, method):
    m = extract_mentions(_posts([(text, "2017-12-06T15:00:00+00:00")]), gazetteer, tz=TZ, key=DEMO_KEY)
    places = m.filter(pc.equal(m["kind"], "place")).to_pylist()
    if expected is None:
        assert places == []
        return
    assert [p["place_name"] for p in places] == [expected]
    p = places[0]
    assert p["method"] == method and 0.8 <= p["score"] <= 1.0
    assert text[p["span_start"]:p["span_end"]] == p["text"]
    assert p["district"] == "7" and p["h3"] and p["lon"] is not None


def test_aliases_abbreviate_and_translate():
    assert {"humboldt park", "humboldt pk", "parque humboldt"} <= set(aliases("Humboldt Park"))
    assert {"n lawndale", "lawndale norte"} <= set(aliases("North Lawndale"))
    assert "loop" in aliases("the Loop") and "park" not in aliases("Park")
    assert street_name("001XX W MADISON ST") == "Madison Street"
    assert street_name("12XX N ST LOUIS AVE") == "Saint Louis Avenue"
    assert street_name("UNKNOWN") is None


def test_streets_and_landmarks_join_the_gazetteer():
    streets = street_places(["001XX W MADISON ST", "002XX E MADISON ST", "9XX N CLARK ST"], [-73.9, -73.8, -73.7],
                            [40.7, 40.7, 40.7])
    assert streets["name"].to_pylist() == ["Madison Street"]  # Clark St has one incident only
    marks = landmark_places("parks", ["Central Plaza", None], [-73.85, -73.86], [40.75, 40.76])
    g = build_gazetteer([streets, marks])
    m = extract_mentions(_posts([("meet at Central Plaza then Madison St", "2017-12-06T15:00:00+00:00"),
                                 ("nos vemos en la calle Madison", "2017-12-06T15:00:00+00:00")]), g, tz=TZ, key=None)
    assert m.filter(pc.equal(m["kind"], "place"))["place_name"].to_pylist() == [
        "Central Plaza", "Madison Street", "Madison Street"]


def test_bounds_keep_one_city():
    g = build_gazetteer([tagged_places(PLACES)], bounds=(-73.915, 40.0, -73.0, 41.0))
    assert g["name"].to_pylist() == ["Humboldt Park", "West Town"]


# -- times: New York springs forward on Sunday 11 March 2018 at 02:00 -----------------------------

TIME_CASES = [  # text, posted at (UTC), local wall-clock time expected, grain
    ("party tonight at 9:30", "2018-03-10T20:00:00+00:00", "2018-03-10T21:30:00-05:00", "minute"),
    ("pull up tomorrow 9pm", "2018-03-10T20:00:00+00:00", "2018-03-11T21:00:00-04:00", "hour"),  # across the change
    ("Sunday night in the park", "2018-03-09T15:00:00+00:00", "2018-03-11T21:00:00-04:00", "part"),
    ("nos vemos mañana a las 2:30am", "2018-03-10T15:00:00+00:00", "2018-03-11T03:00:00-04:00", "minute"),  # no 02:30: shifted forward
    ("fiesta el sábado en la noche", "2018-03-07T15:00:00+00:00", "2018-03-10T21:00:00-05:00", "part"),
    ("mañana en la mañana", "2018-03-07T15:00:00+00:00", "2018-03-08T09:00:00-05:00", "part"),
    ("fight around 11pm", "2018-03-08T06:00:00+00:00", "2018-03-07T23:00:00-05:00", "hour"),  # posted 01:00 local
    ("concert on 12/24", "2017-12-01T15:00:00+00:00", "2017-12-24T00:00:00-05:00", "day"),
    ("el 24/12 a las 8", "2017-12-01T15:00:00+00:00", "2017-12-24T20:00:00-05:00", "hour"),
    ("next Saturday", "2018-03-10T15:00:00+00:00", "2018-03-17T00:00:00-04:00", "day"),
]


@pytest.mark.parametrize("text,posted,expected,grain", TIME_CASES)
def test_times_resolve_on_the_wall_clock(text, posted, expected, grain):
    m = extract_mentions(_posts([(text, posted)]), build_gazetteer([tagged_places(PLACES)]), tz=TZ, key=None)
    times = m.filter(pc.equal(m["kind"], "time")).to_pylist()
    assert len(times) == 1
    assert times[0]["value"] == expected and times[0]["subkind"] == grain
    assert times[0]["time_at"] == datetime.fromisoformat(expected).astimezone(timezone.utc)


def test_time_rule_is_wall_time():
    local = resolve(fold("tomorrow 2:30am", times=True), datetime(2018, 3, 10, 12))[0].local
    m = extract_mentions(_posts([("tomorrow 2:30am", "2018-03-10T17:00:00+00:00")]),
                         build_gazetteer([tagged_places(PLACES)]), tz=TZ, key=None)
    assert pa.scalar(wall_time(local.date(), 2.5, TZ)).as_py() == m["time_at"][0].as_py()


def test_no_time_in_plain_words():
    assert resolve(fold("Bulls lost again, 5 kids", times=True), datetime(2018, 3, 10, 12)) == []


# -- identifiers ------------------------------------------------------------------------------------

def test_identifiers_join_ingestion_pseudonyms():
    text = "DM @Big_Mike or call (312) 555-0123, acct # 12345678; mail x@y.com"
    m = extract_mentions(_posts([(text, "2017-12-06T15:00:00+00:00")]), build_gazetteer([tagged_places(PLACES)]),
                         tz=TZ, key=DEMO_KEY)
    ids = m.filter(pc.equal(m["kind"], "identifier")).to_pylist()
    assert [i["subkind"] for i in ids] == ["handle", "phone", "account"]
    expected = [pseudonymise(pa.array([raw]), key=DEMO_KEY, kind=k)[0].as_py()
                for raw, k in (("@big_mike", "handle"), ("+1 312 555 0123", "phone"), ("12345678", "account"))]
    assert [i["value"] for i in ids] == expected
    assert all(i["text"] is None for i in ids)  # the raw identifier is never copied out
    assert not any("555" in (v or "") for v in m["value"].to_pylist())


def test_dates_are_not_phones():
    assert [h.kind for h in find_identifiers(0, "on 2017-12-31 21:00 at 12/24/2017")] == []


# -- language on held-out sentences (none of them built from the word lists) --------------------------

HELD_OUT = [
    ("Somebody parked in front of my garage again and nobody cares", "en"),
    ("The bus was late so I walked to work in the rain", "en"),
    ("Has anyone seen the lost dog near the school?", "en"),
    ("We are going to the game after dinner with my brother", "en"),
    ("I can't believe how cold it was this morning", "en"),
    ("They closed the street because of the parade", "en"),
    ("Mi hermano perdió su cartera en el mercado", "es"),
    ("La tienda de la esquina cerró por la tarde", "es"),
    ("Los vecinos organizaron una fiesta para los niños", "es"),
    ("No encuentro las llaves del coche desde ayer", "es"),
    ("Hubo un accidente en la avenida y llegó la policía", "es"),
    ("¿Alguien vio el partido de anoche?", "es"),
]


def test_language_on_held_out_sentences():
    right = sum(detect(t)[0] == lang for t, lang in HELD_OUT)
    assert right >= 0.9 * len(HELD_OUT)
    assert detect("")[0] == "und"


def test_place_scores():
    mentions = pa.table({"post_id": ["src:1", "src:2", "src:3"], "kind": ["place", "place", "time"],
                         "place_name": ["A", "B", None]})
    truth = pa.table({"post_id": ["1", "2", "4"], "place_name": ["A", "C", "D"]})
    s = place_scores(mentions, truth)
    assert (s["precision"], s["recall"], s["true_positives"]) == (0.5, 1 / 3, 1)


def test_shared_alias_keeps_the_first_kind_with_a_shared_score():
    areas = pa.table({"layer": ["wards"], "area_id": ["3"], "name": ["Englewood"],
                      "geometry": [shapely.to_wkb(shapely.box(-74.0, 40.6, -73.8, 40.8))]})
    g = build_gazetteer([tagged_places(PLACES), area_places(areas)])
    m = extract_mentions(_posts([("shots in Englewood", "2017-12-06T15:00:00+00:00")]), g, tz=TZ, key=None)
    [p] = m.filter(pc.equal(m["kind"], "place")).to_pylist()
    assert (p["subkind"], p["value"], p["score"]) == ("tagged_place", "tag:Englewood", 0.5)
