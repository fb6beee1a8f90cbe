"""The GUI thread never touches the database or a GGUF header (issue 13): clicked through as a user does.

Every SQLite connection the app opens records the thread of each statement it runs; GGUF header
reads record their thread too. A user opens Settings, sends a message, looks at a past turn,
starts an edit, switches conversations, searches All memories and forgets a memory through its
dialog: none of it may run a statement or parse a header on the main (GUI) thread.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from clicks import answer_dialog
from PySide6.QtCore import QPoint, Qt

from assistant import paths
from assistant.opening import open_store
from ui.main_window import MainWindow

TIMEOUT = 120_000
STAMP = "2026-11-20T10:00:00+00:00"


class _Recorder:
    def __init__(self) -> None:
        self.on_main: list[str] = []
        self.elsewhere = 0
        self._lock = threading.Lock()

    def note(self, what: str) -> None:
        with self._lock:
            if threading.current_thread() is threading.main_thread():
                self.on_main.append(what)
            else:
                self.elsewhere += 1


@pytest.fixture
def seeded(glassmind_home: Path) -> int:
    """A conversation left by an earlier session, written before the recording starts."""
    store = open_store(paths.database_path())
    try:
        conv = store.create_conversation("Balcony herbs").id
        store.import_messages(conv, [
            {"role": "user", "content": "My balcony faces north and I grow basil.", "created": STAMP},
            {"role": "assistant", "content": "Basil wants sun: try mint instead.", "created": STAMP},
        ])
    finally:
        store.close()
    return conv


@pytest.fixture
def recorder(seeded: int, monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    rec = _Recorder()

    class RecordingConnection(sqlite3.Connection):
        def execute(self, sql, *args):
            rec.note(f"execute: {str(sql)[:60]}")
            return super().execute(sql, *args)

        def executemany(self, sql, *args):
            rec.note(f"executemany: {str(sql)[:60]}")
            return super().executemany(sql, *args)

        def executescript(self, sql):
            rec.note("executescript")
            return super().executescript(sql)

        def cursor(self, *args, **kwargs):
            rec.note("cursor")
            return super().cursor(*args, **kwargs)

    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        rec.note(f"connect: {args[0] if args else kwargs.get('database')}")
        kwargs.setdefault("factory", RecordingConnection)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)

    import models.gguf
    import models.registry

    real_read = models.gguf.read_gguf

    def read_gguf(path):
        rec.note(f"read_gguf: {path}")
        return real_read(path)

    monkeypatch.setattr(models.gguf, "read_gguf", read_gguf)
    monkeypatch.setattr(models.registry, "read_gguf", read_gguf)
    return rec


def _click(qtbot, widget, pos: QPoint | None = None) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos if pos is not None else widget.rect().center())


def _click_tab(qtbot, w: MainWindow, n: int) -> None:
    bar = w.panel.tabBar()
    _click(qtbot, bar, bar.tabRect(n).center())


def _stored(w: MainWindow) -> bool:
    cards = w.chat.message_cards()
    return bool(cards) and all(c.message is not None for c in cards)


def test_clicking_through_the_app_reads_nothing_on_the_gui_thread(
    qtbot, embedder, seeded: int, recorder: _Recorder
) -> None:
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.model_label.text().startswith("Model:"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: w.conversations.rowCount() == 1, timeout=TIMEOUT)

    # Settings (the model list reads GGUF headers): opened with Ctrl+ , (first: the shortcut needs the
    # window active, which it is not again offscreen after a modal dialog), and cancelled.
    models: list[str] = []
    answer_dialog(qtbot, click="Cancel", fill=lambda dialog: models.append(dialog.model.currentText()))
    w.activateWindow()
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(models), timeout=TIMEOUT)
    assert models[0].startswith("SmolLM2")

    # Send a message in a new conversation; the stored messages come back when the reply is done.
    _click(qtbot, w.sidebar.new_button)
    qtbot.keyClicks(w.chat.composer, "Say one word.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.chat.send_button.isVisible() and _stored(w) and len(w.chat.message_cards()) == 2,
                    timeout=TIMEOUT)
    qtbot.waitUntil(lambda: w.conversations.rowCount() == 2, timeout=TIMEOUT)

    # A past turn: click the reply's words, then back to the next turn.
    reply = w.chat.message_cards()[-1]
    _click(qtbot, reply.body, QPoint(4, 4))
    qtbot.waitUntil(lambda: w.panel.context.title.text().startswith("Turn of"), timeout=TIMEOUT)
    _click(qtbot, w.panel.context.back_button)
    qtbot.waitUntil(lambda: w.panel.context.title.text() == "Next turn", timeout=TIMEOUT)

    # Edit and resend opens with the stored text; cancelled here.
    seen: list[str] = []
    answer_dialog(qtbot, click="Cancel", seen=seen)
    user_card = w.chat.message_cards()[0]
    _click(qtbot, user_card._buttons["edit"])
    qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)

    # Switch to the seeded conversation.
    view = w.conversation_view
    rect = view.visualRect(w.conversations.index(w.conversations.row_of(seeded)))
    _click(qtbot, view.viewport(), rect.center())
    qtbot.waitUntil(lambda: [c.text() for c in w.chat.message_cards()][:1] == [
        "My balcony faces north and I grow basil."], timeout=TIMEOUT)

    # All memories: search, select, forget through the dialog (it says what changes first).
    _click_tab(qtbot, w, 2)
    model, table = w.panel.memory_model, w.panel.memory_view
    qtbot.waitUntil(lambda: model.rowCount() >= 4, timeout=TIMEOUT)
    qtbot.keyClicks(w.panel.memories.search, "basil")
    qtbot.waitUntil(lambda: model.rowCount() >= 2 and all("basil" in model.memory(r).text.lower()
                                                           for r in range(model.rowCount())), timeout=TIMEOUT)
    row = next(r for r in range(model.rowCount()) if model.memory(r).text.startswith("Basil wants sun"))
    _click(qtbot, table.viewport(), table.visualRect(model.index(row, 4)).center())
    seen.clear()
    answer_dialog(qtbot, click="Forget", seen=seen)
    _click(qtbot, w.panel.m_forget)
    qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)
    assert "a reply of Glassmind's in “Balcony herbs”" in seen[0]
    qtbot.waitUntil(lambda: not any(model.memory(r).text.startswith("Basil wants sun")
                                    for r in range(model.rowCount())), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: len(w.chat.message_cards()) == 1, timeout=TIMEOUT)  # gone from the chat too

    w.close()
    assert recorder.elsewhere > 0, "the recorder saw no database work at all"
    assert recorder.on_main == [], f"the GUI thread touched the database: {recorder.on_main[:5]}"
