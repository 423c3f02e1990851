"""Entity features on hand-made CDR and transaction rows whose answers are worked out by hand."""

import pandas as pd
import pyarrow as pa
import pytest

from jobs.anomalies.entity_features import ACCOUNT_FEATURES, PHONE_FEATURES, account_features, phone_features


def _ts(values):
    return pa.array(pd.to_datetime(values, utc=True), pa.timestamp("us", tz="UTC"))


def _cdr(rows):
    caller, callee, t, direction, cell, imei, imsi = zip(*rows)
    return pa.table(
        {
            "caller": list(caller), "callee": list(callee), "start_time": _ts(list(t)),
            "direction": list(direction), "cell_id": list(cell), "imei": list(imei), "imsi": list(imsi),
        }
    )


CDR = _cdr(
    [
        # A: two handsets, switches twice, three contacts (B twice), one night call
        ("A", "B", "2024-01-01 10:00", "out", "c1", "I1", "SA"),
        ("A", "C", "2024-01-01 23:30", "out", "c2", "I2", "SA"),
        ("A", "B", "2024-01-03 10:00", "out", "c1", "I1", "SA"),
        ("D", "A", "2024-01-03 12:00", "in", "c3", "I1", "SA"),  # A receives from D
        # B's own leg of the first call; B's handset I1 ... no: B uses I9
        ("A", "B", "2024-01-01 10:00", "in", "c9", "I9", "SB"),
        # E: a second SIM in A's handset I1
        ("E", "F", "2024-01-02 09:00", "out", "c1", "I1", "SE"),
    ]
)

# c1 and c2 are two sectors of one mast; c3 is registered without a site; c9 is not registered
SITES = pa.table({"cell_id": ["c1", "c2", "c3"], "site_id": ["S1", "S1", None]})


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("A", {"n_events": 4, "n_contacts": 3, "new_contact_share": 0.75, "night_share": 0.25, "n_sites": 2,
               "n_imeis": 2, "imei_changes": 2, "sims_per_imei": 2, "lifetime_days": 2 + 2 / 24,
               "active_days": 2, "events_per_active_day": 2.0}),
        ("B", {"n_events": 1, "n_contacts": 1, "new_contact_share": 1.0, "n_imeis": 1, "imei_changes": 0,
               "sims_per_imei": 1, "lifetime_days": 0, "active_days": 1}),
        ("E", {"n_events": 1, "sims_per_imei": 2}),
    ],
)
def test_phone_features_by_hand(phone, expected):
    out = phone_features(CDR, cell_sites=SITES).to_pandas().set_index("phone")
    assert set(out.columns) == set(PHONE_FEATURES)
    assert set(out.index) == {"A", "B", "E"}
    for k, v in expected.items():
        assert out.loc[phone, k] == pytest.approx(v), k


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        # c1, c2 -> S1; c3 has no site, so it is its own: two sites
        (SITES, {"A": 2, "B": 1, "E": 1}),
        # without a register every sector counts: c1, c2, c3
        (None, {"A": 3, "B": 1, "E": 1}),
        # every cell on one mast, the unregistered c9 on its own
        (pa.table({"cell_id": ["c1", "c2", "c3"], "site_id": ["S1", "S1", "S1"]}), {"A": 1, "B": 1, "E": 1}),
    ],
)
def test_phone_sites_count_masts_not_sectors(sites, expected):
    out = phone_features(CDR, cell_sites=sites).to_pandas().set_index("phone")
    assert out["n_sites"].to_dict() == expected


def test_phone_sites_register_needs_its_columns():
    with pytest.raises(ValueError, match="site_id"):
        phone_features(CDR, cell_sites=pa.table({"cell_id": ["c1"]}))


def test_phone_night_in_local_time():
    out = phone_features(CDR, cell_sites=SITES, tz="America/Chicago").to_pandas().set_index("phone")
    # 10:00 UTC = 04:00 Chicago (night), 23:30 UTC = 17:30, 12:00 UTC = 06:00 (day)
    assert out.loc["A", "night_share"] == pytest.approx(0.5)


def _txns(rows):
    account, cp, amount, t, channel, direction = zip(*rows)
    return pa.table(
        {"account": list(account), "counterparty": list(cp), "amount": list(amount), "occurred_at": _ts(list(t)),
         "channel": list(channel), "direction": list(direction)}
    )


TXNS = _txns(
    [
        # M: a mule, three payers in, one transfer out and an ATM withdrawal within a day
        ("M", "P1", 500.0, "2024-01-01 09:00", "transfer", "credit"),
        ("M", "P2", 500.0, "2024-01-01 10:00", "transfer", "credit"),
        ("M", "P3", 250.0, "2024-01-01 11:00", "transfer", "credit"),
        ("M", "X", 900.0, "2024-01-01 20:00", "transfer", "debit"),
        ("M", None, 300.0, "2024-01-02 08:00", "atm", "debit"),
        # N: salary in, card spending weeks later
        ("N", "EMP", 2000.0, "2024-01-01 09:00", "transfer", "credit"),
        ("N", "SHOP", 42.17, "2024-01-20 09:00", "card", "debit"),
    ]
)


def test_account_features_by_hand():
    out = account_features(TXNS).to_pandas().set_index("account")
    assert list(out.columns) == ACCOUNT_FEATURES
    m, n = out.loc["M"], out.loc["N"]
    assert (m.fan_in, m.fan_out, m.n_txns) == (3, 1, 5)
    assert m.round_share == pytest.approx(4 / 5)
    assert m.atm_share == pytest.approx(1 / 5)
    assert (m.inflow, m.outflow) == (1250.0, 1200.0)
    assert m.pass_through == pytest.approx(1200 / 1250)
    assert m.velocity == pytest.approx(5.0)  # lifetime 23 h, floored at one day
    assert n.pass_through == 0.0
    assert n.velocity == pytest.approx(2 / 19)


def test_account_direction_fallbacks():
    no_dir = TXNS.drop_columns(["direction"])
    signed = no_dir.set_column(2, "amount", pa.array([500.0, 500, 250, -900, -300, 2000, -42.17]))
    by_sign = account_features(signed).to_pandas().set_index("account")
    assert by_sign.loc["M", "inflow"] == 1250.0 and by_sign.loc["M", "fan_in"] == 3
    by_channel = account_features(no_dir).to_pandas().set_index("account")
    assert by_channel.loc["M", "inflow"] == 0.0  # unsigned transfers read as debits
    with pytest.raises(ValueError, match="expected one of"):
        account_features(TXNS.set_column(5, "direction", pa.array(["up"] * 7)))
    with pytest.raises(ValueError, match="missing"):
        account_features(TXNS.drop_columns(["channel"]))
