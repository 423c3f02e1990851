"""Synthetic feeds: determinism, schemas, and that every planted truth is really in the feeds."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

from jobs.synth import SynthSettings, build, generate, iter_cdr
from jobs.synth.cdr import CDR_COLUMNS
from jobs.synth.identifiers import luhn_check_digit

SMALL = SynthSettings(days=14, n_phones=600, n_groups=4, n_accounts=500, n_atms=20, n_rings=3, n_mules=6,
                      n_atm_spikes=3, n_handles=300, n_cameras=6, n_other_persons=80, n_series=6)


@pytest.fixture(scope="module")
def small_feeds(chicago_incidents):
    return generate(chicago_incidents, seed=11, scale=SMALL)

UTC = pa.timestamp("us", tz="UTC")

EXPECTED_COLUMNS = {
    "cell_sites": ["cell_id", "site_id", "lon", "lat", "azimuth_deg", "beam_width_deg", "range_m",
                   "technology", "sector_wkb"],
    "cdr_events": list(CDR_COLUMNS),
    "transactions": ["txn_id", "account", "counterparty", "amount", "currency", "direction", "booked_at",
                     "channel", "terminal_id", "merchant", "lon", "lat", "reference"],
    "atm_terminals": ["terminal_id", "lon", "lat", "operator"],
    "osint_posts": ["post_id", "platform", "author", "text", "language", "posted_at", "lon", "lat",
                    "place_name", "mentions", "urls"],
    "cameras": ["camera_id", "lon", "lat", "heading_deg", "mount_height_m", "image_width", "image_height",
                "control_points"],
    "persons": ["person_id", "name", "date_of_birth", "role", "phones", "accounts", "handles", "source_system"],
    "incident_enrichment": ["incident_id", "offender_ids", "victim_ids", "mo_text", "weapon"],
}

UNIQUE_KEYS = {"cell_sites": "cell_id", "cdr_events": "record_id", "transactions": "txn_id",
               "osint_posts": "post_id", "cameras": "camera_id", "persons": "person_id",
               "incident_enrichment": "incident_id", "atm_terminals": "terminal_id"}


def _served(cdr: pa.Table) -> pa.Array:
    return pc.if_else(pc.equal(cdr["direction"], "out"), cdr["a_number"], cdr["b_number"])


@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_feed_columns_and_keys(small_feeds, name):
    t = small_feeds.feeds()[name]
    assert t.column_names == EXPECTED_COLUMNS[name]
    assert t.num_rows > 0
    key = t[UNIQUE_KEYS[name]]
    assert pc.count_distinct(key).as_py() == t.num_rows
    assert key.null_count == 0


def test_time_columns_are_utc(small_feeds):
    for name, col in (("cdr_events", "start_time"), ("transactions", "booked_at"), ("osint_posts", "posted_at")):
        assert small_feeds.feeds()[name].schema.field(col).type == UTC


def test_same_seed_same_tables_other_seed_differs(chicago_incidents, small_feeds):
    again = generate(chicago_incidents, seed=11, scale=SMALL)
    for name, t in small_feeds.feeds().items():
        assert again.feeds()[name].equals(t), name
    for name, t in small_feeds.truth().items():
        assert again.truth()[name].equals(t), name
    other = generate(chicago_incidents, seed=12, scale=SMALL)
    assert not other.cdr_events.equals(small_feeds.cdr_events)


def test_streamed_chunks_equal_the_whole(chicago_incidents, small_feeds):
    w = build(chicago_incidents, seed=11, scale=SMALL)
    chunks = list(iter_cdr(w))
    assert len(chunks) == 2  # 14 days in 7-day chunks
    assert pa.concat_tables(chunks).equals(small_feeds.cdr_events)


def test_cdr_identifiers_are_well_formed(small_feeds):
    cdr = small_feeds.cdr_events
    assert pc.all(pc.match_substring_regex(cdr["a_number"], r"^\+1(312|773|872)\d{7}$")).as_py()
    imei = np.array(pc.unique(cdr["imei"]).to_pylist())
    digits = np.array([[int(c) for c in s] for s in imei])
    assert digits.shape[1] == 15
    assert (luhn_check_digit(digits[:, :14]) == digits[:, 14]).all()
    assert pc.all(pc.match_substring_regex(cdr["imsi"], r"^31[01]\d{12}$")).as_py()
    kinds = set(cdr["event_type"].to_pylist())
    assert kinds == {"voice", "sms", "data"}
    data = cdr.filter(pc.equal(cdr["event_type"], "data"))
    assert data["b_number"].null_count == data.num_rows
    sms = cdr.filter(pc.equal(cdr["event_type"], "sms"))
    assert pc.max(sms["duration_s"]).as_py() == 0
    assert set(cdr["cgi"].to_pylist()) <= set(small_feeds.cell_sites["cell_id"].to_pylist())


def test_known_luhn_example():
    # 49015420323751 8 is the IMEI example of 3GPP / GSMA documents
    payload = np.array([[int(c) for c in "49015420323751"]])
    assert luhn_check_digit(payload)[0] == 8


def test_daily_rhythm_night_quieter_than_evening(small_feeds):
    cdr = small_feeds.cdr_events
    local = pc.hour(pc.local_timestamp(cdr["start_time"].cast(pa.timestamp("us", tz="America/Chicago"))))
    h = np.bincount(np.asarray(local), minlength=24)
    assert h[2:5].sum() * 5 < h[17:20].sum()


def test_cell_sectors_cover_incidents_and_spacing(small_feeds, chicago_incidents):
    cells = small_feeds.cell_sites
    assert set(cells["azimuth_deg"].to_pylist()) == {0.0, 120.0, 240.0}
    polys = shapely.from_wkb(cells["sector_wkb"].to_numpy(zero_copy_only=False))
    assert shapely.is_valid(polys).all()
    site_lon = cells["lon"].to_numpy()[::3]
    site_lat = cells["lat"].to_numpy()[::3]
    x = (site_lon - site_lon.mean()) * 111_320 * np.cos(np.radians(41.85))
    y = (site_lat - site_lat.mean()) * 110_574
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    assert 500 < np.median(d[:, 1]) < 1600  # ~1-1.5 km, denser where busy
    assert d[:, 1].min() < np.median(d[:, 1])


def test_group_phones_appear_in_cdrs_and_call_each_other(small_feeds):
    gm = small_feeds.truth_group_members
    cdr = small_feeds.cdr_events
    served = set(_served(cdr).to_pylist())
    assert set(gm["msisdn"].to_pylist()) <= served
    # inside a group, members' lines call each other far more than chance
    out = cdr.filter(pc.equal(cdr["direction"], "out")).filter(pc.is_valid(cdr.filter(pc.equal(cdr["direction"], "out"))["b_number"]))
    group_of = dict(zip(gm["msisdn"].to_pylist(), gm["group_id"].to_pylist()))
    a = out["a_number"].to_pylist()
    b = out["b_number"].to_pylist()
    member_calls = [(group_of[x], group_of.get(y)) for x, y in zip(a, b) if x in group_of]
    same = sum(1 for g, h in member_calls if g == h)
    assert same / len(member_calls) > 0.4


def test_burners_are_short_lived_and_swaps_show_in_cdrs(small_feeds):
    burn = small_feeds.truth_burners
    assert burn.num_rows > 0
    life = pc.subtract(burn["active_to"], burn["active_from"]).cast(pa.int64()).to_numpy() / 86_400e6
    assert life.max() <= 12.0
    cdr = small_feeds.cdr_events
    served = _served(cdr).to_pylist()
    pairs = set(zip(served, cdr["imei"].to_pylist()))
    swaps = small_feeds.truth_imei_swaps
    burner_swaps = swaps.filter(pc.is_valid(swaps["group_id"]))
    assert set(burner_swaps["pattern"].to_pylist()) <= {"multi_sim_handset", "multi_handset_sim"}
    # each multi-SIM handset: its IMEI seen with more than one IMSI; each multi-handset SIM: with >1 IMEI
    imsi_served = cdr["imsi"].to_pylist()
    imei_to_imsi: dict[str, set] = {}
    imsi_to_imei: dict[str, set] = {}
    for i, m in zip(cdr["imei"].to_pylist(), imsi_served):
        imei_to_imsi.setdefault(i, set()).add(m)
        imsi_to_imei.setdefault(m, set()).add(i)
    hits = 0
    for r in burner_swaps.to_pylist():
        if (r["msisdn"], r["imei"]) in pairs:
            hits += 1
    assert hits >= 0.7 * burner_swaps.num_rows
    seen_multi_sim = seen_multi_handset = 0
    for r in burner_swaps.to_pylist():
        if r["pattern"] == "multi_sim_handset" and len(imei_to_imsi.get(r["imei"], ())) > 1:
            seen_multi_sim += 1
        if r["pattern"] == "multi_handset_sim" and len(imsi_to_imei.get(r["imsi"], ())) > 1:
            seen_multi_handset += 1
    patterns = set(burner_swaps["pattern"].to_pylist())
    assert ("multi_sim_handset" not in patterns) or seen_multi_sim > 0
    assert ("multi_handset_sim" not in patterns) or seen_multi_handset > 0
    assert patterns  # the small world has burner swaps at all


def test_colocation_plants_hit_the_covering_sector_in_time(small_feeds, chicago_incidents):
    co = small_feeds.truth_colocations
    assert co.filter(pc.equal(co["role"], "colocated")).num_rows >= 4
    cdr = small_feeds.cdr_events
    served = np.array(_served(cdr).to_pylist(), dtype=object)
    t = cdr["start_time"].cast(pa.int64()).to_numpy()
    cgi = np.array(cdr["cgi"].to_pylist(), dtype=object)
    a = np.array(cdr["a_number"].to_pylist(), dtype=object)
    b = np.array(cdr["b_number"].to_pylist(), dtype=object)
    cells = small_feeds.cell_sites
    poly = dict(zip(cells["cell_id"].to_pylist(), shapely.from_wkb(cells["sector_wkb"].to_numpy(zero_copy_only=False))))
    inc = {r["incident_id"]: r for r in chicago_incidents.select(["incident_id", "occurred_at", "lon", "lat"]).to_pylist()}
    for r in co.to_pylist():
        i = inc[r["incident_id"]]
        t_inc = int(i["occurred_at"].timestamp() * 1e6)
        w0, w1 = int(r["window_start"].timestamp() * 1e6), int(r["window_end"].timestamp() * 1e6)
        if r["role"] == "colocated":
            assert poly[r["cell_id"]].contains(shapely.Point(i["lon"], i["lat"]))
            assert w1 == t_inc and 0 < (w1 - w0) <= 3 * 3600e6
            hit = (served == r["msisdn"]) & (cgi == r["cell_id"]) & (t >= w0) & (t <= w1)
            assert hit.any(), r
            # while planted, the line is nowhere else
            there = (served == r["msisdn"]) & (t >= w0) & (t <= w1)
            assert (cgi[there] == r["cell_id"]).all()
        else:
            silent = ((a == r["msisdn"]) | (b == r["msisdn"])) & (t >= w0) & (t <= w1)
            assert not silent.any(), r


def test_atm_spikes_are_elevated(small_feeds):
    tx = small_feeds.transactions
    atm = tx.filter(pc.equal(tx["channel"], "atm"))
    t = atm["booked_at"].cast(pa.int64()).to_numpy() / 1e6
    term = np.array(atm["terminal_id"].to_pylist(), dtype=object)
    days = small_feeds.settings.days
    for r in small_feeds.truth_atm_spikes.to_pylist():
        w0, w1 = r["window_start"].timestamp(), r["window_end"].timestamp()
        here = term == r["terminal_id"]
        inside = (here & (t >= w0) & (t < w1)).sum()
        outside = (here & ~((t >= w0) & (t < w1))).sum()
        rate_in = inside / ((w1 - w0) / 3600)
        rate_out = outside / (days * 24 - (w1 - w0) / 3600)
        assert inside >= r["n_planted"]
        assert rate_in > 10 * max(rate_out, 1e-3)


def test_ring_transfers_form_cycles_and_are_booked(small_feeds):
    ring = small_feeds.truth_ring_transfers
    tx = small_feeds.transactions
    debit = tx.filter(pc.equal(tx["direction"], "debit"))
    booked = set(zip(debit["account"].to_pylist(), debit["counterparty"].to_pylist(), debit["reference"].to_pylist()))
    rows = ring.to_pylist()
    assert rows
    cycles: dict[tuple, list] = {}
    for r in rows:
        assert (r["from_account"], r["to_account"], r["reference"]) in booked
        cycles.setdefault((r["ring_id"], r["cycle"]), []).append(r)
    for hops in cycles.values():
        hops.sort(key=lambda r: r["hop"])
        for x, y in zip(hops, hops[1:] + hops[:1]):
            assert x["to_account"] == y["from_account"]
        span = (hops[-1]["booked_at"] - hops[0]["booked_at"]).total_seconds()
        assert span <= 2 * 86_400
        assert all(x["amount"] > y["amount"] for x, y in zip(hops, hops[1:]))
    ring_accts = small_feeds.truth_accounts.filter(pc.equal(small_feeds.truth_accounts["role"], "ring"))
    assert set(ring_accts["account"].to_pylist()) == {r["from_account"] for r in rows}


def test_mules_fan_in_then_out(small_feeds):
    tx = small_feeds.transactions
    mules = small_feeds.truth_accounts.filter(pc.equal(small_feeds.truth_accounts["role"], "mule"))
    acct = np.array(tx["account"].to_pylist(), dtype=object)
    dirn = np.array(tx["direction"].to_pylist(), dtype=object)
    chan = np.array(tx["channel"].to_pylist(), dtype=object)
    cp = np.array(tx["counterparty"].to_pylist(), dtype=object)
    for m in mules["account"].to_pylist():
        inbound = (acct == m) & (dirn == "credit") & (chan == "transfer")
        assert len(set(cp[inbound])) >= 5


def test_osint_mentions_point_to_real_incidents(small_feeds, chicago_incidents):
    men = small_feeds.truth_osint_mentions
    assert men.num_rows > 0
    posts = {r["post_id"]: r for r in small_feeds.osint_posts.to_pylist()}
    inc = {r["incident_id"]: r for r in chicago_incidents.select(["incident_id", "occurred_at"]).to_pylist()}
    for r in men.to_pylist():
        p, i = posts[r["post_id"]], inc[r["incident_id"]]
        dt = (p["posted_at"] - i["occurred_at"]).total_seconds()
        assert (0 < dt <= 6 * 3600) if r["relation"] == "report" else (-72 * 3600 <= dt < 0)
        assert p["place_name"]


def test_chatter_bursts_name_their_place_and_topic_on_their_day(small_feeds):
    from zoneinfo import ZoneInfo

    from jobs.osint.text import fold
    from jobs.osint.topics import find_topics

    bursts = small_feeds.truth_osint_bursts
    assert bursts.num_rows == small_feeds.settings.n_chatter_bursts
    posts = {r["post_id"]: r for r in small_feeds.osint_posts.to_pylist()}
    places = {r["post_id"]: r["place_name"] for r in small_feeds.truth_osint_places.to_pylist()}
    for b in bursts.to_pylist():
        assert 15 <= b["posts"] == len(b["post_ids"]) <= 40
        for pid in b["post_ids"]:
            post = posts[pid]
            assert post["posted_at"].astimezone(ZoneInfo("America/Chicago")).date() == b["day"]
            assert places[pid] == b["place_name"]
            assert {t[2] for t in find_topics(fold(post["text"]))} == {b["topic"]}


def test_planting_bursts_leaves_every_other_post_as_it_was(chicago_incidents, small_feeds):
    import dataclasses

    quiet = generate(chicago_incidents, seed=11, scale=dataclasses.replace(small_feeds.settings, n_chatter_bursts=0),
                     include_cdr=False)
    planted = {pid for ids in small_feeds.truth_osint_bursts["post_ids"].to_pylist() for pid in ids}
    rest = small_feeds.osint_posts.filter(pc.invert(pc.is_in(small_feeds.osint_posts["post_id"],
                                                             value_set=pa.array(sorted(planted)))))
    assert quiet.truth_osint_bursts.num_rows == 0
    assert rest.equals(quiet.osint_posts)


def test_cameras_control_points_fit_one_homography(small_feeds):
    from jobs.synth.geometry import Frame

    for cam in small_feeds.cameras.to_pylist():
        cps = cam["control_points"]
        assert len(cps) >= 4
        f = Frame(cam["lon"], cam["lat"])
        uv = np.array([[c["u"], c["v"]] for c in cps])
        gx, gy = f.to_xy(np.array([c["lon"] for c in cps]), np.array([c["lat"] for c in cps]))
        dist = np.hypot(gx, gy)
        assert (dist[:4] > 10).all() and (dist[:4] < 110).all()
        # DLT homography from the four corners, checked on the interior points
        A = []
        for (u, v), x, y in zip(uv[:4], gx[:4], gy[:4]):
            A.append([-u, -v, -1, 0, 0, 0, u * x, v * x, x])
            A.append([0, 0, 0, -u, -v, -1, u * y, v * y, y])
        H = np.linalg.svd(np.array(A))[2][-1].reshape(3, 3)
        p = H @ np.column_stack([uv[4:], np.ones(len(uv) - 4)]).T
        err = np.hypot(p[0] / p[2] - gx[4:], p[1] / p[2] - gy[4:])
        assert err.max() < 0.2


def test_series_and_enrichment(small_feeds):
    s = small_feeds.truth_series
    enr = small_feeds.incident_enrichment
    assert s.num_rows >= 3
    by_id = {r["incident_id"]: r for r in enr.to_pylist()}
    for sid in set(s["series_id"].to_pylist()):
        members = s.filter(pc.equal(s["series_id"], sid))
        assert members.num_rows >= SMALL.series_size[0]
        weapons = {by_id[i]["weapon"] for i in members["incident_id"].to_pylist()}
        assert len(weapons) == 1
        pids = set(members["offender_person_id"].to_pylist())
        assert len(pids) == 1
    persons = set(small_feeds.persons["person_id"].to_pylist())
    for ids_ in enr["offender_ids"].to_pylist() + enr["victim_ids"].to_pylist():
        assert ids_ is None or set(ids_) <= persons


def test_person_duplicates_are_near_but_not_equal(small_feeds):
    d = small_feeds.truth_person_duplicates
    assert d.num_rows > 0
    p = {r["person_id"]: r for r in small_feeds.persons.to_pylist()}
    for r in d.to_pylist():
        a, b = p[r["person_id"]], p[r["duplicate_of"]]
        assert (a["name"], a["date_of_birth"]) != (b["name"], b["date_of_birth"])
        assert abs((a["date_of_birth"] - b["date_of_birth"]).days) <= 366


def test_scale_multiplies_sizes(chicago_incidents):
    base = dataclasses.replace(SMALL, days=7, n_phones=200)
    a = generate(chicago_incidents, seed=3, scale=base)
    b = generate(chicago_incidents, seed=3, scale=base.scaled(2.0))
    assert b.settings.n_phones == 400
    ratio = b.cdr_events.num_rows / a.cdr_events.num_rows
    assert 1.6 < ratio < 2.5


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"days": 0}, ValueError),
        ({"group_size": (1, 3)}, ValueError),
        ({"silent_fraction": 1.5}, ValueError),
    ],
)
def test_settings_validation(kwargs, exc):
    with pytest.raises(exc):
        SynthSettings(**kwargs)


def test_bad_inputs(chicago_incidents):
    with pytest.raises(ValueError, match="lacks columns"):
        generate(chicago_incidents.drop_columns(["lon"]), seed=1)
    naive = chicago_incidents.set_column(1, "occurred_at", chicago_incidents["occurred_at"].cast(pa.timestamp("us")))
    with pytest.raises(TypeError, match="tz-aware"):
        generate(naive, seed=1)
    with pytest.raises(TypeError, match="seed"):
        generate(chicago_incidents, seed=-1)
    with pytest.raises(ValueError, match="scale"):
        generate(chicago_incidents, seed=1, scale=0.0)


def test_explicit_window_end(chicago_incidents):
    s = dataclasses.replace(SMALL, days=7, n_phones=150, end=datetime(2017, 6, 30, tzinfo=timezone.utc))
    f = generate(chicago_incidents, seed=2, scale=s)
    t = f.cdr_events["start_time"]
    assert pc.min(t).as_py().date() >= datetime(2017, 6, 23).date()
    assert pc.max(t).as_py().date() <= datetime(2017, 7, 1).date()
