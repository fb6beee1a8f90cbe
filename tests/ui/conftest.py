"""The window's tests start with note suggestions off (a model call after every reply that only
tests/ui/test_everyday.py::test_a_reply_is_read_for_notes_unless_switched_off needs); that test
marks itself ``suggestions``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from assistant import paths
from assistant.opening import open_store
from assistant.settings import Settings

# Qt's offscreen screen is 800x800 unless told otherwise: the window keeps to its screen (issue
# 25), so the tests get a common desktop's, 1920x1080. tests/ui/test_small_screens.py starts
# processes of its own on a 1024x700 one.
if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    _screens = Path(tempfile.mkdtemp(prefix="glassmind-screens-")) / "screens.json"
    _screens.write_text(json.dumps({"screens": [{"name": "desktop", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                                 "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screens}"


@pytest.fixture(autouse=True)
def _suggestions_off(request: pytest.FixtureRequest, glassmind_home: Path) -> None:
    if request.node.get_closest_marker("suggestions"):
        return
    store = open_store(paths.database_path())
    try:
        settings = Settings.from_json(store.get_setting("settings"))
        settings.suggest_notes = False
        store.set_setting("settings", settings.to_json())
    finally:
        store.close()
