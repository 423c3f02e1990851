"""A follower killed between its MERGE and its watermark does not count the same changes twice."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jobs.fusion.entities import LINK_PARTIALS, transaction_link_partials
from orchestration.fusion.partials import update_record_link_partials
from orchestration.lakehouse import changes
from orchestration.resources.lakehouse import LocalLakehouse

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)


def txns(ids, account="A1", counterparty="B2"):
    return pa.table({"txn_id": pa.array(ids, pa.string()),
                     "account": pa.array([account] * len(ids), pa.string()),
                     "counterparty": pa.array([counterparty] * len(ids), pa.string()),
                     "occurred_at": pa.array([T0 + dt.timedelta(hours=i) for i in range(len(ids))],
                                             pa.timestamp("us", tz="UTC"))})


def partials(lake) -> list[dict]:
    return sorted(lake.read("gold", "transaction_link_partials").cast(LINK_PARTIALS).to_pylist(),
                  key=lambda r: (r["link_type"], r["src"], r["dst"]))


def test_killed_after_merge_before_watermark(tmp_path, monkeypatch):
    lake = LocalLakehouse(root=str(tmp_path / "lake"))
    lake.append("silver", "transactions", txns(["t1", "t2"]))
    assert update_record_link_partials(lake, "transactions")["mode"] == "full"
    lake.append("silver", "transactions", txns(["t3"]))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the watermark moved")

    monkeypatch.setattr(changes, "save_watermarks", killed)
    with pytest.raises(KeyboardInterrupt):
        update_record_link_partials(lake, "transactions")
    monkeypatch.undo()

    again = update_record_link_partials(lake, "transactions")
    assert again["mode"] == "unchanged"  # the merge already held t3: nothing is added twice
    expected = sorted(transaction_link_partials(lake.read("silver", "transactions")).cast(LINK_PARTIALS).to_pylist(),
                      key=lambda r: (r["link_type"], r["src"], r["dst"]))
    assert partials(lake) == expected and expected[0]["n_evidence"] == 3

    lake.append("silver", "transactions", txns(["t4"]))  # and the next night merges as usual
    assert update_record_link_partials(lake, "transactions")["mode"] == "merged"
    assert partials(lake)[0]["n_evidence"] == 4
