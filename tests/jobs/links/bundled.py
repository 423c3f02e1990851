"""The bundled demo's link data without a lakehouse, for tests of aliases and charts on real-sized data.

``crimefusion run`` generates its synthetic world from the bundled Chicago incidents with seed 42 at
scale 1 and ingests it with the demo pseudonymisation key; :func:`world` builds the same silver tables in
memory (about two seconds: the same 3,388 phones and 385,075 CDR rows as the demo's lake), and
:func:`week_network` one week of its call network as ``link_charts`` reads it from the lake.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from tests.helpers import data_path

TZ = "America/Chicago"  # specs/synthetic/cdr.yaml
#: The latest complete week of the demo's call network (its last week is cut short).
WEEK = dt.datetime(2017, 12, 25, tzinfo=dt.timezone.utc)


@cache
def world() -> tuple[pa.Table, dict[str, pa.Table]]:
    """The demo's incidents (as the generator reads them) and its silver and truth tables."""
    import pyarrow.csv as pcsv

    from jobs.ingest.pseudonymise import DEMO_KEY
    from jobs.links.synthetic import silver_from_synth
    from jobs.synth import generate
    from jobs.synth.incidents import from_crimemapping

    incidents = from_crimemapping(pcsv.read_csv(data_path("chicago/aggravated_assaults_2010_2017.csv.gz")))
    return incidents, silver_from_synth(generate(incidents, seed=42, scale=1.0), key=DEMO_KEY)


@cache
def phones() -> tuple[str, ...]:
    """Every phone of the demo's CDRs (pseudonyms), sorted."""
    cdr = world()[1]["cdr_events"]
    both = pa.chunked_array(cdr["caller"].chunks + cdr["callee"].chunks)
    return tuple(sorted(pc.unique(both.filter(pc.is_valid(both))).to_pylist()))


@cache
def week_network(week: dt.datetime = WEEK):
    """One week of the demo's call network (:class:`jobs.links.schemas.WeekNetwork`), as the asset builds it."""
    from jobs.links.aliases import alias_map
    from jobs.links.edges import aggregate_edges
    from jobs.links.graph import call_network
    from jobs.links.schemas import WeekNetwork
    from jobs.links.selections import phone_pairs
    from jobs.links.timeline import contact_events

    cdr = world()[1]["cdr_events"]
    end = week + dt.timedelta(days=7)
    t = cdr["start_time"]
    rows = cdr.filter(pc.and_(pc.greater_equal(t, pa.scalar(week, t.type)), pc.less(t, pa.scalar(end, t.type))))
    edges = aggregate_edges(rows, period="week")
    comms, keys = call_network(edges, seed=0)
    return WeekNetwork(week=week, edges=edges, communities=comms, key_players=keys, pairs=phone_pairs(edges),
                       events=contact_events(rows, start=week, end=end), aliases=alias_map(phones()), timezone=TZ)


@cache
def planted_incident() -> dict:
    """The incident where the generator planted the most group members (truth/colocations): its id,
    lon, lat and time, and the planted phones."""
    incidents, tables = world()
    truth = tables["truth_colocations"]
    counts = truth.group_by("incident_id").aggregate([("msisdn", "count_distinct")]).sort_by(
        [("msisdn_count_distinct", "descending"), ("incident_id", "ascending")])
    best = counts["incident_id"][0].as_py()
    row = incidents.filter(pc.equal(incidents["incident_id"], best)).to_pylist()[0]
    planted = sorted(set(truth.filter(pc.equal(truth["incident_id"], best))["msisdn"].to_pylist()))
    return {"incident_id": best, "lon": row["lon"], "lat": row["lat"], "time": row["occurred_at"], "phones": planted}
