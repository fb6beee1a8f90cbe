"""The one curation flow (ui/curation.py) from the tabs no other test clicks through: Pin, Edit and
Forget in "Retrieved", Exclude and Include of a memory in "Context"; the real window, model and
embedder, the database read on a connection of the test's own."""

from __future__ import annotations

from pathlib import Path

from clicks import answer_dialog
from PySide6.QtCore import Qt
from windows import open_window

from assistant import memory, paths
from assistant.opening import open_store
from models.errors import NotFoundError

TIMEOUT = 120_000
NOTE = "The user's bicycle is called Rocket."
QUESTIONS = ("What is my bicycle called?", "What is the name of my bicycle?", "Remind me what my bicycle is called.")


def _click_row(qtbot, view, row: int, column: int = 0) -> None:
    rect = view.visualRect(view.model().index(row, column))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _click_tab(qtbot, w, n: int) -> None:
    bar = w.panel.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(n).center())
    assert w.panel.currentIndex() == n


def _draft(qtbot, w, text: str) -> None:
    """Type a draft as a user does and wait for the panel to show the window it would use."""
    w.chat.composer.clear()
    qtbot.keyClicks(w.chat.composer, text)
    qtbot.waitUntil(
        lambda: any(i.kind == "message" and i.text == text for i in w.panel.context_model.items()),
        timeout=TIMEOUT,
    )


def test_retrieved_and_context_tabs_pin_edit_forget_exclude(qtbot, glassmind_home: Path, embedder) -> None:
    from assistant.app import Assistant

    core = Assistant(embedder=embedder)
    core.open_memory()
    note_id = core.memories.add(NOTE).id
    core.close()
    db = open_store(paths.database_path())
    w = open_window(qtbot, embedder, (1600, 1000), timeout=TIMEOUT)
    retrieved, context = w.panel.retrieved_model, w.panel.context_model

    def note_row() -> int:
        return next((r for r in range(retrieved.rowCount()) if retrieved.memory_id(r) == note_id), -1)

    def select_retrieved(question: str) -> None:
        _draft(qtbot, w, question)
        _click_tab(qtbot, w, 1)
        qtbot.waitUntil(lambda: note_row() >= 0, timeout=TIMEOUT)
        _click_row(qtbot, w.panel.retrieved_view, note_row())

    def select_in_context(question: str) -> None:
        _draft(qtbot, w, question)
        _click_tab(qtbot, w, 0)
        row = next(r for r in range(context.rowCount()) if context.item(r).source == f"memory:{note_id}")
        _click_row(qtbot, w.panel.context_view, row, 3)

    try:
        # Edit: the dialog opens with the memory's words once what else changes is read.
        select_retrieved(QUESTIONS[0])
        seen: list[str] = []
        answer_dialog(qtbot, click="OK", text="The user's bicycle is called Comet.", seen=seen)
        qtbot.mouseClick(w.panel.retrieved.edit_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)
        assert f"Memory {note_id}." in seen[0]
        qtbot.waitUntil(lambda: memory.get(db, note_id).text == "The user's bicycle is called Comet.", timeout=TIMEOUT)

        # Pin: sent at once.
        select_retrieved(QUESTIONS[1])
        qtbot.mouseClick(w.panel.retrieved.pin_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: memory.get(db, note_id).pinned, timeout=TIMEOUT)

        # In the Context tab the pinned note is excluded, included again, then unpinned.
        select_in_context(QUESTIONS[2])
        assert w.panel.context.pin_button.text() == "Unpin"
        qtbot.mouseClick(w.panel.exclude_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: memory.get(db, note_id).excluded, timeout=TIMEOUT)
        select_in_context(QUESTIONS[0])
        assert w.panel.context.include_button.isEnabled()
        qtbot.mouseClick(w.panel.context.include_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not memory.get(db, note_id).excluded, timeout=TIMEOUT)
        select_in_context(QUESTIONS[1])
        qtbot.mouseClick(w.panel.context.pin_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not memory.get(db, note_id).pinned, timeout=TIMEOUT)

        # Forget: the question says it is a note, and it is gone for good.
        select_retrieved(QUESTIONS[2])
        seen.clear()
        answer_dialog(qtbot, click="Forget", seen=seen)
        qtbot.mouseClick(w.panel.retrieved.forget_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)
        assert "This is a note: no conversation changes." in seen[0]

        def gone() -> bool:
            try:
                memory.get(db, note_id)
            except NotFoundError:
                return True
            return False

        qtbot.waitUntil(gone, timeout=TIMEOUT)
    finally:
        w.close()
        db.close()
