"""Settings: one typed object, read from the environment when asked, never at import.

=========================  ==========================================  =================
variable                   meaning                                     default
=========================  ==========================================  =================
``CRIMEFUSION_DEPLOYMENT`` ``local`` or ``cluster``                    ``local``
``CRIMEFUSION_LAKE``       lakehouse root (folder or ``s3://...``)      ``./lake``
``CRIMEFUSION_HOME``       state folder (Dagster home, MLflow store)   ``./.crimefusion``
``CRIMEFUSION_SPECS``      source specs (files or folders, ``:``)      the bundled ``specs/``
``CRIMEFUSION_LANDING``    landing folder (``<source>/<date>/files``)  ``./landing``
``CRIMEFUSION_SYNTHETIC``  generate the synthetic demo feeds           ``true``
``CRIMEFUSION_DATA_ROOTS``  folders specs' paths may point into (``:``)  the bundled ``data/``
``CRIMEFUSION_PSEUDONYM_KEY``  key of the identifier hash (>= 32 bytes)  demo key (local only)
``CRIMEFUSION_RAW_IDENTIFIERS``  keep raw identifiers in silver        ``false``
``CRIMEFUSION_COMPUTE_ENGINE``  ``embedded`` (SedonaDB) or ``spark``     ``embedded``
``CRIMEFUSION_SPARK_MASTER``   ``local[*]``, ``spark://host:7077``...   ``local[2]``
``CRIMEFUSION_TILES``      map base tiles, ``https://host/{z}/{x}/{y}.png``  none: the drawn boundaries
``CRIMEFUSION_ASK_MODEL``  ``crimefusion ask``'s GGUF file, or the     none: rule-based
                           model's name at ``ASK_ENDPOINT``             parser
``CRIMEFUSION_ASK_ENDPOINT``  OpenAI-compatible API of a local model    none
``CRIMEFUSION_ASK_API_KEY``  that API's key, if it wants one           none
``CRIMEFUSION_S3_*``       ``ENDPOINT``, ``REGION``, ``ALLOW_HTTP``     (cluster only)
``AWS_ACCESS_KEY_ID``...   object-store credentials                    (cluster only)
=========================  ==========================================  =================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator, model_validator

#: The repository root (the package is installed in editable mode by ``make``).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_SPECS = PROJECT_ROOT / "specs"


class SettingsError(ValueError):
    """An environment variable holds a value crimefusion cannot use."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: Literal["local", "cluster"] = "local"
    lake: str = "lake"
    home: Path = Path(".crimefusion")
    specs: tuple[Path, ...] = (BUNDLED_SPECS,)
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_allow_http: bool = False
    landing: Path = Path("landing")
    synthetic: bool = True
    #: Folders a spec's ``files`` and ``study_area.boundary`` may point into, besides the spec's own
    #: folder and the bundled ``data/`` (docs/data-model.md, "Paths").
    data_roots: tuple[Path, ...] = ()
    pseudonym_key: str | None = None
    raw_identifiers: bool = False
    compute_engine: Literal["embedded", "spark"] = "embedded"
    spark_master: str = "local[2]"
    #: XYZ tile URL template of an agency tile server, the maps' base layer; unset, the maps draw the
    #: study area's boundaries with their labels as the base (offline).
    tiles: str | None = None
    #: the analyst assistant's language model (docs/assistant.md): a GGUF file for llama.cpp, or the model's
    #: name at ``ask_endpoint``, an OpenAI-compatible API on the agency's network; neither: the rule-based parser
    ask_model: str | None = None
    ask_endpoint: str | None = None
    ask_api_key: SecretStr | None = None  # never printed

    @field_validator("tiles")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        from jobs.maps.layers import check_tile_template

        return check_tile_template(value) if value else None

    @model_validator(mode="after")
    def _usable_key(self) -> "Settings":
        from jobs.ingest.pseudonymise import key_problem

        problem = key_problem(self.pseudonym_key, deployment=self.deployment, raw_identifiers=self.raw_identifiers)
        if problem:
            raise ValueError(problem)
        return self

    def spec_files(self) -> list[Path]:
        """Every ``*.yaml`` spec named by ``specs`` (files, or folders searched recursively), sorted.

        Specs under a ``synthetic/`` folder are left out when ``synthetic`` is off.
        """
        files: list[Path] = []
        for entry in self.specs:
            if entry.is_dir():
                files.extend(sorted(p for p in entry.rglob("*.yaml")
                                    if self.synthetic or "synthetic" not in p.relative_to(entry).parts))
            elif entry.is_file():
                files.append(entry)
            else:
                raise SettingsError(f"CRIMEFUSION_SPECS: {entry} is neither a spec file nor a folder")
        return files


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``), with a readable error."""
    env = os.environ if env is None else env
    values: dict = {}
    mapping = {
        "CRIMEFUSION_DEPLOYMENT": "deployment",
        "CRIMEFUSION_LAKE": "lake",
        "CRIMEFUSION_HOME": "home",
        "CRIMEFUSION_S3_ENDPOINT": "s3_endpoint",
        "CRIMEFUSION_S3_REGION": "s3_region",
        "CRIMEFUSION_S3_ALLOW_HTTP": "s3_allow_http",
        "CRIMEFUSION_LANDING": "landing",
        "CRIMEFUSION_SYNTHETIC": "synthetic",
        "CRIMEFUSION_PSEUDONYM_KEY": "pseudonym_key",
        "CRIMEFUSION_RAW_IDENTIFIERS": "raw_identifiers",
        "CRIMEFUSION_COMPUTE_ENGINE": "compute_engine",
        "CRIMEFUSION_SPARK_MASTER": "spark_master",
        "CRIMEFUSION_TILES": "tiles",
        "CRIMEFUSION_ASK_MODEL": "ask_model",
        "CRIMEFUSION_ASK_ENDPOINT": "ask_endpoint",
        "CRIMEFUSION_ASK_API_KEY": "ask_api_key",
    }
    for var, key in mapping.items():
        if env.get(var):
            values[key] = env[var]
    if env.get("CRIMEFUSION_SPECS"):
        values["specs"] = tuple(Path(p) for p in env["CRIMEFUSION_SPECS"].split(os.pathsep) if p)
    if env.get("CRIMEFUSION_DATA_ROOTS"):
        values["data_roots"] = tuple(Path(p).expanduser() for p in env["CRIMEFUSION_DATA_ROOTS"].split(os.pathsep) if p)
    try:
        return Settings(**values)
    except ValidationError as exc:
        inverse = {v: k for k, v in mapping.items()} | {"specs": "CRIMEFUSION_SPECS",
                                                         "data_roots": "CRIMEFUSION_DATA_ROOTS"}
        problems = "; ".join(
            (f"{inverse.get(str(e['loc'][0]), e['loc'][0])}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise SettingsError(f"invalid crimefusion settings: {problems}") from None
