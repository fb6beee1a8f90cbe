"""The desktop app on the real bundled model and embedder, offscreen (pytest-qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from assistant import memory, paths
from assistant.context import WindowItem, WindowView
from assistant.opening import open_store

pytest.importorskip("PySide6")

from ui.main_window import MainWindow

TIMEOUT = 120_000


# The engine's and the reader's signals come from their own threads, so the tests wait on what
# the window shows (GUI-thread state), never on those signals directly. The tests read the
# database on a connection of their own (``_db``): the window has none.


@pytest.fixture
def db(glassmind_home: Path):
    store = open_store(paths.database_path())
    yield store
    store.close()


def _open(qtbot, embedder=None) -> MainWindow:
    """The real app window; sharing the session's loaded embedder saves its ~5 s load per test."""
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w._model_info is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: w.statusBar().currentMessage() in ("Ready", ""), timeout=TIMEOUT)
    return w


@pytest.fixture
def window(qtbot, glassmind_home: Path, embedder):
    w = _open(qtbot, embedder)
    yield w
    w.close()


def _send(qtbot, w: MainWindow, text: str) -> None:
    w.chat.composer.setPlainText(text)
    w.chat.send_button.click()
    assert w._busy
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    _stored_shown(qtbot, w)


def _stored_shown(qtbot, w: MainWindow) -> None:
    """Wait until the chat shows the stored messages again (read after the reply, on the reader thread)."""
    qtbot.waitUntil(lambda: all(c.message is not None for c in w.chat.message_cards()), timeout=TIMEOUT)


def _settle(qtbot, w: MainWindow) -> None:
    """Let queued engine work (operations, previews) finish."""
    w._request_id += 1
    wanted = w._request_id
    w.engine.context_requested.emit(wanted, w.conversation_id, "…")
    # A newer preview (asked for by the window itself) may supersede ours: wait for the latest.
    qtbot.waitUntil(lambda: w.shown_request >= wanted and w.shown_request == w._request_id, timeout=TIMEOUT)


def _preview(qtbot, w: MainWindow, text: str) -> WindowView:
    w.chat.composer.setPlainText(text)
    w._preview_timer.stop()
    w._request_preview()
    wanted = w._request_id
    qtbot.waitUntil(lambda: w.shown_request >= wanted and w.shown_request == w._request_id, timeout=TIMEOUT)
    return w.panel.window_shown


