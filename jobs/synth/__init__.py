"""Synthetic CDR, transaction, OSINT, camera and person feeds laid over real incidents, with planted truth."""

from jobs.synth.generate import build, generate, iter_cdr
from jobs.synth.settings import SynthFeeds, SynthSettings

__all__ = ["SynthFeeds", "SynthSettings", "build", "generate", "iter_cdr"]
