"""Save and load the fitted series linkage model with its report.

The ``crime_series`` asset saves them into one folder (the deployment's
``<CRIMEFUSION_HOME>/models/series/``); its check reads the report back, and
``crimefusion series-match`` loads both.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["MODEL_FILE", "REPORT_FILE", "SERIES_MODELS", "load_linkage_model", "read_linkage_report",
           "save_linkage_model"]

#: Sub-folder of the deployment's models folder (``Reports.models(SERIES_MODELS)``).
SERIES_MODELS = "series"
MODEL_FILE = "linkage.joblib"
REPORT_FILE = "linkage_report.json"


def save_linkage_model(folder: Path, model, report: dict) -> Path:
    """Write ``model`` (joblib) and ``report`` (JSON) into ``folder``; returns the model's path."""
    import joblib

    path = Path(folder) / MODEL_FILE
    joblib.dump(model, path)
    (Path(folder) / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def read_linkage_report(folder: Path) -> dict | None:
    """The report saved with the model in ``folder`` (None when there is none)."""
    path = Path(folder) / REPORT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def load_linkage_model(folder: Path):
    """``(model, report)`` saved in ``folder``; FileNotFoundError naming the path when no model is there."""
    import joblib

    path = Path(folder) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"no series linkage model at {path}; materialise crime_series first (crimefusion run)")
    report = json.loads((Path(folder) / REPORT_FILE).read_text(encoding="utf-8"))
    return joblib.load(path), report
