"""A self-contained Leaflet page: the vendored library, the page's own script and its data, all inline.

Leaflet 1.9.4 (BSD-2-Clause; ``static/leaflet/LICENSE``) ships inside the package, so a page opened
from ``file://`` on a machine with no network draws the same map as on one with a network.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache

from jobs import vendored

__all__ = ["LEAFLET_VERSION", "leaflet_css", "leaflet_js", "page", "static_text"]

LEAFLET_VERSION = "1.9.4"


def static_text(*parts: str) -> str:
    """A text file shipped under ``jobs/maps/static/`` (package data)."""
    return vendored.static_text("jobs.maps", *parts)


@cache
def leaflet_js() -> str:
    """Leaflet's minified script, without its source-map comment (there is no map file beside a page)."""
    return vendored.minified_script("jobs.maps", ("leaflet", "leaflet.js"), f'version="{LEAFLET_VERSION}"',
                                    f"Leaflet {LEAFLET_VERSION}")


@cache
def leaflet_css() -> str:
    """Leaflet's style sheet, its ``images/`` URLs removed: the pages use no default marker and no layer
    switcher, and a page has no ``images/`` folder beside it (a missing file is a console error)."""
    return re.sub(r"url\(images/[^)]*\)", "none", static_text("leaflet", "leaflet.css"))


def _script_json(data: dict) -> str:
    # inside <script type="application/json">: "</" would end the element early
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def page(*, title: str, header: str, body: str, data: dict) -> str:
    """An HTML page: ``header`` and ``body`` (trusted HTML) around a ``#cf-map`` map drawn by ``cellmap.js``
    from ``data`` (JSON), with Leaflet and the page's style inline."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='generator' content='crimefusion jobs.maps, Leaflet {LEAFLET_VERSION}'>"
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{leaflet_css()}</style>\n<style>{static_text('cellmap.css')}</style></head>\n"
        f"<body>{header}<div id='cf-map' role='region' aria-label='{html.escape(title, quote=True)}'></div>"
        f"{body}\n<script>{leaflet_js()}</script>\n"
        f"<script type='application/json' id='cf-map-data'>{_script_json(data)}</script>\n"
        f"<script>{static_text('cellmap.js')}</script></body></html>\n"
    )
