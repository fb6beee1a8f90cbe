"""The window's tests start with note suggestions off (a model call after every reply that only
tests/ui/test_everyday.py::test_a_reply_is_read_for_notes_unless_switched_off needs); that test
marks itself ``suggestions``. Replies are capped at SHORT_REPLY tokens unless a test is marked ``long_reply``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import paths
from assistant.opening import open_store
from assistant.settings import Settings
from tests.ui.clicks import check_answered

# Qt's offscreen screen is 800x800 unless told otherwise: the window keeps to its screen (issue
# 25), so the tests get a common desktop's, 1920x1080. tests/ui/test_small_screens.py starts
# processes of its own on a 1024x700 one.
if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    _screens = Path(tempfile.mkdtemp(prefix="glassmind-screens-")) / "screens.json"
    _screens.write_text(json.dumps({"screens": [{"name": "desktop", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                                 "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screens}"


@pytest.fixture(autouse=True)
def _dialogs_answered() -> Iterator[None]:
    """A test that waited for a dialog fails if the dialog never opened (tests/ui/clicks.py)."""
    yield
    check_answered()


# The reply's length is the point of few window tests: a short cap keeps each reply under a few seconds
# on 2 cores (the default, 512 tokens, is the app's). Tests that stop or close mid-reply mark themselves
# ``long_reply`` and keep the default, so the reply is still being written when they act.
SHORT_REPLY = 64


@pytest.fixture(autouse=True)
def _window_settings(request: pytest.FixtureRequest, glassmind_home: Path) -> None:
    store = open_store(paths.database_path())
    try:
        settings = Settings.from_json(store.get_setting("settings"))
        if not request.node.get_closest_marker("suggestions"):
            settings.suggest_notes = False
        if not request.node.get_closest_marker("long_reply"):
            settings.max_tokens = SHORT_REPLY
        store.set_setting("settings", settings.to_json())
    finally:
        store.close()
