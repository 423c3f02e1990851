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

import numpy as np
import pandas as pd

__all__ = ["ModelCard", "anomaly_card", "backtest_rows", "detector_card", "evaluation_rows", "grid_rows", "hotspot_card"]

NOT_MEASURED = "Not measured yet for this model version."


@dataclass(frozen=True)
class ModelCard:
    """The sections of a card; ``data`` and ``facts`` are label -> text rows, ``backtest`` a table (headed
    ``evaluation_title``: a forecast's backtest, a detector's evaluation)."""

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
    evaluation_title: str = "Backtest"
    #: Grid sensitivity (hotspot models): a table of methods ranked per grid and the text around it; the
    #: section is left out of cards that have neither (the anomaly detectors rank no cells).
    grid_sensitivity: pd.DataFrame | None = None
    grid_note: str = ""

    @property
    def title(self) -> str:
        return f"Model card: {self.name} v{self.version} ({self.method})"

    def markdown(self) -> str:
        out = [f"# {self.title}", "", self.summary, "", "## Intended use", *[f"- {u}" for u in self.intended_use],
               "", "## Out of scope", *[f"- {u}" for u in self.out_of_scope], "", "## Data and period",
               *[f"- **{k}:** {v}" for k, v in self.data.items()], "", f"## {self.evaluation_title}",
               *_markdown_table(self.backtest)]
        if self.backtest_note:
            out += ["", self.backtest_note]
        if self.grid_sensitivity is not None or self.grid_note:
            out += ["", "## Grid sensitivity", *_markdown_table(self.grid_sensitivity), "", self.grid_note]
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

        grid = (f"<h2>Grid sensitivity</h2>{_html_table(self.grid_sensitivity)}<p>{e(self.grid_note)}</p>"
                if self.grid_sensitivity is not None or self.grid_note else "")
        style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
                 "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}"
                 "th{background:#f3f3f3}dt{font-weight:bold}dd{margin:0 0 .4rem 1rem}")
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(self.title)}</title>"
                f"<style>{style}</style></head><body><h1>{e(self.title)}</h1><p>{e(self.summary)}</p>"
                f"<h2>Intended use</h2>{items(self.intended_use)}<h2>Out of scope</h2>{items(self.out_of_scope)}"
                f"<h2>Data and period</h2>{rows(self.data)}<h2>{e(self.evaluation_title)}</h2>"
                f"{_html_table(self.backtest)}<p>{e(self.backtest_note)}</p>{grid}"
                f"<h2>Calibration</h2><p>{e(self.calibration)}</p>"
                f"<h2>Fairness audit</h2><p>{e(self.fairness)}</p><h2>Known limits</h2>"
                f"{items(self.limits or ['None recorded.'])}"
                + (f"<h2>Record</h2>{rows(self.facts)}" if self.facts else "") + "</body></html>")


def _markdown_table(table: pd.DataFrame | None) -> list[str]:
    """A table's Markdown lines, or :data:`NOT_MEASURED` for none."""
    if table is None or not len(table):
        return [NOT_MEASURED]
    cols = list(table.columns)
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
            *("| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False))]


def _html_table(table: pd.DataFrame | None) -> str:
    """A table as escaped HTML, or :data:`NOT_MEASURED` for none."""
    e = html.escape
    if table is None or not len(table):
        return NOT_MEASURED
    return ("<table><tr>" + "".join(f"<th>{e(str(c))}</th>" for c in table.columns) + "</tr>" +
            "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>"
                    for r in table.itertuples(index=False)) + "</table>")


