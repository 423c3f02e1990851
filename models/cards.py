"""Model cards: what a registered model version is for, what it saw, how well it did, and what it cannot do.

A card is generated for a registered version from what the project recorded about it (run params,
backtest summary, gate decision), in Markdown and HTML, logged to the version's MLflow run and
written to the reports folder. Sections follow Mitchell et al.'s model cards; a section the project
has not measured says so instead of being left out.

Notes
-----
Mitchell, M. et al. (2019). Model Cards for Model Reporting. FAT* '19, 220-229.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["ModelCard", "backtest_rows", "hotspot_card"]

NOT_MEASURED = "Not measured yet for this model version."


@dataclass(frozen=True)
class ModelCard:
    """The sections of a card; ``data`` and ``facts`` are label -> text rows, ``backtest`` a table."""

    name: str
    version: str
    method: str
    summary: str
    intended_use: Sequence[str]
    out_of_scope: Sequence[str]
    data: Mapping[str, str]
    backtest: pd.DataFrame | None = None
    backtest_note: str = ""
    calibration: str = NOT_MEASURED
    fairness: str = NOT_MEASURED
    limits: Sequence[str] = ()
    facts: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"Model card: {self.name} v{self.version} ({self.method})"

    def markdown(self) -> str:
        out = [f"# {self.title}", "", self.summary, "", "## Intended use", *[f"- {u}" for u in self.intended_use],
               "", "## Out of scope", *[f"- {u}" for u in self.out_of_scope], "", "## Data and period",
               *[f"- **{k}:** {v}" for k, v in self.data.items()], "", "## Backtest"]
        if self.backtest is not None and len(self.backtest):
            cols = list(self.backtest.columns)
            out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            out += ["| " + " | ".join(str(v) for v in row) + " |" for row in self.backtest.itertuples(index=False)]
        else:
            out.append(NOT_MEASURED)
        if self.backtest_note:
            out += ["", self.backtest_note]
        out += ["", "## Calibration", self.calibration, "", "## Fairness audit", self.fairness, "",
                "## Known limits", *([f"- {x}" for x in self.limits] or ["- None recorded."])]
        if self.facts:
            out += ["", "## Record", *[f"- **{k}:** {v}" for k, v in self.facts.items()]]
        return "\n".join(out) + "\n"

    def html(self) -> str:
        e = html.escape

        def items(xs):
            return "<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in xs) + "</ul>"

        def rows(d):
            return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in d.items()) + "</dl>"

        table = NOT_MEASURED if self.backtest is None or not len(self.backtest) else (
            "<table><tr>" + "".join(f"<th>{e(str(c))}</th>" for c in self.backtest.columns) + "</tr>" +
            "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>"
                    for r in self.backtest.itertuples(index=False)) + "</table>")
        style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
                 "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}"
                 "th{background:#f3f3f3}dt{font-weight:bold}dd{margin:0 0 .4rem 1rem}")
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(self.title)}</title>"
                f"<style>{style}</style></head><body><h1>{e(self.title)}</h1><p>{e(self.summary)}</p>"
                f"<h2>Intended use</h2>{items(self.intended_use)}<h2>Out of scope</h2>{items(self.out_of_scope)}"
                f"<h2>Data and period</h2>{rows(self.data)}<h2>Backtest</h2>{table}"
                f"<p>{e(self.backtest_note)}</p><h2>Calibration</h2><p>{e(self.calibration)}</p>"
                f"<h2>Fairness audit</h2><p>{e(self.fairness)}</p><h2>Known limits</h2>"
                f"{items(self.limits or ['None recorded.'])}"
                + (f"<h2>Record</h2>{rows(self.facts)}" if self.facts else "") + "</body></html>")


def backtest_rows(summary: pd.DataFrame, resolution: int) -> pd.DataFrame:
    """The backtest summary (``models.evaluation.backtest.summarise``) as card rows: method, horizon, H3
    resolution, area share, PAI and hit rate with their standard errors, weeks."""
    s = summary.sort_values(["horizon", "coverage", "pai_mean"], ascending=[True, True, False])
    return pd.DataFrame({
        "method": s["method"], "horizon": s["horizon"].map({"W": "week", "D": "day"}).fillna(s["horizon"]),
        "H3 res": resolution, "area %": (100 * s["coverage"]).map(lambda v: f"{v:g}"),
        "PAI": [f"{m:.2f} ± {se:.2f}" for m, se in zip(s["pai_mean"], s["pai_se"])],
        "hit rate %": [f"{100 * m:.1f} ± {100 * se:.1f}" for m, se in zip(s["hit_rate_mean"], s["hit_rate_se"])],
        "periods": s["n_periods"].astype(int)})


def hotspot_card(*, name: str, version: str, method: str, source: str, params: Mapping[str, object],
                 summary: pd.DataFrame | None, resolution: int, gate: str = "") -> ModelCard:
    """The card of a registered hotspot version (the learned model or a baseline the gate registered)."""
    learned = method == "learned"
    what = ("a LightGBM Poisson model over each cell's past counts, neighbourhood and kernel-density rates, "
            "near-repeat exposure and calendar, exported to ONNX" if learned else
            f"the `{method}` baseline, refitted on the incidents before each week (no trained parameters)")
    data = {"source": source, "cells": f"H3 resolution {resolution} cells of the source's study area",
            "period": "weeks (Monday 00:00 UTC)"}
    for key, label in (("origin", "data up to (the week after the last week of features)"),
                       ("trained_to", "first week not trained on (held out for the champion gate)"),
                       ("cell_features_version", "gold/cell_features Delta version"),
                       ("hotspot_backtest_version", "gold/hotspot_backtest Delta version"),
                       ("train_weeks", "training weeks")):
        if params.get(key) not in (None, ""):
            data[label] = str(params[key])
    return ModelCard(
        name=name, version=str(version), method=method,
        summary=f"Expected incidents per cell for the coming week, from {what}.",
        intended_use=["Ranking cells of the study area for the coming week to focus analysis, problem-solving and "
                      "patrol planning, with a person deciding.",
                      "Comparison against the baselines it is backtested with."],
        out_of_scope=["Decisions about individuals: it ranks places, and knows nothing about people.",
                      "Areas, offence categories or periods other than those it was trained on.",
                      "Measuring police performance, or allocating resources without review: recorded crime "
                      "follows where police look, and patrols that follow the forecast can feed it back "
                      "(the feedback loop of Lum & Isaac 2016; Ensign et al. 2018)."],
        data=data,
        backtest=backtest_rows(summary, resolution) if summary is not None and len(summary) else None,
        backtest_note=("Rolling-origin backtest on the weeks before the data's end (hotspot_backtest): each "
                       "week scored from incidents before its start; mean ± standard error over weeks. Day and "
                       "shift horizons and other resolutions: benchmarks/forecast.py."),
        fairness=("Not audited yet: the exposure audit (patrol cell-shifts per district against recorded crime "
                  "and population) and the feedback-loop simulation are planned (#17) and will be reported "
                  "here. Until then, treat concentration of patrols in districts with more recorded crime as "
                  "unaudited."),
        limits=["Learns from recorded incidents only: under-reported crime and changes in recording practice "
                "are invisible to it.",
                "Weekly periods start at UTC midnight, six hours before Chicago's Monday.",
                "Standard errors come from a handful of weeks; small differences between methods are noise."]
               + ([] if learned else ["A baseline: it serves because the learned model did not beat it by more "
                                      "than the paired standard error on the gate's weeks."]),
        facts={k: v for k, v in {"champion gate": gate}.items() if v})


def publish_card(card: ModelCard, tracking_uri: str, run_id: str, folder) -> dict:
    """Log the card to the version's MLflow run (``model_card.md``, ``model_card.html``) and write it to
    ``folder`` as ``model_card_<name>_v<version>.md``/``.html``; returns the paths written."""
    from pathlib import Path

    from models.registry import log_run_texts

    md, page = card.markdown(), card.html()
    log_run_texts(tracking_uri, run_id, {"model_card.md": md, "model_card.html": page})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"model_card_{card.name}_v{card.version}"
    paths = {"card_md": folder / f"{stem}.md", "card_html": folder / f"{stem}.html"}
    paths["card_md"].write_text(md, encoding="utf-8")
    paths["card_html"].write_text(page, encoding="utf-8")
    return paths