def test_reply_streams_and_panel_matches_cli(qtbot, window: MainWindow, capsys: pytest.CaptureFixture[str]) -> None:
    from ui.launcher import main as glassmind

    window.chat.composer.setPlainText("Say hello to me in one short sentence.")
    window.chat.send_button.click()
    qtbot.waitUntil(lambda: window.chat.streaming_text().strip() != "", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window._busy, timeout=TIMEOUT)
    assert window.last_reply is not None and window.last_reply.usage.completion_tokens >= 1
    roles = [c.role for c in window.chat.message_cards()]
    assert roles == ["user", "assistant"]
    conv = window.conversation_id
    assert conv is not None and window.conversations.rowCount() == 1

    window_dict = _preview(qtbot, window, "What did you just say?")
    shown = [(it.kind, it.tokens, it.state) for it in window.panel.context_model.items()]
    capsys.readouterr()
    # The CLI as `glassmind context ...` runs it (in this process: tests/assistant/test_cli.py has
    # the one subprocess run), on the same data folder.
    assert glassmind(["context", "--conversation", str(conv), "--message", "What did you just say?", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert shown == [(i["kind"], i["tokens"], i["state"]) for i in cli["items"]]
    assert window_dict.prompt_tokens == cli["prompt_tokens"]
    assert window.panel.prompt.toPlainText() == cli["prompt"]
    assert f"{cli['prompt_tokens']:,}" in window.context_label.text()


def _draft(qtbot, w: MainWindow, text: str) -> WindowView:
    """Type a draft as a user does and wait for the panel to show the window it would use."""
    w.chat.composer.clear()
    qtbot.keyClicks(w.chat.composer, text)
    qtbot.waitUntil(
        lambda: any(i.kind == "message" and i.text == text for i in w.panel.context_model.items()),
        timeout=TIMEOUT,
    )
    return w.panel.window_shown


def _click_row(qtbot, view, row: int, column: int = 0) -> None:
    rect = view.visualRect(view.model().index(row, column))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _click_tab(qtbot, w: MainWindow, n: int) -> None:
    bar = w.panel.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(n).center())
    assert w.panel.currentIndex() == n


def test_pin_exclude_forget_from_the_panel(qtbot, window: MainWindow) -> None:
    from clicks import answer_dialog

    _send(qtbot, window, "My favourite colour is teal.")
    memories = window.panel.memory_model
    _click_tab(qtbot, window, 2)

    # Add a note by hand: it appears in "All memories" at once (no new search needed).
    answer_dialog(qtbot, click="OK", text="The user's bicycle is called Rocket.")
    qtbot.mouseClick(window.panel.m_add, Qt.MouseButton.LeftButton)

    def note_row() -> int:
        return next((r for r in range(memories.rowCount()) if "Rocket" in memories.memory(r).text), -1)

    qtbot.waitUntil(lambda: note_row() >= 0, timeout=TIMEOUT)
    note = memories.memory(note_row())

    # Pin it: the next window carries it as a pinned item.
    _click_row(qtbot, window.panel.memory_view, note_row(), 4)
    qtbot.mouseClick(window.panel.m_pin, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: memories.memory(note_row()).pinned, timeout=TIMEOUT)
    data = _draft(qtbot, window, "hello")
    assert any(i.kind == "pinned" and i.source == f"memory:{note.id}" for i in data.items)

    # Exclude a history message from the context tab.
    _click_tab(qtbot, window, 0)
    model = window.panel.context_model
    row = next(r for r in range(model.rowCount()) if getattr(model.item(r), "kind", None) == "history")
    _click_row(qtbot, window.panel.context_view, row, 3)
    source = model.item(row).source
    assert window.panel.exclude_button.isEnabled()
    qtbot.mouseClick(window.panel.exclude_button, Qt.MouseButton.LeftButton)
    data = _draft(qtbot, window, "hello again")
    assert next(i for i in data.items if i.source == source).state == "excluded"

    # Forget the note: the confirmation says it is a note, and the row goes from the list.
    _click_tab(qtbot, window, 2)
    _click_row(qtbot, window.panel.memory_view, note_row(), 4)
    seen: list[str] = []
    answer_dialog(qtbot, click="Forget", seen=seen)
    qtbot.mouseClick(window.panel.m_forget, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)  # the dialog opens once the impacts are read
    assert "This is a note: no conversation changes." in seen[0]
    qtbot.waitUntil(lambda: note_row() < 0, timeout=TIMEOUT)
    data = _draft(qtbot, window, "hello once more")
    assert all(i.source != f"memory:{note.id}" for i in data.items)


def test_stop_mid_reply_keeps_the_partial_reply(qtbot, window: MainWindow, glassmind_home: Path) -> None:
    window.chat.composer.setPlainText("Write a very long story about a lighthouse keeper and the sea.")
    window.chat.send_button.click()
    qtbot.waitUntil(lambda: window.chat.streaming_text().strip() != "", timeout=TIMEOUT)
    assert window.chat.stop_button.isVisible()
    # Enter while it streams: the new message waits in the box, and the window says so.
    qtbot.keyClicks(window.chat.composer, "and then?")
    qtbot.keyClick(window.chat.composer, Qt.Key.Key_Return)
    assert window.chat.composer.toPlainText() == "and then?" and "stays in the box" in window.chat.notice_text()
    # Escape stops a reply, as in other chat apps (the Stop button is clicked in another test).
    window.activateWindow()
    qtbot.keyClick(window.chat.composer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window._busy, timeout=TIMEOUT)
    assert window.last_reply is not None and window.last_reply.usage.stop_reason == "cancelled"
    store = open_store(glassmind_home / "glassmind.db")
    msgs = store.messages(window.conversation_id)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[1].status == "partial"


def test_ctrl_comma_opens_settings(qtbot, window: MainWindow, monkeypatch) -> None:
    from PySide6.QtWidgets import QDialog

    from ui.settings_dialog import SettingsDialog

    opened: list[bool] = []
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: opened.append(True) or QDialog.DialogCode.Rejected)
    window.activateWindow()
    qtbot.keyClick(window.chat.composer, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(opened), timeout=TIMEOUT)  # once the settings are read


