"""The key of the keyed hash that replaces identifiers on ingestion.

Phone numbers, IMEIs/IMSIs, account numbers, handles and names are replaced in
silver by ``HMAC-SHA256(key, kind, normalised value)`` (``jobs/ingest/pseudonymise.py``),
so joins across sources still work while raw identifiers stay in bronze, which
only the ingestion role reads. The key comes from ``CRIMEFUSION_PSEUDONYM_KEY``;
without it a local deployment uses the published demo key (fine for the bundled
synthetic data, never for real data) and says so in the logs, and a cluster
deployment refuses to run. ``CRIMEFUSION_RAW_IDENTIFIERS=true`` keeps raw
identifiers in silver, a deliberate choice for closed environments.
"""

from __future__ import annotations

import functools
import logging

import dagster as dg
from pydantic import Field

from jobs.ingest.pseudonymise import key_problem

log = logging.getLogger(__name__)


class Pseudonymiser(dg.ConfigurableResource):
    key: str | None = Field(default=None, description="Secret key (from CRIMEFUSION_PSEUDONYM_KEY).")
    allow_demo_key: bool = Field(default=True, description="Fall back to the public demo key when no key is set.")
    raw_identifiers: bool = Field(default=False, description="Keep raw identifiers in silver (off by default).")

    def key_bytes(self) -> bytes | None:
        """The key to hash with, or None when raw identifiers are allowed."""
        if self.raw_identifiers:
            return None
        if self.key:
            problem = key_problem(self.key, deployment="local")
            if problem:
                raise ValueError(problem)
            return self.key.encode("utf-8")
        if not self.allow_demo_key:
            raise ValueError(
                "no pseudonymisation key: set CRIMEFUSION_PSEUDONYM_KEY (a long random secret) in the "
                "environment of the code location; see docs/operations.md"
            )
        from jobs.ingest.pseudonymise import DEMO_KEY

        _warn_demo_key()
        return DEMO_KEY


@functools.cache
def _warn_demo_key() -> None:
    log.warning("CRIMEFUSION_PSEUDONYM_KEY is not set: pseudonymising with the public demo key "
                "(fine for the bundled synthetic data, never for real identifiers)")
