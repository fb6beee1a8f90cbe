"""The window on a computer where llama.cpp's first choice of code path crashes (the AMX bug): it says so
in one sentence, and the user chats as usual. The crash is made on purpose in the load check's child
(models/load_check.py), right after it loads the model with repacked weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt

from models import llama, load_check
from models.load_check import CRASH_HOOK
from ui.main_window import MainWindow

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from models.embedder import Embedder

TIMEOUT = 240_000
pytestmark = pytest.mark.load_check  # the first load runs the check (tests/conftest.py)


def test_the_window_chats_after_a_crashing_load_check(
    qtbot: QtBot, glassmind_home: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_check, "_checked", {})  # as a new process: nothing checked yet
    monkeypatch.setattr(llama, "cpu_has_amx", lambda: False)  # the first try uses repacked weights
    monkeypatch.setenv(CRASH_HOOK, "extra_bufts")
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: "crashed" in w.chat.banner.text(), timeout=TIMEOUT)
        assert w.chat.banner.isVisible() and "without repacked weights" in w.chat.banner.text()
        qtbot.mouseClick(w.chat.composer, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(w.chat.composer, "Hello there!")
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: [c.role for c in w.chat.message_cards()] == ["user", "assistant"]
            and bool(w.chat.message_cards()[-1].text().strip())
            and w.chat.send_button.isVisible(),
            timeout=TIMEOUT,
        )
    finally:
        w.close()
    assert (glassmind_home / "llama-load-checks.json").exists()