def test_switching_conversations(qtbot, window: MainWindow) -> None:
    _send(qtbot, window, "First conversation here.")
    first = window.conversation_id
    window._on_new_clicked()
    _send(qtbot, window, "Second conversation here.")
    second = window.conversation_id
    assert first != second and window.conversations.rowCount() == 2
    row = window.conversations.row_of(first)
    window.conversation_view.setCurrentIndex(window.conversations.index(row))
    qtbot.waitUntil(lambda: window.conversation_id == first, timeout=5000)
    qtbot.waitUntil(lambda: [c.text() for c in window.chat.message_cards()][:1] == ["First conversation here."],
                    timeout=TIMEOUT)


def test_closing_mid_reply_loses_nothing(qtbot, glassmind_home: Path, embedder) -> None:
    w = _open(qtbot, embedder)
    w.chat.composer.setPlainText("Tell me a long tale about dragons.")
    w.chat.send_button.click()
    qtbot.waitUntil(lambda: w.chat.streaming_text().strip() != "", timeout=TIMEOUT)
    w.close()
    assert w.engine_thread.thread.isFinished()
    store = open_store(glassmind_home / "glassmind.db")
    conv = store.conversations()[0]
    msgs = store.messages(conv.id)
    assert msgs[0].content == "Tell me a long tale about dragons."
    assert len(msgs) == 2 and msgs[1].status == "partial"


def test_corrupt_database_shows_a_banner(qtbot, glassmind_home: Path) -> None:
    (glassmind_home / "glassmind.db").write_bytes(b"not a database " * 100)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: "damaged" in w.chat.banner.text(), timeout=TIMEOUT)
    assert not w.chat.composer.isEnabled()
    w.close()


def test_qt_models_pass_the_model_tester(qtmodeltester, embedder, glassmind_home: Path) -> None:
    from assistant import paths
    from assistant.memory import MemoryStore
    from ui.qt_models import ContextItemsModel, ConversationListModel, MemoryTableModel, RetrievedModel

    store = open_store(paths.database_path())
    for n in range(3):
        store.create_conversation(f"c{n}")
    conversations = ConversationListModel()
    conversations.sync(store.conversations())
    qtmodeltester.check(conversations)
    # Using the oldest conversation moves it to the top: a row move, not a reset.
    oldest = store.conversations()[-1]
    store.rename_conversation(oldest.id, "renamed")
    moves: list[tuple[int, int]] = []
    resets: list[bool] = []
    conversations.rowsMoved.connect(lambda _p, start, _e, _d, row: moves.append((start, row)))
    conversations.modelReset.connect(lambda: resets.append(True))
    rows = store.conversations()
    rows.insert(0, rows.pop(next(n for n, c in enumerate(rows) if c.id == oldest.id)))
    conversations.sync(rows)
    assert moves == [(2, 0)] and not resets
    assert [conversations.conversation_id(r) for r in range(3)] == [c.id for c in rows]
    assert conversations.index(0).data() == "renamed"
    qtmodeltester.check(conversations)
    items = (
        WindowItem("system", "sys", 3, role="system"),
        WindowItem("history", "old", 2, state="over_budget", reason="cut", source="message:1", role="user"),
        WindowItem("memory", "[1 May 2024] note", 4, reason="similar 0.5", source="memory:1", role="user",
                   scores={"dense": 0.5, "keyword": None, "fused": 0.1, "via": "search"}),
    )
    ctx = ContextItemsModel()
    ctx.set_items(items, WindowView(items=items).cutoff_index)
    qtmodeltester.check(ctx)
    assert ctx.cutoff_row == 2 and ctx.item(2) is None  # the separator row follows the last left-out turn
    assert ctx.index(2, 0).data() == "— cut-off: older turns left out —"
    assert [i.kind for i in ctx.items()] == ["system", "history", "memory"]
    retrieved = RetrievedModel()
    retrieved.set_items(items)
    qtmodeltester.check(retrieved)
    mem = MemoryStore(store, embedder, paths.index_dir())
    mem.open_index()
    for n in range(5):
        mem.add(f"note {n}")
    table = MemoryTableModel(lambda offset, limit, deliver: deliver(mem.browse(limit=limit, offset=offset)))
    table.reload()
    qtmodeltester.check(table)
    mem.set_pinned([mem.browse()[0].id], True)
    table.refresh_rows(mem.get_many(table.loaded_ids()))
    qtmodeltester.check(table)
    # A page that was asked for before a new search arrives too late: it is dropped.
    later: list = []
    table = MemoryTableModel(lambda offset, limit, deliver: later.append(deliver))
    table.reload()
    table.reload()
    later[0](mem.browse())
    assert table.rowCount() == 0
    later[1](mem.browse())
    assert table.rowCount() == 5


