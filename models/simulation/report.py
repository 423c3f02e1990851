"""The what-if report: one self-contained HTML page (plot embedded as a PNG data URI), nothing loaded online.

Returns the HTML text and the figure; the caller writes the files (the CLI
writes ``index.html`` and the same plot as ``prevented.png`` beside it).
"""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from matplotlib.figure import Figure

from models.simulation.params import SimulationParams
from models.simulation.plots import plot_prevented

_STYLE = ("body{font-family:system-ui,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;"
          "line-height:1.45}table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;"
          "padding:.25em .55em;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
          ".note{color:#555;font-size:.9em}")

#: What each strategy does, shown on the page.
STRATEGY_TEXT = {
    "forecast": "top cells of the self-exciting forecast (the SEPP baseline, refitted weekly on discovered crime)",
    "kde": "top cells of a quartic kernel density of the last weeks' discovered crime",
    "naive": "top cells by discovered crime counted over the last weeks",
    "uniform": "every cell gets an equal share of the patrol capacity",
}


def png_data_uri(fig: Figure, dpi: int = 110) -> str:
    """``fig`` as a ``data:image/png;base64,...`` URI, so the page needs no file beside it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _summary_table(summary: pd.DataFrame, level: float) -> str:
    shown = pd.DataFrame({
        "strategy": summary["policy"],
        "seeds": summary["seeds"],
        "prevented (mean)": summary["prevented"].map("{:,.1f}".format),
        "standard error": summary["prevented_se"].map("{:,.1f}".format),
        f"central {level:.0%} of seeds": [f"{lo:,.1f} to {hi:,.1f}" for lo, hi in
                                          zip(summary["prevented_lo"], summary["prevented_hi"])],
        "true crime (mean)": summary["true_crime"].map("{:,.0f}".format),
        "discovered (mean)": summary["discovered"].map("{:,.0f}".format),
        "runaway index (mean)": summary["runaway_index"].map("{:.3f}".format),
    })
    return shown.to_html(index=False, escape=True, border=0)


def whatif_report(summary: pd.DataFrame, *, weeks: int, capacity: int, n_cells: int, params: SimulationParams,
                  source: str, level: float = 0.95, timezone: str = "UTC",
                  generated_at: pd.Timestamp | None = None
                  ) -> tuple[str, Figure]:
    """Build the page from :func:`models.simulation.whatif.summarise` of the strategies' runs.

    Parameters
    ----------
    summary
        One row per strategy (``policy`` holds the strategy name).
    weeks, capacity, n_cells
        Simulated weeks, cells patrolled per week, study-area cells.
    params
        The settings the runs used, listed on the page.
    source
        What the world was fitted to (file and spec), shown on the page.
    timezone
        IANA zone of the generation time shown (the study area's, from its spec).
    """
    generated_at = (pd.Timestamp.now(tz="UTC") if generated_at is None else generated_at).tz_convert(timezone)
    fig = plot_prevented(summary, weeks, level)
    e = html.escape
    items = "".join(f"<li><b>{e(s)}</b>: {e(STRATEGY_TEXT.get(s, s))}</li>" for s in summary["policy"])
    settings = "".join(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in params.to_dict().items())
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>What-if patrol strategies</title>
<style>{_STYLE}</style></head><body>
<h1>What-if patrol strategies</h1>
<p>{weeks} simulated weeks, {capacity:,} of {n_cells:,} cells patrolled each week; true crime from a self-exciting
model fitted to {e(source)}. Generated {e(generated_at.strftime('%Y-%m-%d %H:%M'))} ({e(timezone)}).</p>
<h2>Expected crime prevented</h2>
<img src="{png_data_uri(fig)}" alt="expected crime prevented per strategy" width="700">
{_summary_table(summary, level)}
<p class="note">Prevented: the deterrence share times the expected crime of each patrolled cell, summed over the
weeks (an expectation under the stated deterrence, not a count). The standard error and interval are across
seeds: they show the simulation's randomness, not the uncertainty of the assumptions below.</p>
<h2>Strategies</h2><ul>{items}</ul>
<p class="note">Every strategy learns only from the crime its own patrols let it discover.</p>
<h2>Assumptions</h2><table><tr><th>setting</th><th>value</th></tr>{settings}</table>
<p class="note">Sources of the defaults and the limits of the model: docs/accountability.md, "What-if".</p>
</body></html>"""
    return page, fig
