"""The window's tests start with note suggestions off (a model call after every reply that only
tests/ui/test_everyday.py::test_a_reply_is_read_for_notes_unless_switched_off needs); that test
marks itself ``suggestions``."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import paths
from assistant.settings import Settings
from assistant.store import Store


@pytest.fixture(autouse=True)
def _suggestions_off(request: pytest.FixtureRequest, glassmind_home: Path) -> None:
    if request.node.get_closest_marker("suggestions"):
        return
    store = Store(paths.database_path())
    try:
        settings = Settings.from_json(store.get_setting("settings"))
        settings.suggest_notes = False
        store.set_setting("settings", settings.to_json())
    finally:
        store.close()
