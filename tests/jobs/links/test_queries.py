"""Investigator queries on a small hand-built call graph whose answers are known."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.links.queries import (
    burner_candidates,
    call_chains,
    common_contacts,
    contact_expansion,
    device_swaps,
    silent_periods,
)
import pyarrow as pa

UTC = dt.timezone.utc
TS = pa.timestamp("us", tz="UTC")


def at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def make_cdr(rows: list[dict]) -> pa.Table:
    """CDR_EVENTS-shaped table from dicts (caller, callee, start_time; other fields optional)."""
    get = lambda k, d=None: [r.get(k, d) for r in rows]  # noqa: E731
    return pa.table(
        {
            "event_id": [r.get("event_id", f"e{i}") for i, r in enumerate(rows)],
            "caller": pa.array(get("caller"), pa.string()),
            "callee": pa.array(get("callee"), pa.string()),
            "start_time": pa.array(get("start_time"), TS),
            "duration_s": pa.array(get("duration_s", 60), pa.int32()),
            "kind": pa.array(get("kind", "voice"), pa.string()),
            "direction": pa.array(get("direction", "out"), pa.string()),
            "cell_id": pa.array(get("cell_id"), pa.string()),
            "imei": pa.array(get("imei"), pa.string()),
            "imsi": pa.array(get("imsi"), pa.string()),
        }
    )


def call(a, b, t, **kw):
    return {"caller": a, "callee": b, "start_time": t, **kw}


# A and B share contacts C and D; E talks only to A; F only to C (2nd degree of A).
CONTACTS = make_cdr(
    [
        call("A", "C", at(1, 9)),
        call("C", "B", at(1, 10)),  # direction does not matter for contacts
        call("A", "D", at(2, 9)),
        call("B", "D", at(2, 10), kind="sms"),
        call("B", "D", at(2, 11)),
        call("E", "A", at(3, 9)),
        call("C", "F", at(3, 10)),
        call("A", "B", at(3, 11)),  # A-B contact: not a *common* contact
        call("G", None, at(3, 12), kind="data"),
    ]
)


COMMON_CASES = [
    # numbers, min_shared, window, expected [(contact, n_shared, n_events)]
    (["A", "B"], None, (None, None), [("D", 2, 3), ("C", 2, 2)]),
    (["A", "B"], 1, (None, None), [("D", 2, 3), ("C", 2, 2), ("E", 1, 1)]),
    (["A", "B"], None, (at(2), None), [("D", 2, 3)]),  # the C calls were on day 1
    (["A", "F"], None, (None, None), [("C", 2, 2)]),
]


@pytest.mark.parametrize("numbers,min_shared,window,expected", COMMON_CASES)
def test_common_contacts(numbers, min_shared, window, expected):
    out = common_contacts(CONTACTS, numbers, min_shared=min_shared, start=window[0], end=window[1])
    assert [(r["contact"], r["n_shared"], r["n_events"]) for r in out.to_pylist()] == expected


def test_common_contacts_rejects_bad_input():
    with pytest.raises(TypeError):
        common_contacts(CONTACTS, "A")
    with pytest.raises(ValueError, match="min_shared"):
        common_contacts(CONTACTS, ["A", "B"], min_shared=3)


def test_contact_expansion_second_degree():
    out = contact_expansion(CONTACTS, ["A"], depth=2)
    got = {r["phone"]: (r["degree"], r["via"]) for r in out.to_pylist()}
    assert got == {
        "A": (0, []),
        "B": (1, ["A"]),
        "C": (1, ["A"]),
        "D": (1, ["A"]),
        "E": (1, ["A"]),
        "F": (2, ["C"]),
    }
    assert {r["phone"] for r in contact_expansion(CONTACTS, ["A"], depth=1).to_pylist()} == {"A", "B", "C", "D", "E"}
    # B-D has 2 events, every other pair 1
    strong = contact_expansion(CONTACTS, ["B"], depth=2, min_events=2)
    assert strong.column("phone").to_pylist() == ["B", "D"]


CHAINS = make_cdr(
    [
        call("A", "B", at(1, 10, 0), event_id="ab"),
        call("B", "C", at(1, 9, 0), event_id="bc_early"),  # before A->B: cannot continue the chain
        call("B", "C", at(1, 10, 30), event_id="bc"),
        call("C", "D", at(1, 11, 0), event_id="cd"),
        call("C", "A", at(1, 11, 5), event_id="ca"),  # back to A: A may not repeat
        call("D", "E", at(2, 11, 0), event_id="de"),  # a day later
        call("B", "X", at(1, 10, 0), event_id="bx_same_time"),  # same time as A->B: not later
    ]
)

CHAIN_CASES = [
    # kwargs, expected list of event-id chains
    ({"window": "2h"}, [["ab", "bc"], ["ab", "bc", "cd"]]),
    ({"window": "45min"}, [["ab", "bc"]]),
    ({"window": "2h", "target": "D"}, [["ab", "bc", "cd"]]),
    ({"window": "2d", "max_hops": 4, "target": "E"}, [["ab", "bc", "cd", "de"]]),
    ({"window": "2d", "max_hops": 4, "max_gap": "2h"}, [["ab", "bc"], ["ab", "bc", "cd"]]),
    ({"window": "2h", "min_hops": 3}, [["ab", "bc", "cd"]]),
]


@pytest.mark.parametrize("kwargs,expected", CHAIN_CASES)
def test_call_chains(kwargs, expected):
    out = call_chains(CHAINS, "A", **kwargs)
    assert out.column("event_ids").to_pylist() == expected
    for row in out.to_pylist():
        assert row["times"] == sorted(row["times"]) and len(set(row["times"])) == len(row["times"])
        assert len(set(row["phones"])) == len(row["phones"]) == row["n_hops"] + 1


def test_call_chains_validation():
    with pytest.raises(ValueError, match="min_hops"):
        call_chains(CHAINS, "A", min_hops=3, max_hops=2)
    with pytest.raises(ValueError, match="window"):
        call_chains(CHAINS, "A", window="soon")
    assert call_chains(CHAINS, "nobody").num_rows == 0


SWAPS = make_cdr(
    [
        # handset I1 used with SIMs S1 then S2 (a burner swap); served phones P1, P2
        call("P1", "Q", at(1), imei="I1", imsi="S1"),
        call("P2", "Q", at(5), imei="I1", imsi="S2"),
        # SIM S3 moved through handsets I2 and I3; incoming row: served party is the callee P3
        call("P3", "Q", at(2), imei="I2", imsi="S3"),
        call("Q", "P3", at(6), imei="I3", imsi="S3", direction="in"),
        # an ordinary phone
        call("P4", "Q", at(2), imei="I4", imsi="S4"),
        call("P4", "Q", at(3), imei="I4", imsi="S4"),
    ]
)


def test_device_swaps():
    out = {(r["kind"], r["key"]): r for r in device_swaps(SWAPS).to_pylist()}
    assert set(out) == {("device_many_sims", "I1"), ("sim_many_devices", "S3")}
    assert out["device_many_sims", "I1"]["values"] == ["S1", "S2"]
    assert out["device_many_sims", "I1"]["phones"] == ["P1", "P2"]
    assert out["sim_many_devices", "S3"]["values"] == ["I2", "I3"]
    assert out["sim_many_devices", "S3"]["phones"] == ["P3"]
    assert device_swaps(SWAPS, min_count=3).num_rows == 0


def _hourly(phone, start, end, every_h=1):
    rows, t = [], start
    while t < end:
        rows.append(call(phone, "Z", t))
        t += dt.timedelta(hours=every_h)
    return rows


def test_silent_periods():
    incident = at(8, 12)
    base0 = incident - dt.timedelta(days=7, hours=2)
    rows = (
        _hourly("DARK", base0, incident - dt.timedelta(hours=3))  # stops 3 h before, comes back after
        + _hourly("DARK", incident + dt.timedelta(hours=3), incident + dt.timedelta(hours=6))
        + _hourly("BUSY", base0, incident + dt.timedelta(hours=6))
        + _hourly("RARE", base0, incident - dt.timedelta(hours=3), every_h=48)  # expected < 1 event in the gap
    )
    out = {r["phone"]: r for r in silent_periods(make_cdr(rows), incident_time=incident).to_pylist()}
    assert out["DARK"]["went_dark"] and out["DARK"]["gap_events"] == 0
    assert out["DARK"]["expected_gap_events"] == pytest.approx(4.0, rel=0.05)
    assert out["DARK"]["p_value"] < 0.05
    assert out["DARK"]["last_before"] < incident < out["DARK"]["first_after"]
    assert not out["BUSY"]["went_dark"] and out["BUSY"]["gap_events"] == 5
    assert not out["RARE"]["went_dark"]  # silence is normal for it
    assert out["Z"]["gap_events"] > 0
    only = silent_periods(make_cdr(rows), incident_time=incident, phones=["DARK", "NEW"])
    assert only.column("phone").to_pylist() == ["DARK", "NEW"]


def test_burner_candidates():
    rows = []
    # long-lived ordinary phones talking to many people across the whole month
    for d in range(1, 31):
        for j in range(8):
            rows.append(call("O1", f"N{j}", at(d, 8 + j % 8), imei="IO1", imsi="SO1"))
            rows.append(call("O2", f"N{j}", at(d, 9), imei="IO2", imsi="SO2"))
    # burner B1: days 10-13, talks only to B2; B2 reuses B1's handset later
    rows += [call("B1", "B2", at(10 + k, 20), imei="IB", imsi="SB1") for k in range(4)]
    rows += [call("B2", "B1", at(14, 20), imei="IB", imsi="SB2"), call("B2", "O1", at(15, 20), imei="IB", imsi="SB2")]
    out = {r["phone"]: r for r in burner_candidates(make_cdr(rows), min_events=2, max_contacts=5).to_pylist()}
    assert out["B1"]["is_burner"] and out["B1"]["score"] == 3
    assert out["B2"]["is_burner"]
    assert not out["O1"]["is_burner"] and not out["O2"]["is_burner"]
    assert not out["N0"]["shared_device"]