def test_too_long_message_is_given_back_and_can_be_sent_cut(qtbot, window: MainWindow, monkeypatch, db) -> None:
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    long_text = "All work and no play makes a dull day. " * 2500
    window.chat.composer.setPlainText(long_text)
    window.chat.send_button.click()
    qtbot.waitUntil(lambda: bool(asked), timeout=TIMEOUT)
    assert "Shorten it" in asked[0]
    assert window.chat.composer.toPlainText() == long_text  # nothing the user typed is lost
    # The cut message is stored at once; Stop works while its ~8k-token prompt is still being read.
    reading: list[tuple[int, int]] = []
    window.engine.reading.connect(lambda done, total: reading.append((done, total)))
    qtbot.waitUntil(lambda: bool(reading), timeout=TIMEOUT)
    assert reading[0][1] > 4000
    # The reading shows in the reply being written, with its numbers (issue 25), not in the status bar.
    qtbot.waitUntil(lambda: window.chat._streaming is not None and window.chat._streaming.reading.isVisible(),
                    timeout=TIMEOUT)
    assert "Reading the prompt" in window.chat._streaming.reading_label.text()
    qtbot.mouseClick(window.chat.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window._busy, timeout=TIMEOUT)
    assert reading[-1][0] < reading[-1][1]  # stopped before the whole prompt was read
    sent = db.messages(window.conversation_id)[0].content
    assert long_text.startswith(sent) and len(sent) < len(long_text)


def test_settings_reload_the_model_and_bad_models_are_refused(
    qtbot, window: MainWindow, tmp_path: Path, db
) -> None:
    import dataclasses

    from assistant.settings import Settings
    from models.registry import ModelRegistry
    from tests.gguf_files import write_header_only_gguf
    from ui.settings_dialog import SettingsDialog

    current = Settings.from_json(db.get_setting("settings"))
    dialog = SettingsDialog(current, ModelRegistry(tmp_path), window)
    dialog.n_ctx.setValue(4096)
    dialog.max_tokens.setValue(256)
    window._model_info = None
    window.engine.settings_requested.emit(dialog.result_settings())
    qtbot.waitUntil(lambda: window._model_info is not None and window._model_info.n_ctx == 4096, timeout=TIMEOUT)
    data = _preview(qtbot, window, "hi")
    assert data.n_ctx == 4096 and data.reserve == 256

    # A base model without a chat template: a clear banner, and the app keeps its old model.
    base = write_header_only_gguf(tmp_path / "base.gguf")
    window.engine.settings_requested.emit(dataclasses.replace(dialog.result_settings(), model=str(base)))
    qtbot.waitUntil(lambda: "no chat template" in window.chat.banner.text(), timeout=TIMEOUT)
    assert "keeps the previous settings" in window.chat.banner.text()
    # The name is the old model's already: wait for the restored settings themselves.
    qtbot.waitUntil(
        lambda: Settings.from_json(db.get_setting("settings")).model is None, timeout=TIMEOUT
    )
    qtbot.waitUntil(lambda: window._model_info is not None
                    and window._model_info.name == "SmolLM2-135M-Instruct.Q4_1", timeout=TIMEOUT)


