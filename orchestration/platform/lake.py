"""Reach the lakehouse outside Dagster: the resource built from the settings, and its tables listed.

Operations scripts (maintenance, BI views, backups) run outside a Dagster run, so
they cannot rely on ``dg.EnvVar`` being resolved: :func:`lakehouse_from_settings`
asks the resource factory (``orchestration/resources/factory.py``, the one the
definitions and the CLI use) for the lakehouse with its credentials read from
the environment at call time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from orchestration.resources.factory import build_lakehouse
from orchestration.resources.lakehouse import LAYERS, Lakehouse
from orchestration.settings import Settings, load_settings


def lakehouse_from_settings(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> Lakehouse:
    """The lakehouse of a deployment (``CRIMEFUSION_DEPLOYMENT``), credentials from ``env``."""
    env = os.environ if env is None else env
    return build_lakehouse(settings or load_settings(env), resolve_secrets=True, env=env)


def _filesystem(lakehouse: Lakehouse):
    """A pyarrow filesystem and the root path in it (local folder or S3 bucket/prefix)."""
    from pyarrow import fs

    root = lakehouse.root_uri()
    if not root.startswith("s3://"):
        return fs.LocalFileSystem(), root
    opts = lakehouse.storage_options() or {}
    endpoint = opts.get("AWS_ENDPOINT_URL")
    kwargs = {"region": opts.get("AWS_REGION", "us-east-1")}
    if opts.get("AWS_ACCESS_KEY_ID"):
        kwargs.update(access_key=opts["AWS_ACCESS_KEY_ID"], secret_key=opts.get("AWS_SECRET_ACCESS_KEY"))
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host, scheme=scheme)
    return fs.S3FileSystem(**kwargs), root.removeprefix("s3://")


def list_tables(lakehouse: Lakehouse, layers: tuple[str, ...] = LAYERS) -> list[tuple[str, str]]:
    """Every Delta table under the root as ``(layer, name)``, sorted (folders with a ``_delta_log``)."""
    from pyarrow import fs

    filesystem, base = _filesystem(lakehouse)
    found = []
    for layer in layers:
        infos = filesystem.get_file_info(fs.FileSelector(f"{base}/{layer}", allow_not_found=True))
        for info in infos:
            if info.type == fs.FileType.Directory:
                log = filesystem.get_file_info(f"{info.path}/_delta_log")
                if log.type == fs.FileType.Directory:
                    found.append((layer, info.base_name))
    return sorted(found)
