"""Notifications: a failed run (a failed blocking check fails its run) reaches a person.

Always written as a JSON line to ``<CRIMEFUSION_HOME>/notifications/failures.jsonl``
and the Dagster log; also POSTed as JSON to ``CRIMEFUSION_NOTIFY_WEBHOOK`` when
set (Slack/Teams/Mattermost incoming webhooks and most alerting tools accept
a JSON POST).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)


def notify(message: dict, *, log_path: Path, webhook_url: str | None = None, timeout_s: float = 5.0) -> dict:
    """Record ``message`` and send it to the webhook; returns what was done."""
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **message}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    log.warning("crimefusion notification: %s", record.get("text", record))
    sent = None
    if webhook_url:
        request = urllib.request.Request(webhook_url, data=json.dumps(record, default=str).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                sent = response.status
        except OSError as exc:  # a notification channel that is down must not hide the failure it reports
            log.error("notification webhook %s failed: %s", webhook_url, exc)
            sent = f"error: {exc}"
    return {"logged": str(log_path), "webhook": sent}