def test_long_conversation_loads_older_messages_in_batches(qtbot, window: MainWindow, db) -> None:
    from ui.chat_view import BATCH

    conv = db.create_conversation("long").id
    db.import_messages(
        conv,
        [{"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n}", "created": "2026-01-01T00:00:00+00:00"}
         for n in range(BATCH * 2 + 5)],
    )
    window._reload_conversations()
    qtbot.waitUntil(lambda: window.conversations.row_of(conv) >= 0, timeout=TIMEOUT)
    window.conversation_view.setCurrentIndex(window.conversations.index(window.conversations.row_of(conv)))
    qtbot.waitUntil(lambda: window.conversation_id == conv, timeout=5000)
    qtbot.waitUntil(lambda: len(window.chat.message_cards()) == BATCH, timeout=TIMEOUT)
    assert window.chat.older.isVisible()
    bar = window.chat.scroll_area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=TIMEOUT)
    bar.setValue(0)
    qtbot.waitUntil(lambda: len(window.chat.message_cards()) == 2 * BATCH, timeout=TIMEOUT)
    window.chat.older.click()
    qtbot.waitUntil(lambda: len(window.chat.message_cards()) == 2 * BATCH + 5, timeout=TIMEOUT)
    assert not window.chat.older.isVisible()
    assert window.chat.message_cards()[0].text() == "message 0"


def _card_button(w: MainWindow, role: str, key: str, last: bool = True):
    cards = [c for c in w.chat.message_cards() if c.role == role]
    return (cards[-1] if last else cards[0])._buttons[key]


def test_message_actions_regenerate_edit_remember_exclude(qtbot, window: MainWindow, db) -> None:
    from clicks import answer_dialog

    _send(qtbot, window, "Name one colour.")
    conv = window.conversation_id
    before = window.last_reply

    # Regenerate: the old reply is replaced by a new one, streamed into the view.
    _card_button(window, "assistant", "regenerate").click()
    assert window._busy
    qtbot.waitUntil(lambda: not window._busy, timeout=TIMEOUT)
    _stored_shown(qtbot, window)
    msgs = db.messages(conv)
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert window.last_reply is not before and window.last_reply is not None and window.last_reply.reply.id == msgs[1].id
    qtbot.waitUntil(lambda: [c.role for c in window.chat.message_cards()] == ["user", "assistant"], timeout=TIMEOUT)

    # Edit and resend: the user message is replaced, the reply answers the new text.
    seen: list[str] = []
    answer_dialog(qtbot, click="OK", text="Name one fruit.", seen=seen)
    qtbot.mouseClick(_card_button(window, "user", "edit"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen), timeout=TIMEOUT)  # the dialog opens once the message is read
    assert "erased for good" in seen[0]
    qtbot.waitUntil(lambda: not window._busy and len(db.messages(conv)) == 2
                    and db.messages(conv)[0].content == "Name one fruit.", timeout=TIMEOUT)
    msgs = db.messages(conv)
    _stored_shown(qtbot, window)
    qtbot.waitUntil(lambda: [c.text() for c in window.chat.message_cards()] == [m.content for m in msgs],
                    timeout=TIMEOUT)

    # Remember this: the reply becomes a note in long-term memory.
    reply = msgs[1]
    _card_button(window, "assistant", "remember").click()
    qtbot.waitUntil(lambda: any(m.text == reply.content for m in memory.browse(db, kind="note")), timeout=TIMEOUT)

    # Exclude the user message from the card: the next window leaves it out, and says so.
    _card_button(window, "user", "exclude").click()
    qtbot.waitUntil(lambda: db.message(msgs[0].id).excluded, timeout=TIMEOUT)
    data = _preview(qtbot, window, "And a vegetable?")
    item = next(i for i in data.items if i.source == f"message:{msgs[0].id}")
    assert item.state == "excluded"
    # The card now offers to include it again.
    qtbot.waitUntil(lambda: "include" in [c for c in window.chat.message_cards() if c.role == "user"][0]._buttons,
                    timeout=TIMEOUT)