def grid_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A grid-sensitivity table (``models.evaluation.grid_sensitivity.COLUMNS``) as card rows: grid, method,
    PAI at 1 % and 5 % with their standard errors, rank on that grid, weeks, cells."""
    return pd.DataFrame({
        "grid": table["grid"], "method": table["method"],
        "PAI @1 %": [f"{m:.2f} ± {se:.2f}" for m, se in zip(table["pai_1pct"], table["se_1pct"])],
        "PAI @5 %": [f"{m:.2f} ± {se:.2f}" for m, se in zip(table["pai_5pct"], table["se_5pct"])],
        "rank": table["rank"].astype(int), "weeks": table["periods"].astype(int),
        "cells": table["cells"].map(lambda n: f"{int(n):,}")})


def grid_text(grid, summary: pd.DataFrame | None, resolution: int) -> str:
    """What the grid-sensitivity table is, its verdict, and where the learned model stands: ranked at the
    served resolution only (the backtest's weeks), its features being H3-only."""
    served = ""
    if summary is not None and len(summary) and "learned" in set(summary["method"]):
        at1 = summary[np.isclose(summary["coverage"], 0.01)]
        at1 = at1.sort_values(["pai_mean", "method"], ascending=[False, True])
        row = at1[at1["method"] == "learned"].iloc[0]
        served = (f" The learned model, at the served resolution (H3 res {resolution}) on the backtest's "
                  f"{int(row['n_periods'])} out-of-sample weeks: PAI @1 % {row['pai_mean']:.2f} ± "
                  f"{row['pai_se']:.2f}, rank {list(at1['method']).index('learned') + 1} of {len(at1)} methods "
                  "(Backtest above).")
    learned = ("The learned model is not in this table: its features are H3-only (k-ring counts, the incidents' H3 "
               "parents), so it cannot be scored on square cells, and refitting it at other resolutions costs "
               "minutes." + served + " Every method on every grid it can be scored on, the learned model at H3 "
               "resolutions 8-10 included: benchmarks/forecast.py --grid-sensitivity.")
    if grid is None:
        return f"{NOT_MEASURED} {learned}"
    weeks = int(grid.table["periods"].max()) if len(grid.table) else 0
    return (f"Verdict: {grid.verdict}. The baselines that read only cell positions and times "
            f"({', '.join(dict.fromkeys(grid.table['method']))}) on the same {weeks} weeks before the data's end, "
            f"on each grid of the table (the square cells have about the area of the H3 res-9 cells, the shifted "
            f"grid's origin moved half a cell east and north): mean ± standard error over weeks, rank 1 = highest PAI "
            f"@1 % on that grid. A grid changes the ranking only where a pair of methods is ordered by more than "
            f"one paired standard error both ways (against {grid.reference}); this is the modifiable areal unit "
            f"problem (docs/accountability.md, \"Grid sensitivity\"). {learned}")


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


def calibration_text(summary: pd.DataFrame | None) -> str:
    """The backtest's Poisson deviance per method (lower is better), or :data:`NOT_MEASURED` for a summary
    without it."""
    if summary is None or "deviance_mean" not in summary.columns or not len(summary):
        return NOT_MEASURED
    rows = summary.drop_duplicates(["method", "horizon"]).sort_values("deviance_mean")
    parts = [f"{r.method} {r.deviance_mean:.4f} ± {r.deviance_se:.4f}" for r in rows.itertuples()]
    return ("Mean Poisson deviance of the expected counts per cell and period on the backtest's weeks (lower is "
            "better; scores that are not counts rescaled to the trailing year's rate): " + "; ".join(parts) +
            ". Reliability plot: reports/hotspots/backtest_reliability.png (docs/forecasting.md, \"Calibration\").")


def hotspot_card(*, name: str, version: str, method: str, source: str, params: Mapping[str, object],
                 summary: pd.DataFrame | None, resolution: int, gate: str = "", grid=None) -> ModelCard:
    """The card of a registered hotspot version (the learned model or a baseline the gate registered);
    ``grid``: its data's :class:`models.evaluation.grid_sensitivity.GridSensitivity`, None where not measured."""
    learned = method == "learned"
    what = ("a LightGBM Poisson model over each cell's past counts, neighbourhood and kernel-density rates, "
            "near-repeat exposure and calendar, exported to ONNX" if learned else
            f"the `{method}` baseline, refitted on the incidents before each week (no trained parameters)")
    data = {"source": source, "cells": f"H3 resolution {resolution} cells of the source's study area",
            "period": f"weeks from Monday 00:00 local time ({params.get('timezone') or 'UTC'})"}
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
        calibration=calibration_text(summary),
        grid_sensitivity=None if grid is None else grid_rows(grid.table),
        grid_note=grid_text(grid, summary, resolution),
        backtest_note=("Rolling-origin backtest on the weeks before the data's end (hotspot_backtest): each "
                       "week scored from incidents before its start; mean ± standard error over weeks. Day and "
                       "shift horizons and other resolutions: benchmarks/forecast.py."),
        fairness=("Not measured for this version before it serves. Once it serves, the exposure audit (gold "
                  "patrol_exposure, per week of patrol plans: each district's share of patrol cell-shifts "
                  "against its share of recorded crime, per capita where the spec declares a population layer, "
                  "and the Gini of exposure; reports/hotspots/exposure_<week>.png) measures where its plans "
                  "send patrols, and the feedback-loop audit (gold feedback_audit: the runaway index of a "
                  "simulated forecast fed only discovered crime, against Ensign et al.'s correction; "
                  "reports/hotspots/feedback_<week>.png) whether following such plans would run away. Both "
                  "rest on stated assumptions (docs/accountability.md)."),
        limits=["Learns from recorded incidents only: under-reported crime and changes in recording practice "
                "are invisible to it.",
                "Standard errors come from a handful of weeks; small differences between methods are noise."]
               + ([] if learned else ["A baseline: it serves because the learned model did not beat it by more "
                                      "than the paired standard error on the gate's weeks."]),
        facts={k: v for k, v in {"champion gate": gate}.items() if v})


