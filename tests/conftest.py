"""Shared fixtures: the bundled Chicago spec and districts, a SedonaDB context, a temporary lakehouse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHICAGO_SPEC = ROOT / "specs" / "chicago_aggravated_assaults.yaml"
CHICAGO_CSV = ROOT / "data" / "chicago" / "aggravated_assaults_2010_2017.csv.gz"

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def sd():
    import sedonadb

    return sedonadb.connect()


@pytest.fixture(scope="session")
def chicago_spec():
    from jobs.ingest.spec import load_spec

    return load_spec(CHICAGO_SPEC)


@pytest.fixture(scope="session")
def chicago_districts(chicago_spec):
    from orchestration.ingest.boundaries import read_boundaries

    return read_boundaries(chicago_spec)


@pytest.fixture
def lake(tmp_path):
    from orchestration.resources.lakehouse import LocalLakehouse

    return LocalLakehouse(root=str(tmp_path / "lake"))
