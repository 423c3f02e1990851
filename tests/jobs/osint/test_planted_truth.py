"""The place names the generator plants in post texts (truth/osint_places): really in the texts, every
spelling present, deterministic, and never in what ingestion reads."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pytest

from jobs.synth import SynthSettings, generate
from jobs.synth.incidents import from_crimemapping
from jobs.synth.osint import written_place
from tests.helpers import data_path

SMALL = SynthSettings(days=10, n_phones=400, n_groups=2, n_accounts=200, n_atms=10, n_rings=1, n_mules=2,
                      n_atm_spikes=1, n_handles=300, n_cameras=2, n_other_persons=20, n_series=2)


@pytest.fixture(scope="module")
def feeds():
    raw = pv.read_csv(data_path("chicago/aggravated_assaults_2010_2017.csv.gz"),
                      convert_options=pv.ConvertOptions(column_types={"date": pa.string()}))
    inc = from_crimemapping(raw)
    return generate(inc.slice(inc.num_rows - 8000), seed=5, scale=SMALL, include_cdr=False)


def test_every_planted_spelling_is_in_its_post(feeds):
    truth = feeds.truth_osint_places
    text = dict(zip(feeds.osint_posts["post_id"].to_pylist(), feeds.osint_posts["text"].to_pylist()))
    rows = truth.to_pylist()
    assert rows and all(r["written"] in text[r["post_id"]] for r in rows)
    assert {r["form"] for r in rows} == {"exact", "misspelt", "abbreviated", "spanish"}
    assert all(r["written"] != r["place_name"] for r in rows if r["form"] != "exact")
    assert "written" not in feeds.osint_posts.column_names and "form" not in feeds.osint_posts.column_names


def test_report_posts_name_their_incident_place(feeds):
    planted = set(feeds.truth_osint_mentions["post_id"].to_pylist())
    assert planted <= set(feeds.truth_osint_places["post_id"].to_pylist())


@pytest.mark.parametrize("name,lang,forms", [
    ("Humboldt Park", "es", {"Parque Humboldt"}),
    ("North Lawndale", "es", {"Lawndale Norte"}),
    ("West Town", "en", {"W. Town"}),
])
def test_written_forms(name, lang, forms):
    r = np.random.default_rng(0)
    seen = {written_place(name, lang, r) for _ in range(200)}
    assert forms <= {w for w, _ in seen}
    assert (name, "exact") in seen
    misspelt = [w for w, f in seen if f == "misspelt"]
    assert all(w[0] == name[0] and abs(len(w) - len(name)) <= 1 and w != name for w in misspelt)
    assert bool(misspelt) == any(len(word) >= 5 for word in name.split())  # slips only in 5+ letter words
