"""A hand-made lakehouse of three invented cities, a few dozen rows, written with deltalake.

Feeds in different time zones (Springfield on Chicago time, Kobe on Tokyo time) so that
local hours, days and years differ from UTC, and one (Ogdenville) that records dates only; a
pseudonymised account column; an alerts table whose rows are mostly not alerts; posts and modus-operandi
narratives for semantic search (one narrative only in the side table ``incident_enrichment``, one post
with a phone number and a handle in its text). Nothing here is named after the bundled data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

ZONES = {"springfield_burglary": "America/Chicago", "kobe_thefts": "Asia/Tokyo",
         "ogdenville_shootings": "America/Denver"}


def _ts(values: list[str]) -> pa.Array:
    return pa.array(pd.to_datetime(values, utc=True), pa.timestamp("us", tz="UTC"))


def incidents() -> pa.Table:
    rows = [
        # id, occurred_at UTC, source, category, location_type, district
        ("s1", "2017-01-01 03:00", "springfield_burglary", "burglary", "residence", "1"),  # 2016-12-31 21:00 local
        ("s2", "2017-01-01 07:00", "springfield_burglary", "burglary", "residence", "1"),  # 01:00 local, Sunday
        ("s3", "2017-03-10 15:00", "springfield_burglary", "burglary", "commercial", "2"),
        ("s4", "2017-06-15 04:30", "springfield_burglary", "robbery", "street", "2"),  # 23:30 local
        ("s5", "2017-06-16 18:00", "springfield_burglary", "robbery", "street", "3"),
        ("s6", "2017-07-01 02:00", "springfield_burglary", "burglary", "residence", "3"),  # 21:00 local 30 Jun
        ("s7", "2017-12-24 12:00", "springfield_burglary", "burglary", "residence", "1"),
        ("s8", "2017-12-30 05:00", "springfield_burglary", "robbery", "street", "1"),  # 23:00 local 29 Dec
        ("s9", "2016-08-05 20:00", "springfield_burglary", "burglary", "residence", "2"),
        ("s10", "2016-11-11 11:00", "springfield_burglary", "robbery", "street", "3"),
        ("s11", "2016-02-14 01:00", "springfield_burglary", "burglary", "commercial", "1"),  # 19:00 local 13 Feb
        ("s12", "2017-02-04 16:00", "springfield_burglary", "burglary", "residence", "2"),  # Saturday
        ("k1", "2016-12-31 16:00", "kobe_thefts", "theft", "station", "east"),  # 2017-01-01 01:00 local
        ("k2", "2017-01-05 02:00", "kobe_thefts", "theft", "station", "east"),
        ("k3", "2017-04-20 13:00", "kobe_thefts", "theft", "street", "west"),  # 22:00 local
        ("k4", "2017-04-21 01:00", "kobe_thefts", "robbery", "street", "west"),
        ("k5", "2017-08-09 14:30", "kobe_thefts", "theft", "station", "east"),  # 23:30 local
        ("k6", "2017-08-10 03:00", "kobe_thefts", "theft", "market", "west"),
        ("k7", "2017-11-30 23:00", "kobe_thefts", "robbery", "market", "east"),  # 08:00 local 1 Dec
        ("k8", "2018-01-02 00:00", "kobe_thefts", "theft", "station", "east"),
        # a feed that records dates only: every time is local midnight (07:00 UTC in winter, 06:00 in summer)
        ("o1", "2017-01-10 07:00", "ogdenville_shootings", "shooting", "street", "north"),
        ("o2", "2017-07-04 06:00", "ogdenville_shootings", "shooting", "street", "north"),
        ("o3", "2017-11-20 07:00", "ogdenville_shootings", "shooting", "residence", "south"),
    ]
    ids, ts, source, category, loc, district = map(list, zip(*rows))
    return pa.table({
        "incident_id": ids, "occurred_at": _ts(ts), "category": category, "location_type": loc,
        "district": district, "lon": [135.2 if s.startswith("kobe") else -89.6 for s in source],
        "lat": [34.7 if s.startswith("kobe") else 39.8 for s in source],
        "mo_text": [MO_TEXT.get(i) for i in ids], "source": source,
    })


#: the incidents' own narratives; k7's is only in the enrichment side table
MO_TEXT = {
    "s1": "forced rear door with a crowbar while the residents slept",
    "s3": "smashed the shop window with a brick and emptied the till",
    "s6": "climbed through an unlocked bedroom window and took a laptop",
    "s8": "threatened the cashier with a handgun and fled in a car",
    "k2": "pickpocket lifted a wallet on the crowded station platform",
    "k4": "snatched a handbag from a woman waiting for the bus",
}
ENRICHMENT_MO = {"k7": "robbed at knifepoint outside the night market", "s1": "left through the garden"}


def enrichment() -> pa.Table:
    ids = list(ENRICHMENT_MO)
    return pa.table({"incident_id": ids, "mo_text": [ENRICHMENT_MO[i] for i in ids],
                     "source": ["tiny_enrichment"] * len(ids)})


#: post id -> (UTC time, language, platform, place, text); the default zone (Springfield's, Chicago) applies
POSTS = {
    "p1": ("2017-12-08 02:00", "en", "forum", "Riverside",
           "Big brawl being organised behind the skate park on Friday night, bring everyone"),
    "p2": ("2017-12-09 18:00", "en", "forum", "Riverside", "Lovely picnic at the park this afternoon with the kids"),
    "p3": ("2017-12-10 04:00", "en", "chirper", "Old Mill", "Watched the title fight on TV, what a knockout"),
    "p4": ("2017-12-11 15:00", "en", "chirper", "Old Mill", "Parking downtown is impossible today"),
    "p5": ("2017-12-12 20:00", "en", "forum", "Riverside", "Planning a birthday dinner for my mum this weekend"),
    "p6": ("2017-12-13 14:00", "en", "chirper", None, "The bakery on Main Street has the best bread in town"),
    "p7": ("2016-06-20 23:00", "en", "forum", "Riverside", "Gang fight planned at the park tomorrow, be there"),
    "p8": ("2017-12-15 03:00", "es", "chirper", "Riverside", "Habrá pelea en el parque esta noche, vengan todos"),
    "p9": ("2017-12-16 17:00", "es", "chirper", "Old Mill", "Qué frío hace hoy en la ciudad"),
    "p10": ("2017-12-17 19:00", "es", "forum", None, "Los mejores tacos del barrio están en la calle 5"),
    "p11": ("2017-12-18 22:00", "en", "chirper", "Old Mill",
            "Call me at +1 312 555 0199 or DM @bigmike about the house party"),
    "p12": ("2017-12-19 13:00", "en", "forum", None, "Road works on the bridge again, expect delays"),
}


def posts() -> pa.Table:
    ids = list(POSTS)
    ts, language, platform, place, text = map(list, zip(*POSTS.values()))
    return pa.table({"post_id": ids, "platform": platform, "author": [f"{i:032x}" for i in range(len(ids))],
                     "text": text, "language": language, "posted_at": _ts(ts),
                     "place_name": pa.array(place, pa.string()), "source": ["chatter"] * len(ids)})


def transactions() -> pa.Table:
    rows = [
        ("t1", "acct_9f2a", 120.0, "atm", "2017-12-04 16:00"),
        ("t2", "acct_9f2a", 80.0, "atm", "2017-12-05 03:00"),
        ("t3", "acct_11bd", 1500.0, "transfer", "2017-12-06 12:00"),
        ("t4", "acct_11bd", 45.5, "card", "2017-12-07 20:00"),
        ("t5", "acct_77c0", 2200.0, "transfer", "2017-12-20 15:00"),
        ("t6", "acct_77c0", 60.0, "card", "2017-12-28 23:00"),
        ("t7", "acct_77c0", 300.0, "atm", "2017-12-31 04:00"),
    ]
    ids, account, amount, channel, ts = map(list, zip(*rows))
    return pa.table({"txn_id": ids, "account": account, "amount": amount, "channel": channel,
                     "occurred_at": _ts(ts), "source": ["springfield_bank"] * len(ids)})


def alerts() -> pa.Table:
    rows = [
        ("atm_withdrawals", "2017-12-05 10:00", 3, False, None),
        ("atm_withdrawals", "2017-12-06 10:00", 14, True, "critical"),
        ("cell_calls", "2017-12-07 10:00", 9, True, "warning"),
        ("cell_calls", "2017-12-08 10:00", 2, False, None),
        ("cell_calls", "2017-12-09 10:00", 11, True, "critical"),
    ]
    feed, ts, observed, alert, severity = map(list, zip(*rows))
    return pa.table({"feed": feed, "window_start": _ts(ts), "observed": observed, "alert": alert,
                     "severity": pa.array(severity, pa.string())})


def zones() -> pa.Table:
    names = [*ZONES, "springfield_bank"]
    return pa.table({"source": names, "table": ["incidents"] * len(ZONES) + ["transactions"],
                     "timezone": [*ZONES.values(), "America/Chicago"]})


def write_tiny_lake(root: Path) -> Path:
    """Write the tiny lakehouse under ``root`` and return it."""
    from deltalake import write_deltalake

    for layer, name, table in (("silver", "incidents", incidents()), ("silver", "transactions", transactions()),
                               ("gold", "spike_alerts", alerts()), ("reference", "source_catalog", zones()),
                               ("silver", "osint_posts", posts()), ("silver", "incident_enrichment", enrichment())):
        write_deltalake(str(root / layer / name), table)
    return root


def local_frame() -> pd.DataFrame:
    """The incidents as pandas, with each row's local time (the reference the engine is checked against)."""
    df = incidents().to_pandas()
    df["local"] = [ts.tz_convert(ZONES[s]).tz_localize(None) for ts, s in zip(df["occurred_at"], df["source"])]
    return df
