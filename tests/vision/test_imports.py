"""Inference stays importable without torch or ultralytics, and nothing is set at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_inference_path_imports_neither_torch_nor_ultralytics():
    code = (
        "import os, sys\n"
        "before = {k: v for k, v in os.environ.items() if k.startswith(('YOLO_', 'MLFLOW_'))}\n"
        "import vision.predictor, vision.events, vision.draw, vision.metrics, vision.synthetic, vision.train\n"
        "import orchestration.cli.vision\n"
        "after = {k: v for k, v in os.environ.items() if k.startswith(('YOLO_', 'MLFLOW_'))}\n"
        "print(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules), before == after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True"