#: What each entity detector is, in a sentence, and the limit that comes with how it scores.
_DETECTORS = {
    "isolation_forest": ("an Isolation Forest (Liu, Ting & Zhou 2008) on log1p features",
                         "Isolation Forest scores move with the seed (seed ranges in docs/anomalies.md); the ONNX "
                         "export can differ from the native forest on float32 ties, which the parity gate bounds."),
    "ecod": ("ECOD (Li et al. 2022): empirical-CDF tail probabilities per feature",
             "ECOD scores each feature's tail on its own: an unusual combination of ordinary values is missed."),
}


def evaluation_rows(quality: Mapping[str, float] | None, parity: Mapping[str, object]) -> pd.DataFrame:
    """A detector's evaluation as card rows: ranking quality against planted truth (when there is some) and
    the ONNX export's parity with the native detector."""
    rows = []
    if quality:
        n_pos, n = int(quality.get("n_pos", 0)), int(quality.get("n", 0))
        for key, label in (("roc_auc", "ROC AUC"), ("average_precision", "average precision"),
                           ("p@10", "precision at 10"), ("p@50", "precision at 50"),
                           ("r_precision", "R-precision (precision at the number planted)")):
            v = quality.get(key)
            if v is not None and np.isfinite(v):
                rows.append(("planted truth", label, f"{v:.3f}"))
        rows.append(("planted truth", "planted entities among the scored", f"{n_pos:,} of {n:,}"))
    rows += [("ONNX parity", "passed", "yes" if parity.get("passed") else "no"),
             ("ONNX parity", "rows compared", f"{int(parity.get('rows', 0)):,}"),
             ("ONNX parity", "rows outside tolerance", f"{int(parity.get('rows_mismatched', 0)):,}"),
             ("ONNX parity", "largest score difference", f"{float(parity.get('max_abs_diff_score', 0.0)):.1e}"),
             ("ONNX parity", "top-k overlap", f"{float(parity.get('top_k_overlap', 1.0)):.3f}")]
    return pd.DataFrame(rows, columns=["evaluation", "measure", "value"])


def _utc(value) -> str:
    """``2017-12-31 23:00 UTC``: a time with its zone named (the entity models have no study area of their own)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def anomaly_card(*, spec, version: str, quality: Mapping[str, float] | None, parity: Mapping[str, object],
                 params: Mapping[str, object], data_end=None) -> ModelCard:
    """The card of a registered entity anomaly detector (``spec``: a
    :class:`models.anomalies.scoring.EntityModel`), from its fit's truth figures and ONNX parity."""
    what, detector_limit = _DETECTORS.get(spec.detector, (f"the `{spec.detector}` detector", ""))
    entity = spec.entity_type
    data = {"entities": f"every pseudonymised {entity} in gold `{spec.table}` (one row each)",
            "features": ", ".join(spec.features),
            "period": ("the whole silver window the features were built from" +
                       (f", up to {_utc(data_end)}" if data_end is not None else ""))}
    for key, label in (("feature_table_version", f"gold/{spec.table} Delta version"), ("n_rows", "rows fitted"),
                       ("contamination", "share flagged (contamination)"), ("seed", "seed"),
                       ("n_estimators", "trees")):
        if params.get(key) not in (None, "") and not (key == "n_estimators" and spec.detector != "isolation_forest"):
            data[label] = str(params[key])
    truth = bool(quality)
    note = ("Scored on the rows it was fitted on (an unsupervised detector has no held-out labels) against the "
            "entities the synthetic generator planted: these figures describe the synthetic demo, not real "
            "records. Detector comparison and seed ranges: docs/anomalies.md (benchmarks/anomaly.py)."
            if truth else "No planted truth for this feature table: ranking quality is not measured; only the "
                          "ONNX export's parity with the native detector is.")
    share = params.get("contamination")
    return ModelCard(
        name=spec.model_name, version=str(version), method=spec.detector, evaluation_title="Evaluation",
        summary=f"An anomaly score for every {entity}, from {what}, with each feature's contribution; exported "
                "to ONNX. Higher is more unusual; the top share is flagged.",
        intended_use=[f"Ranking pseudonymised {entity}s by how unusual their behaviour is, so an analyst reviews "
                      "the most unusual first, with the features behind each score.",
                      "Leads inside an investigation that is already authorised, checked against other sources."],
        out_of_scope=["Evidence or grounds for action against a person: an unusual profile is not wrongdoing.",
                      "Automated decisions (blocking an account or a phone) without a person's review.",
                      "Re-identifying pseudonyms, other entity types, or feature tables built differently.",
                      "Reading the score as a probability or comparing raw scores across models or versions "
                      "(use the percentile, `score_pct`)."],
        data=data, backtest=evaluation_rows(quality, parity), backtest_note=note,
        calibration=("Not applicable as measured: the score is an anomaly score, not a probability. The flag "
                     "threshold is a quantile of the training scores, so about "
                     f"{float(share):.1%} of {entity}s are flagged by construction, whatever the true rate."
                     if share is not None else NOT_MEASURED),
        fairness=("Not measured. The features hold no demographic or place attributes, so whether flags fall "
                  "unevenly on groups of people (prepaid users, night workers, cash-based small businesses) "
                  "cannot be audited from them, and has not been audited otherwise."),
        limits=["Unsupervised: it finds the unusual, not the criminal; legitimate unusual behaviour ranks high too.",
                "Evaluated only against synthetic planted truth; no figure here comes from labelled real records."
                if truth else "No ranking quality measured: this feature table has no planted truth to score against.",
                "Features span the whole silver window: old and new behaviour are mixed, and drift is not "
                "monitored.", *([detector_limit] if detector_limit else [])],
        facts={"registry": "registered with alias `challenger`; `champion` (what entity_anomalies serves) moves "
                           "only when the ONNX parity check passes",
               "ONNX parity at fit": ("passed" if parity.get("passed") else "failed") +
                                     " (the blocking check entity_anomaly_model_onnx_parity checks the registered "
                                     "graph again before champion moves)"})


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


