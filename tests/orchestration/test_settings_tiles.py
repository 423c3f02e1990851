"""``CRIMEFUSION_TILES``: read by Settings only, validated there, handed to the maps by the reports resource."""

from __future__ import annotations

import pytest

from orchestration.resources.factory import build_resources
from orchestration.settings import SettingsError, load_settings

TEMPLATE = "https://tiles.agency.gov/{z}/{x}/{y}.png"


@pytest.mark.parametrize("env, tiles", [
    ({}, None),
    ({"CRIMEFUSION_TILES": TEMPLATE}, TEMPLATE),
    ({"CRIMEFUSION_TILES": "file:///srv/tiles/{z}/{x}/{y}.png"}, "file:///srv/tiles/{z}/{x}/{y}.png"),
])
def test_tiles_setting_reaches_the_reports_resource(tmp_path, env, tiles):
    settings = load_settings({"CRIMEFUSION_HOME": str(tmp_path), **env})
    assert settings.tiles == tiles
    assert build_resources(settings)["reports"].tiles == tiles


@pytest.mark.parametrize("value, message", [
    ("https://tiles.agency.gov/tile.png", "lacks {z}, {x}, {y}"),
    ("ftp://tiles.agency.gov/{z}/{x}/{y}.png", "must start with"),
])
def test_bad_tile_template_is_a_readable_settings_error(value, message):
    with pytest.raises(SettingsError, match=r"CRIMEFUSION_TILES: .*" + message.replace("{", r"\{").replace("}", r"\}")):
        load_settings({"CRIMEFUSION_TILES": value})
