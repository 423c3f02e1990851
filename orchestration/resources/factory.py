"""One resource factory for Dagster and for everything that runs outside it (CLI, operations scripts).

:func:`build_resources` gives the resources of a deployment from the settings:
the same keys (``lakehouse``, ``sources``, ``compute``, ``pseudonymiser``,
``mlflow``, ``reports``) whether the definitions load them or a command does.
The one difference is how secrets arrive:

- **Dagster** (``resolve_secrets=False``, what ``orchestration/definitions.py``
  asks for): secrets are ``dg.EnvVar`` references, which Dagster reads in the
  process that runs a step and never shows in the UI;
- **outside Dagster** (``resolve_secrets=True``, the CLI and ``infra/`` scripts):
  an ``EnvVar`` is never resolved there (a resource would hold the variable's
  *name*, e.g. the text ``AWS_ACCESS_KEY_ID``, as its key), so the values are
  read from the environment when the resources are built.

The implementation of the lakehouse follows ``CRIMEFUSION_DEPLOYMENT``: the
object store in a cluster deployment (or whenever the lake is an ``s3://``
URI), a local folder otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from orchestration.resources.compute import Compute
from orchestration.resources.lakehouse import Lakehouse, LocalLakehouse, ObjectStoreLakehouse
from orchestration.resources.pseudonymiser import Pseudonymiser
from orchestration.resources.reports import Reports
from orchestration.resources.sources import SourceCatalog
from orchestration.resources.tracking import default_tracking
from orchestration.settings import Settings, load_settings

__all__ = ["SECRETS", "build_lakehouse", "build_resources", "cli_resources"]

#: Environment variables that hold secrets: never in settings files, never shown in the Dagster UI.
SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CRIMEFUSION_PSEUDONYM_KEY")


def _secret(name: str, *, resolve: bool, env: Mapping[str, str]) -> str | dg.EnvVar | None:
    if not resolve:
        return dg.EnvVar(name)
    return env.get(name) or None


def build_lakehouse(settings: Settings, *, resolve_secrets: bool = False,
                    env: Mapping[str, str] | None = None) -> Lakehouse:
    """The ``lakehouse`` resource of the deployment (see :func:`build_resources` for ``resolve_secrets``)."""
    env = os.environ if env is None else env
    if settings.deployment == "cluster" or settings.lake.startswith("s3://"):
        return ObjectStoreLakehouse(
            root=settings.lake,
            endpoint_url=settings.s3_endpoint,
            region=settings.s3_region,
            allow_http=settings.s3_allow_http,
            access_key_id=_secret("AWS_ACCESS_KEY_ID", resolve=resolve_secrets, env=env),
            secret_access_key=_secret("AWS_SECRET_ACCESS_KEY", resolve=resolve_secrets, env=env),
        )
    return LocalLakehouse(root=settings.lake)


def build_resources(settings: Settings, *, resolve_secrets: bool = False,
                    env: Mapping[str, str] | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of a deployment, by key: the same keys for local and cluster implementations.

    Parameters
    ----------
    settings
        The deployment's settings (``load_settings()``).
    resolve_secrets
        ``False`` for Dagster definitions: secrets stay ``dg.EnvVar`` references.
        ``True`` outside Dagster (CLI, scripts): secrets are read from ``env`` now.
    env
        Where secrets and ``MLFLOW_TRACKING_URI`` are read; default ``os.environ``.
    """
    env = os.environ if env is None else env
    sources = SourceCatalog(spec_paths=[str(p) for p in settings.spec_files()], landing=str(settings.landing),
                            data_roots=[str(p) for p in settings.data_roots])
    if resolve_secrets:
        key = settings.pseudonym_key  # Settings read it from the same environment, and validated it
    else:
        key = dg.EnvVar("CRIMEFUSION_PSEUDONYM_KEY") if settings.pseudonym_key else None
    pseudonymiser = Pseudonymiser(key=key, allow_demo_key=settings.deployment == "local",
                                  raw_identifiers=settings.raw_identifiers)
    return {
        "lakehouse": build_lakehouse(settings, resolve_secrets=resolve_secrets, env=env),
        "sources": sources,
        # Spark's own output (WARN lines, startup messages) goes to a log file, not the terminal the CLI writes to
        "compute": Compute(engine=settings.compute_engine, spark_master=settings.spark_master,
                           spark_log=str(Path(settings.home).resolve() / "logs" / "spark.log")),
        "pseudonymiser": pseudonymiser,
        "mlflow": default_tracking(settings.home, env),
        "reports": Reports(home=str(settings.home), tiles=settings.tiles),
    }


def cli_resources(lake: str | None = None, env: Mapping[str, str] | None = None) -> tuple[Settings, dict]:
    """Settings and resources for a command that runs outside Dagster (secrets resolved from ``env``).

    ``lake`` (a command's ``--lake``) replaces ``CRIMEFUSION_LAKE``; the deployment
    still chooses the implementation, so a cluster deployment reaches its object store.
    """
    env = os.environ if env is None else env
    settings = load_settings(env)
    if lake:
        settings = settings.model_copy(update={"lake": lake})
    return settings, build_resources(settings, resolve_secrets=True, env=env)