def detector_card(*, name: str, version: str, metrics: Mapping[str, float], params: Mapping[str, object],
                  class_names: Sequence[str], input_size: int | None = None) -> ModelCard:
    """The card of a registered video object detector (an ultralytics YOLO model exported to ONNX), from the
    validation metrics and parameters its training run recorded. A version registered without training
    (an imported model) has no validation figures, and its card says so."""
    labels = {"precision": "precision", "recall": "recall", "mAP50": "mAP at IoU 0.5",
              "mAP50-95": "mAP at IoU 0.5-0.95", "onnx_parity_max_abs_diff": "largest ONNX - PyTorch difference"}
    rows = [("validation images" if k != "onnx_parity_max_abs_diff" else "ONNX parity", labels[k],
             f"{float(metrics[k]):.4g}") for k in labels if metrics.get(k) is not None]
    data = {"classes": ", ".join(class_names) or "(none recorded)",
            "dataset": str(params.get("data") or "not recorded (the version was registered without training)"),
            "base model": str(params.get("model") or "not recorded")}
    for key, label in (("epochs", "epochs"), ("imgsz", "input size (pixels)"), ("seed", "seed"), ("batch", "batch")):
        if params.get(key) not in (None, ""):
            data[label] = str(params[key])
    if input_size and "input size (pixels)" not in data:
        data["input size (pixels)"] = str(input_size)
    synthetic = bool(params.get("dataset_synthetic"))  # the dataset yaml said it was generated
    return ModelCard(
        name=name, version=str(version), method="YOLO object detector (ONNX)", evaluation_title="Evaluation",
        summary=(f"Finds and boxes {', '.join(class_names) or 'objects'} in camera video frames; the detections "
                 "asset geolocates each box through its camera's ground homography into the lakehouse."),
        intended_use=["Counting and locating people and vehicles in footage the agency is authorised to hold, "
                      "as events on the map beside the other feeds, for an analyst to review.",
                      "Finding the moments of a long recording worth a person's look."],
        out_of_scope=["Identifying people: there is no face recognition or re-identification, and a box is not "
                      "an identity.",
                      "Evidence of what happened, or automated alerts acted on without a person's review.",
                      "Scenes unlike its training images (night, rain, thermal, other camera heights and "
                      "angles) without measuring it there first.",
                      "Classes it was not trained on."],
        data=data, backtest=pd.DataFrame(rows, columns=["evaluation", "measure", "value"]) if rows else None,
        backtest_note=("Measured by ultralytics on the dataset's validation split at registration; the ONNX "
                       "export was checked against PyTorch on validation images before it was registered." +
                       (f" The dataset is generated ({params.get('dataset_synthetic')}): synthetic surveillance "
                        "scenes, so the figures say the pipeline works, not how the detector does on real cameras."
                        if synthetic else ""))
        if rows else "No validation figures were recorded with this version (registered without training).",
        calibration=("Not measured: box confidences are ranking scores, and the detections asset's confidence "
                     "threshold is not a calibrated probability of a true object."),
        fairness=("Not measured. Detection rates across skin tones, clothing, body sizes, mobility aids or "
                  "lighting have not been audited, and missed detections of some groups would under-count them "
                  "on the map."),
        limits=["Only as good as the resemblance between its training images and the cameras it runs on.",
                "Small, fast model at a small input size: distant or occluded objects are missed.",
                *(["Trained on synthetic scenes only."] if synthetic else [])],
        facts={"registry": "registered without an alias; the detections asset serves alias `champion` "
                           "(vision/README, orchestration/vision/model.py)",
               "ONNX": "class names in the model's `names` metadata"})
