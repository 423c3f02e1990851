"""Model cards: every section present (measured or saying it is not), tables from the backtest, HTML escaped,
logged to the version's MLflow run and written to the reports folder."""

from __future__ import annotations

import pandas as pd
import pytest

from models.cards import NOT_MEASURED, backtest_rows, hotspot_card, publish_card

SUMMARY = pd.DataFrame({
    "method": ["kde", "learned", "kde", "learned"], "horizon": ["W"] * 4, "coverage": [0.01, 0.01, 0.05, 0.05],
    "pai_mean": [9.44, 9.13, 5.1, 5.3], "pai_se": [0.2, 0.25, 0.1, 0.12],
    "hit_rate_mean": [0.11, 0.10, 0.30, 0.31], "hit_rate_se": [0.01, 0.01, 0.02, 0.02], "n_periods": [6] * 4})


def test_backtest_rows_per_area_best_first():
    rows = backtest_rows(SUMMARY, 9)
    assert list(rows.columns) == ["method", "horizon", "H3 res", "area %", "PAI", "hit rate %", "periods"]
    assert rows.iloc[0].tolist() == ["kde", "week", 9, "1", "9.44 ± 0.20", "11.0 ± 1.0", 6]
    assert rows["method"].tolist() == ["kde", "learned", "learned", "kde"]  # within each area share, best PAI first


@pytest.mark.parametrize("method", ["learned", "kde"])
def test_card_sections(method):
    card = hotspot_card(name="hotspot_lgbm", version="3", method=method, source="city <b>",
                        params={"trained_to": "2017-11-20", "cell_features_version": 4, "origin": ""},
                        summary=SUMMARY, resolution=9, gate="no champion yet")
    md = card.markdown()
    for section in ("## Intended use", "## Out of scope", "## Data and period", "## Backtest", "## Calibration",
                    "## Fairness audit", "## Known limits", "## Record"):
        assert section in md
    assert "first week not trained on (held out for the champion gate):** 2017-11-20" in md
    assert "data up to" not in md  # an empty param (origin) is left out, not printed blank
    assert NOT_MEASURED in md  # calibration is not measured yet, and the card says so
    assert ("did not beat it" in md) == (method != "learned")
    page = card.html()
    assert "city &lt;b&gt;" in page and "<b>" not in page.replace("<body>", "")
    assert page.count("<tr>") == 1 + len(SUMMARY)


def test_card_without_backtest_says_so():
    md = hotspot_card(name="m", version="1", method="naive", source="s", params={}, summary=None,
                      resolution=8).markdown()
    assert md.split("## Backtest")[1].split("##")[0].strip().startswith(NOT_MEASURED)


def test_publish_logs_and_writes(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from models.registry import register_baseline

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = register_baseline(uri, name="hot", method="kde", params={"resolution": 9}, experiment="e",
                                artifact_location=str(tmp_path / "artifacts"))
    card = hotspot_card(name="hot", version=version.version, method="kde", source="s", params={}, summary=SUMMARY,
                        resolution=9)
    paths = publish_card(card, uri, version.run_id, tmp_path / "reports")
    assert paths["card_md"].read_text().startswith("# Model card: hot v1 (kde)")
    assert paths["card_html"].name == "model_card_hot_v1.html"
    arts = {a.path for a in MlflowClient(uri, uri).list_artifacts(version.run_id)}
    assert {"model_card.md", "model_card.html"} <= arts


GRID = {"table": [
    {"grid": "H3 res 9", "method": "kde", "pai_1pct": 9.3, "se_1pct": 0.31, "pai_5pct": 5.87, "se_5pct": 0.1,
     "rank": 1, "periods": 26, "cells": 6103},
    {"grid": "H3 res 9", "method": "naive", "pai_1pct": 9.04, "se_1pct": 0.3, "pai_5pct": 5.8, "se_5pct": 0.12,
     "rank": 2, "periods": 26, "cells": 6103},
    {"grid": "square 326 m, shifted 0.5", "method": "kde", "pai_1pct": 9.03, "se_1pct": 0.28, "pai_5pct": 5.84,
     "se_5pct": 0.11, "rank": 1, "periods": 26, "cells": 6108}],
    "verdict": "the ranking is stable across grids", "reference": "H3 res 9"}


@pytest.mark.parametrize("method", ["learned", "kde"])
def test_card_grid_sensitivity_section(method):
    from models.evaluation.grid_sensitivity import GridSensitivity

    card = hotspot_card(name="hotspot_lgbm", version="3", method=method, source="s", params={}, summary=SUMMARY,
                        resolution=9, grid=GridSensitivity.from_dict(GRID))
    md = card.markdown()
    section = md.split("## Grid sensitivity")[1].split("\n## ")[0]
    assert "| grid | method | PAI @1 % | PAI @5 % | rank | weeks | cells |" in section
    assert "| square 326 m, shifted 0.5 | kde | 9.03 ± 0.28 | 5.84 ± 0.11 | 1 | 26 | 6,108 |" in section
    assert "Verdict: the ranking is stable across grids." in section
    # the learned model is ranked at the served resolution, on the backtest's weeks (kde 9.44 leads it there)
    assert "H3 res 9) on the backtest's 6 out-of-sample weeks: PAI @1 % 9.13 ± 0.25, rank 2 of 2" in section
    assert md.index("## Backtest") < md.index("## Grid sensitivity") < md.index("## Calibration")
    page = card.html()
    assert "<h2>Grid sensitivity</h2>" in page and "<td>square 326 m, shifted 0.5</td>" in page
    assert page.count("<tr>") == 1 + len(SUMMARY) + 1 + len(GRID["table"])


def test_card_without_grid_sensitivity_says_so():
    md = hotspot_card(name="m", version="1", method="naive", source="s", params={}, summary=None,
                      resolution=8).markdown()
    section = md.split("## Grid sensitivity")[1].split("\n## ")[0].strip()
    assert section.startswith(NOT_MEASURED) and "--grid-sensitivity" in section


def test_detector_card_says_what_its_figures_are_and_are_not():
    from models.cards import detector_card

    card = detector_card(name="crimefusion-yolo", version="3",
                         metrics={"precision": 0.91, "recall": 0.88, "mAP50": 0.93, "mAP50-95": 0.71,
                                  "onnx_parity_max_abs_diff": 0.0004},
                         params={"model": "yolo11n.yaml", "epochs": 30, "imgsz": 320, "seed": 0,
                                 "data": "/data/scenes/data.yaml", "dataset_synthetic": "vision/synthetic.py, seed 0"},
                         class_names=["person", "vehicle"])
    md, page = card.markdown(), card.html()
    assert card.title == "Model card: crimefusion-yolo v3 (YOLO object detector (ONNX))"
    assert "| validation images | mAP at IoU 0.5-0.95 | 0.71 |" in md and "| ONNX parity |" in md
    assert "synthetic surveillance scenes" in md and "- Trained on synthetic scenes only." in md
    assert "Identifying people" in md and "<h2>Fairness audit</h2>" in page
    bare = detector_card(name="crimefusion-yolo", version="4", metrics={}, params={}, class_names=["person"],
                         input_size=640)
    assert "No validation figures were recorded" in bare.markdown() and "- **input size (pixels):** 640" in bare.markdown()
    assert "synthetic" not in bare.markdown().lower()
