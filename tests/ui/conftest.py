"""What the browser tests share: one headless Chromium per test module (skipped where none can start)."""

from __future__ import annotations

import pytest

from tests.ui.test_asset_graph import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _browser_or_skip


@pytest.fixture(scope="module")
def browser():
    sync_playwright, _ = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
