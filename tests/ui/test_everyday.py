"""Everyday chat (issue 14), clicked and typed as a user does, on the real model and embedder.

Layout at 1024x700 with a long code block, an excluded reply and a 40,000-character paste; the
panel toggle and the window coming back as it was left; forget and edit saying what changes in
the chat; replies cut at the length limit and Continue; copying code; where the view scrolls.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from clicks import answer_dialog
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from assistant import memory, paths
from assistant.opening import open_store
from ui.main_window import CHAT_MIN, PANEL_MIN, MainWindow

TIMEOUT = 120_000
CODE = "\n".join(
    f"def step_{n}(value):  return value * {n} + a_rather_long_helper_name(value, {n})  # a comment that runs on"
    for n in range(5)
)
REPLY_WITH_CODE = f"Here is the script:\n\n```python\n{CODE}\n```\n\nRun it with Python 3."
STAMP = "2026-11-20T10:00:00+00:00"


def _seed(title: str, rows: list[tuple[str, str]], *, excluded: tuple[int, ...] = (), status: dict | None = None) -> int:
    """A stored conversation (what earlier sessions left), written before the window opens."""
    store = open_store(paths.database_path())
    try:
        conv = store.create_conversation(title).id
        ids = store.import_messages(conv, [{"role": r, "content": c, "created": STAMP} for r, c in rows])
        for n in excluded:
            store.update_message(ids[n], excluded=1)
        for n, value in (status or {}).items():
            store.update_message(ids[n], status=value)
    finally:
        store.close()
    return conv


def _open(qtbot, embedder, size: tuple[int, int] | None = None) -> MainWindow:
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    if size:
        w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w._model_info is not None, timeout=TIMEOUT)
    return w


@pytest.fixture
def db(glassmind_home: Path):
    """The test's own connection: the window has none (it reads on its reader thread)."""
    store = open_store(paths.database_path())
    yield store
    store.close()


def _stored_shown(qtbot, w: MainWindow) -> None:
    """Wait until the chat shows the stored messages again (read after a reply, on the reader thread)."""
    qtbot.waitUntil(lambda: all(c.message is not None for c in w.chat.message_cards()), timeout=TIMEOUT)


