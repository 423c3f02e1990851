"""The PNG export's figure: legend with values and unit, local dates in the title, a km scale bar."""

from __future__ import annotations

import re

import pytest

from jobs.maps.figures import cell_figure, nice_length_km
from jobs.maps.pages import forecast_title
from tests.jobs.maps import tiny


@pytest.mark.parametrize("span, length", [(40.0, 5.0), (3.2, 0.5), (9.9, 1.0), (10.0, 2.0), (0.0, 1.0)])
def test_scale_bar_length(span, length):
    assert nice_length_km(span) == length


def test_figure_states_values_dates_and_scale(tmp_path):
    f = tiny.forecast()
    fig = cell_figure(f.column("h3").to_pylist(), f.column("expected_count").to_numpy(), tiny.districts(),
                      title=forecast_title(tiny.WEEK, tiny.TZ), subtitle="Forecast by learned, v3",
                      top=f.column("in_top_cells").to_numpy(zero_copy_only=False))
    ax = fig.axes[0]
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "Expected incidents per cell" in legend.get_title().get_text()
    assert re.match(r"\d\.\d+ or more  \(\d+ cells\)", texts[0])
    assert any(t.startswith("0  (") for t in texts) and any(t.startswith("Top cells (") for t in texts)
    assert fig._suptitle.get_text() == "Expected incidents, week of Mon 1 Jan 2018 – Sun 7 Jan 2018 (America/Chicago)"
    shown = [t.get_text() for t in ax.texts]
    assert "1 km" in shown or "500 m" in shown or any(t.endswith(" km") for t in shown)  # the scale bar
    assert {"1", "2 Near South"} <= set(shown)  # area labels
    fig.savefig(tmp_path / "map.png", dpi=60)
    assert (tmp_path / "map.png").stat().st_size > 10_000
