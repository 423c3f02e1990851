"""The linkage model's folder: saved and loaded back, a missing model named by its path; linkable incidents."""

from __future__ import annotations

import pyarrow as pa
import pytest

from models.crime_series.linkage import linkable_incidents
from models.crime_series.store import MODEL_FILE, load_linkage_model, read_linkage_report, save_linkage_model


def test_save_and_load(tmp_path):
    assert read_linkage_report(tmp_path) is None
    with pytest.raises(FileNotFoundError, match=MODEL_FILE):
        load_linkage_model(tmp_path)
    path = save_linkage_model(tmp_path, {"weights": [1, 2]}, {"heldout_auc": 0.97})
    assert path == tmp_path / MODEL_FILE
    assert load_linkage_model(tmp_path) == ({"weights": [1, 2]}, {"heldout_auc": 0.97})
    assert read_linkage_report(tmp_path) == {"heldout_auc": 0.97}


@pytest.mark.parametrize(
    ("enrichment", "ids"),
    [
        (None, ["i1"]),  # the incidents' own MO text
        (pa.table({"incident_id": ["i2"], "mo_text": ["pried the rear door"], "weapon": ["bar"]}), ["i2"]),
    ],
)
def test_linkable_incidents(enrichment, ids):
    incidents = pa.table({"incident_id": ["i1", "i2"], "mo_text": ["forced window", None]})
    assert linkable_incidents(incidents, enrichment)["incident_id"].to_pylist() == ids
    assert linkable_incidents(incidents.drop_columns(["mo_text"])).num_rows == 0