def _click_conversation(qtbot, w: MainWindow, conv: int) -> None:
    view = w.conversation_view
    rect = view.visualRect(w.conversations.index(w.conversations.row_of(conv)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.conversation_id == conv and bool(w.chat.message_cards()) and all(
        c.message is not None and c.message.conversation_id == conv for c in w.chat.message_cards()
    ), timeout=TIMEOUT)


def _assert_readable(w: MainWindow) -> None:
    """Cards follow one another without overlapping; no text is cut or wider than its bubble."""
    cards = w.chat.message_cards()
    inner = w.chat.inner.width()
    for a, b in zip(cards, cards[1:], strict=False):
        assert a.geometry().bottom() < b.geometry().top(), "two messages overlap"
    for card in cards:
        assert card.geometry().right() <= inner, "a message is wider than the chat"
        for label in (card.body, card.meta):
            assert label.width() <= card.bubble.width()
            assert label.height() >= label.heightForWidth(label.width()) - 1, f"text cut: {label.text()[:40]!r}"


def _settle_layout(qtbot, w: MainWindow) -> None:
    qtbot.wait(300)
    QApplication.processEvents()


def test_chat_stays_usable_at_1024x700_with_code_a_long_header_and_a_40k_paste(
    qtbot, glassmind_home: Path, embedder
) -> None:
    conv = _seed(
        "Scripts",
        [("user", "Write me a script."), ("assistant", REPLY_WITH_CODE), ("user", "Thanks, and in one line?"),
         ("assistant", "One line is not enough for this.")],
        excluded=(3,),
        status={3: "partial"},
    )
    from assistant.app import Assistant

    core = Assistant(embedder=embedder)
    core.save_settings(dataclasses.replace(core.settings, n_ctx=2048))  # the paste cannot fit
    core.close()
    w = _open(qtbot, embedder, (1024, 700))
    _click_conversation(qtbot, w, conv)
    _settle_layout(qtbot, w)
    assert w.chat.width() >= CHAT_MIN and w.panel.width() >= PANEL_MIN
    last = w.chat.message_cards()[-1]
    assert "excluded from context" in last.meta.text() and "stopped early" in last.meta.text()
    _assert_readable(w)
    panel = w.panel.width()

    # A 40,000-character paste: the box takes it; neither the chat nor the panel changes width.
    QGuiApplication.clipboard().setText(("forty thousand characters of pasted text " * 1000)[:40_000])
    w.chat.composer.setFocus()
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(w.chat.composer.toPlainText()) == 40_000
    # The panel says the paste does not fit, and shows nothing of the previous draft's window.
    qtbot.waitUntil(lambda: "fit" in w.panel.context.summary.text() and w.panel.context_model.rowCount() == 0,
                    timeout=TIMEOUT)
    _settle_layout(qtbot, w)
    assert w.chat.width() >= CHAT_MIN and w.panel.width() == panel

    # Growing and shrinking the window changes the chat's width only, and nothing overlaps after.
    for size in ((1920, 1080), (1280, 800), (1024, 700)):
        w.resize(*size)
        _settle_layout(qtbot, w)
        assert w.chat.width() >= CHAT_MIN and w.panel.width() == panel
        _assert_readable(w)
    w.close()


def test_panel_toggle_and_the_window_comes_back_as_it_was(qtbot, glassmind_home: Path, embedder) -> None:
    first = _seed("First talk", [("user", "Hello there."), ("assistant", "Hi!")])
    second = _seed("Second talk", [("user", "What is a fern?"), ("assistant", "A plant without flowers.")])
    w = _open(qtbot, embedder, (1280, 800))
    _click_conversation(qtbot, w, second)
    chat_before = w.chat.width()

    qtbot.mouseClick(w.panel_button, Qt.MouseButton.LeftButton)
    assert not w.panel.isVisible()
    qtbot.waitUntil(lambda: w.chat.width() > chat_before, timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.panel.isVisible() and w.panel_button.isChecked()

    # Drag the handle between chat and panel 80 px to the left: the panel is wider by as much.
    handle = w.split.handle(2)
    start = handle.rect().center()
    panel_before = w.panel.width()
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(handle, pos=start - QPoint(80, 0))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start - QPoint(80, 0))
    qtbot.waitUntil(lambda: w.panel.width() > panel_before + 40, timeout=5000)
    panel_width = w.panel.width()
    qtbot.mouseClick(w.panel_button, Qt.MouseButton.LeftButton)  # leave it hidden
    w.close()

    again = _open(qtbot, embedder)
    assert (again.width(), again.height()) == (1280, 800)
    assert not again.panel.isVisible()
    qtbot.waitUntil(lambda: again.conversation_id == second and [c.text() for c in again.chat.message_cards()] == [
        "What is a fern?", "A plant without flowers."], timeout=TIMEOUT)
    qtbot.mouseClick(again.panel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(again.panel.width() - panel_width) <= 2, timeout=5000)
    assert first != second
    again.close()


def test_forget_and_edit_say_what_changes_in_the_chat(qtbot, glassmind_home: Path, embedder, db) -> None:
    conv = _seed("Dinner ideas", [("user", "I want pasta with basil tonight."), ("assistant", "Try pesto.")])
    w = _open(qtbot, embedder, (1280, 800))
    bar = w.panel.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
    assert w.panel.currentIndex() == 2
    view, model = w.panel.memory_view, w.panel.memory_model
    qtbot.waitUntil(lambda: model.rowCount() >= 2, timeout=TIMEOUT)

    def click_row(text: str) -> None:
        row = next(r for r in range(model.rowCount()) if model.memory(r).text == text)
        rect = view.visualRect(model.index(row, 4))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    store = db
    user_msg = store.messages(conv)[0]

    seen: list[str] = []
    click_row(user_msg.content)
    answer_dialog(qtbot, click="Exclude instead", seen=seen)
    qtbot.mouseClick(w.panel.m_forget, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)  # the dialog opens once the impacts are read
    assert "your message in “Dinner ideas”" in seen[0] and "removes it from that conversation" in seen[0]
    qtbot.waitUntil(lambda: store.message(user_msg.id).excluded == 1, timeout=TIMEOUT)
    assert len(store.messages(conv)) == 2  # nothing was erased

    seen.clear()
    click_row(user_msg.content)
    answer_dialog(qtbot, click="OK", text="I want risotto tonight.", seen=seen)
    qtbot.mouseClick(w.panel.m_edit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)
    assert "editing it changes the message in that conversation too" in seen[0]
    assert "title" in seen[0] or store.conversation(conv).title_message_id != user_msg.id
    qtbot.waitUntil(lambda: store.message(user_msg.id).content == "I want risotto tonight.", timeout=TIMEOUT)
    w.close()


def test_a_reply_cut_at_the_limit_says_so_and_continue_extends_it(
    qtbot, glassmind_home: Path, embedder, db
) -> None:
    from assistant.app import Assistant

    core = Assistant(embedder=embedder)
    core.save_settings(dataclasses.replace(core.settings, max_tokens=12, temperature=0.0))
    core.close()
    code_conv = _seed("Code", [("user", "A script?"), ("assistant", REPLY_WITH_CODE)])
    w = _open(qtbot, embedder, (1280, 800))

    # Copy code: the link under the block, reached by keyboard (Tab, Enter) as by mouse.
    _click_conversation(qtbot, w, code_conv)
    body = w.chat.message_cards()[-1].body
    body.setFocus()
    qtbot.keyClick(body, Qt.Key.Key_Tab)
    qtbot.keyClick(body, Qt.Key.Key_Return)
    assert QGuiApplication.clipboard().text() == CODE

    # A new conversation whose reply hits the 12-token limit.
    qtbot.mouseClick(w.sidebar.new_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(w.chat.composer, "Tell me a long story about a lighthouse keeper and a storm.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    assert w._busy
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    _stored_shown(qtbot, w)
    reply = w.chat.message_cards()[-1]
    assert reply.message is not None and reply.message.status == "length"
    qtbot.waitUntil(reply.cut_note.isVisible, timeout=5000)
    assert "cut off at the length limit" in reply.meta.text()
    before = reply.message.content
    conv = w.conversation_id

    qtbot.mouseClick(reply._buttons["continue"], Qt.MouseButton.LeftButton)
    assert w._busy
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    msgs = db.messages(conv)
    assert [m.role for m in msgs] == ["user", "assistant"]  # the same reply, longer
    assert msgs[1].content.startswith(before) and len(msgs[1].content) > len(before)
    qtbot.waitUntil(lambda: len(w.chat.message_cards()) == 2 and w.chat.message_cards()[-1].text() == msgs[1].content,
                    timeout=TIMEOUT)
    w.close()


def test_the_newest_message_stays_in_view_and_clicking_text_selects_a_turn(
    qtbot, glassmind_home: Path, embedder
) -> None:
    rows = [("user" if n % 2 == 0 else "assistant", f"Earlier message number {n} about gardening.") for n in range(30)]
    long_conv = _seed("Long talk", rows)
    w = _open(qtbot, embedder, (1280, 800))
    _click_conversation(qtbot, w, long_conv)
    bar = w.chat.scroll_area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=5000)  # opens at the newest

    bar.setValue(bar.maximum() // 2)  # the user scrolled up to read
    qtbot.keyClicks(w.chat.composer, "Say one word.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=5000)  # the sent message is in view
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    _stored_shown(qtbot, w)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=5000)  # and so is the finished reply

    # Clicking the words of a message (not only the bubble's padding) shows the turn it belongs to.
    reply = w.chat.message_cards()[-1]
    qtbot.mouseClick(reply.body, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert reply.bubble.property("selected") is True
    qtbot.waitUntil(lambda: w.panel.context.title.text().startswith("Turn of"), timeout=TIMEOUT)
    assert w.panel.context.back_button.isVisible()
    qtbot.mouseClick(w.panel.context.back_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.panel.context.title.text() == "Next turn", timeout=TIMEOUT)
    assert reply.bubble.property("selected") is not True
    w.close()


def test_small_things_search_no_match_theme_and_empty_draft(qtbot, glassmind_home: Path, embedder) -> None:
    _seed("Balcony herbs", [("user", "My balcony faces north."), ("assistant", "Mint likes shade.")])
    w = _open(qtbot, embedder, (1280, 800))
    qtbot.keyClicks(w.sidebar.search, "zzzz")
    qtbot.waitUntil(lambda: w.sidebar.empty.isVisible() and w.sidebar.empty.text() == "No match.", timeout=TIMEOUT)
    w.sidebar.search.clear()

    # An empty draft in a new conversation retrieves nothing.
    qtbot.mouseClick(w.sidebar.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.panel.context.title.text() == "Next turn" and w.shown_request == w._request_id,
                    timeout=TIMEOUT)
    assert w.panel.retrieved_model.rowCount() == 0

    # Theme: View > Theme > Dark, kept for the next start.
    dark = next(a for a in w.theme_actions.actions() if a.data() == "dark")
    dark.trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
    w.close()
    again = _open(qtbot, embedder)
    assert next(a for a in again.theme_actions.actions() if a.isChecked()).data() == "dark"
    light = next(a for a in again.theme_actions.actions() if a.data() == "light")
    light.trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 128
    again.close()


@pytest.mark.parametrize("size", [(1024, 700)])
def test_dialogs_are_wide_and_wrap(qtbot, glassmind_home: Path, embedder, size) -> None:
    w = _open(qtbot, embedder, size)
    bar = w.panel.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
    widths: list[int] = []

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        widths.append(dialog.width())
        dialog.reject()

    from PySide6.QtCore import QTimer

    QTimer.singleShot(200, look)
    qtbot.mouseClick(w.panel.m_add, Qt.MouseButton.LeftButton)
    assert widths and widths[0] >= 500
    w.close()


def test_settings_ok_applies_what_was_typed(qtbot, glassmind_home: Path, embedder, db) -> None:
    w = _open(qtbot, embedder, (1280, 800))

    def fill(dialog) -> None:
        field = dialog.max_tokens.lineEdit()
        field.setFocus()
        field.selectAll()
        qtbot.keyClicks(field, "40")

    answer_dialog(qtbot, click="OK", fill=fill)
    qtbot.keyClick(w, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: (db.get_setting("settings") or {}).get("max_tokens") == 40, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not w.statusBar().currentMessage().startswith("Applying"), timeout=TIMEOUT)
    w.close()


def test_a_pinned_note_that_does_not_fit_is_said_where_the_user_looks(qtbot, glassmind_home: Path, embedder) -> None:
    from assistant.app import Assistant

    core = Assistant(embedder=embedder)
    core.save_settings(dataclasses.replace(core.settings, n_ctx=512, max_tokens=128))
    core.open_memory()
    core.memories.add("Short pinned fact: the user is allergic to peanuts.", pinned=True)
    core.memories.add("Long pinned note: " + "the balcony faces north and gets little sun " * 30, pinned=True)
    core.close()
    w = _open(qtbot, embedder, (1280, 800))
    warning = w.panel.context.warning
    qtbot.keyClicks(w.chat.composer, "What should I plant? " + "Please think about it. " * 12)
    qtbot.waitUntil(warning.isVisible, timeout=TIMEOUT)
    assert "pinned note does not fit" in warning.text()
    assert "Reply&nbsp;reserve" in w.panel.context.legend.text()  # the legend never splits a name
    w.close()


def test_suggested_notes_in_the_panel_approve_reject_and_source(qtbot, glassmind_home: Path, embedder, db) -> None:
    from assistant.app import Assistant
    from assistant.suggestions import Candidate, SuggestionBook

    conv = _seed("Balcony", [("user", "My balcony faces north and my cat Pixel chews plants."), ("assistant", "Noted.")])
    core = Assistant(embedder=embedder)
    core.open_memory()
    source = core.store.messages(conv)[0].id
    book = SuggestionBook(core.store, core.memories)
    book.record(source, [(Candidate("The user's balcony faces north.", "fact", None, source), None),
                         (Candidate("The user's cat Pixel chews plants.", "fact", None, source), None)])
    core.close()

    w = _open(qtbot, embedder, (1280, 800))
    panel = w.panel
    tab = panel.indexOf(panel.suggested)
    qtbot.waitUntil(lambda: panel.tabText(tab) == "Suggested (2)", timeout=TIMEOUT)
    bar = panel.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tab).center())
    rows = panel.suggested.rows()
    assert [r.suggestion.text for r in rows] == ["The user's balcony faces north.", "The user's cat Pixel chews plants."]

    # Show source: the conversation opens with the message marked.
    qtbot.mouseClick(rows[0].source_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.conversation_id == conv, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: bool(w.chat.message_cards())
                    and w.chat.message_cards()[0].bubble.property("selected") is True, timeout=TIMEOUT)

    # Approve one: it becomes a note; reject the other: it is gone and never proposed again.
    qtbot.mouseClick(panel.suggested.rows()[0].approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.tabText(tab) == "Suggested (1)", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: any(m.text == "The user's balcony faces north." and m.kind == "note"
                                for m in memory.browse(db)), timeout=TIMEOUT)
    qtbot.mouseClick(panel.suggested.rows()[0].reject_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.tabText(tab) == "Suggested", timeout=TIMEOUT)
    assert not any("Pixel chews" in m.text and m.kind == "note" for m in memory.browse(db))
    w.close()


def test_regenerate_keeps_the_earlier_reply_one_click_away(qtbot, glassmind_home: Path, embedder) -> None:
    w = _open(qtbot, embedder, (1280, 800))
    qtbot.keyClicks(w.chat.composer, "Invent a name for a pet dragon.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    _stored_shown(qtbot, w)

    def last():  # the cards are made again each time the stored messages are shown
        return w.chat.message_cards()[-1]

    def counter() -> str:
        return last().alt_label.text() if last().alt_label is not None else ""

    first = last().text()
    assert counter() == ""  # one answer: no arrows
    qtbot.mouseClick(last()._buttons["regenerate"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w._busy and counter() == "2/2", timeout=TIMEOUT)
    second = last().text()
    assert not last().alt_next.isEnabled()
    qtbot.mouseClick(last().alt_previous, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: counter() == "1/2", timeout=TIMEOUT)
    assert last().text() == first and not last().alt_previous.isEnabled()
    assert [c.role for c in w.chat.message_cards()] == ["user", "assistant"]
    qtbot.mouseClick(last().alt_next, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: counter() == "2/2" and last().text() == second, timeout=TIMEOUT)
    w.close()


def test_all_memories_shows_notes_apart_from_the_chat(qtbot, glassmind_home: Path, embedder, db) -> None:
    from assistant.memory import MemoryStore

    _seed("Figs", [("user", "Do figs grow in pots?"), ("assistant", "Yes, in a big pot.")])
    MemoryStore(db, embedder, paths.index_dir()).add("Sam grows figs on a north balcony.")
    w = _open(qtbot, embedder, (1280, 800))
    bar = w.panel.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
    model, kind = w.panel.memory_model, w.panel.memories.kind

    def kinds() -> list[str]:
        return sorted({model.memory(r).kind for r in range(model.rowCount())})

    qtbot.waitUntil(lambda: kinds() == ["message", "note"], timeout=TIMEOUT)
    kind.setFocus()
    qtbot.keyClick(kind, Qt.Key.Key_Down)  # "Notes"
    qtbot.waitUntil(lambda: kinds() == ["note"], timeout=TIMEOUT)
    qtbot.keyClick(kind, Qt.Key.Key_Down)  # "Chat messages"
    qtbot.waitUntil(lambda: kinds() == ["message"] and model.rowCount() == 2, timeout=TIMEOUT)
    qtbot.keyClicks(w.panel.memories.search, "pot")  # search within the kind
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=TIMEOUT)
    qtbot.keyClick(kind, Qt.Key.Key_Up)  # back to notes: the note has no "pot"
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=TIMEOUT)
    w.close()


@pytest.mark.suggestions
def test_a_reply_is_read_for_notes_unless_switched_off(qtbot, glassmind_home: Path, embedder, db) -> None:
    w = _open(qtbot, embedder, (1280, 800))

    def read_for_notes() -> set[int]:
        return {r["message_id"] for r in db.query("SELECT message_id FROM suggestion_runs")}

    qtbot.keyClicks(w.chat.composer, "I am allergic to peanuts and my cat is called Pixel.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    first = db.messages(w.conversation_id)[0].id
    qtbot.waitUntil(lambda: first in read_for_notes(), timeout=TIMEOUT)  # after the reply, in the background

    def switch_off(dialog) -> None:
        assert dialog.suggest_notes.isChecked()
        qtbot.mouseClick(dialog.suggest_notes, Qt.MouseButton.LeftButton, pos=QPoint(4, dialog.suggest_notes.height() // 2))

    answer_dialog(qtbot, click="OK", fill=switch_off)
    qtbot.keyClick(w, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: (db.get_setting("settings") or {}).get("suggest_notes") is False, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not w.statusBar().currentMessage().startswith("Applying"), timeout=TIMEOUT)
    qtbot.keyClicks(w.chat.composer, "My balcony faces north.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    _stored_shown(qtbot, w)
    second = [m for m in db.messages(w.conversation_id) if m.role == "user"][-1].id
    w.close()  # the engine has finished all it was asked to do
    assert second not in read_for_notes() and first in read_for_notes()