def test_clicking_a_message_shows_its_turn_and_back(qtbot, window: MainWindow, db) -> None:
    _send(qtbot, window, "Say one word.")
    reply_card = window.chat.message_cards()[-1]
    record = db.turn_for_message(reply_card.message.id)
    assert record is not None
    qtbot.mouseClick(reply_card.body, Qt.MouseButton.LeftButton, pos=QPoint(4, 4))  # on the reply's words
    qtbot.waitUntil(lambda: window.panel.context.title.text().startswith("Turn of"), timeout=TIMEOUT)
    assert window.panel.window_shown.prompt == record.prompt
    assert window.panel.context.back_button.isVisible()
    assert reply_card.bubble.property("selected") is True
    assert [(i.kind, i.tokens) for i in window.panel.context_model.items()] == [
        (i["kind"], i["tokens"]) for i in record.items
    ]
    qtbot.mouseClick(window.panel.context.back_button, Qt.MouseButton.LeftButton)
    # A newer preview (the engine's own refresh) may overtake the one Back asked for: either will do.
    qtbot.waitUntil(lambda: window.panel.context.title.text() == "Next turn", timeout=TIMEOUT)
    assert not window.panel.context.back_button.isVisible()


def test_rename_search_and_delete_conversations(qtbot, window: MainWindow, monkeypatch, db) -> None:
    from clicks import answer_dialog
    from PySide6.QtWidgets import QMessageBox

    conv_a = db.create_conversation("Alpha plans").id
    conv_b = db.create_conversation("Beta notes").id
    window._reload_conversations()
    qtbot.waitUntil(lambda: window.conversations.rowCount() == 2, timeout=TIMEOUT)

    window.sidebar.search.setText("alpha")
    qtbot.waitUntil(
        lambda: [window.conversations.conversation_id(r) for r in range(window.conversations.rowCount())] == [conv_a],
        timeout=TIMEOUT,
    )
    window.sidebar.search.clear()
    qtbot.waitUntil(lambda: window.conversations.rowCount() == 2, timeout=TIMEOUT)

    window.conversation_view.setCurrentIndex(window.conversations.index(window.conversations.row_of(conv_b)))
    qtbot.waitUntil(lambda: window.conversation_id == conv_b, timeout=5000)
    answer_dialog(qtbot, click="OK", text="Gamma")
    window.sidebar.rename_action.trigger()
    qtbot.waitUntil(lambda: window.conversations.index(window.conversations.row_of(conv_b)).data() == "Gamma",
                    timeout=TIMEOUT)

    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    window.sidebar.delete_action.trigger()
    qtbot.waitUntil(lambda: bool(asked), timeout=TIMEOUT)  # asked once the title is read
    assert "Gamma" in asked[0] and "cannot be undone" in asked[0]
    qtbot.waitUntil(lambda: window.conversations.row_of(conv_b) < 0, timeout=TIMEOUT)
    assert window.conversation_id is None and window.chat.message_cards() == []
    assert [c.id for c in db.conversations()] == [conv_a]


def test_a_message_the_full_disk_refused_goes_back_in_the_box(qtbot, window: MainWindow, db) -> None:
    """Issue 21 item 6: the typed message is stored, or the user is told and keeps it."""
    _send(qtbot, window, "a first message, stored")
    assert window.engine.app is not None
    conn = window.engine.app.store.db.conn  # the engine's own connection: the disk fills up under it
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    typed = "a long message typed when the disk was full " * 250
    window.chat.composer.setPlainText(typed)
    window.chat.send_button.click()
    qtbot.waitUntil(lambda: not window._busy, timeout=TIMEOUT)
    assert window.chat.composer.toPlainText() == typed
    error = window.chat.banner.text()
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert all(typed.strip() != m.content for m in db.messages(window.conversation_id))
    assert "disk is full" in error and "back in the message box" in error and "is saved" not in error
