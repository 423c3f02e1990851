"""MLflow tracking: where runs and registered models live.

Default: a SQLite store and an artifact folder under the state folder
(``<CRIMEFUSION_HOME>/mlflow``); ``MLFLOW_TRACKING_URI`` (a server, for the
cluster deployment) overrides it. Telemetry is off.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field


class MlflowTracking(dg.ConfigurableResource):
    tracking_uri: str = Field(description="MLflow tracking URI (sqlite:///... or http://server:5000).")
    artifact_root: str = Field(description="Where new experiments store artifacts.")

    def setup(self):
        """Point MLflow at this store and return the module."""
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from models.registry import point_mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        Path(self.artifact_root).mkdir(parents=True, exist_ok=True) if "://" not in self.artifact_root else None
        return point_mlflow(self.tracking_uri)  # not exported: the next definitions read the operator's setting

    def experiment(self, name: str) -> str:
        """Create (with the artifact root) or fetch an experiment; returns its id."""
        mlflow = self.setup()
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        return mlflow.create_experiment(name, artifact_location=f"{self.artifact_root.rstrip('/')}/{name}")


def default_tracking(home: Path, env: dict | None = None) -> MlflowTracking:
    env = os.environ if env is None else env
    home = Path(home).resolve()
    uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return MlflowTracking(tracking_uri=uri, artifact_root=str(home / "mlflow" / "artifacts"))
