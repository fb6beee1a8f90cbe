"""The engine never makes the panel wait (issue 25): reading a long conversation ahead (the warm-up)
gives way when the user types or switches conversation, and says what it does while it runs; a long
prompt's reading shows in the reply being written, with its numbers and Stop; New conversation works
while a reply streams. Real model, real embedder, clicked and typed as a user does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from windows import open_window

from assistant import paths
from assistant.opening import open_store
from ui.main_window import MainWindow

TIMEOUT = 180_000


@pytest.fixture
def db(glassmind_home: Path):
    store = open_store(paths.database_path())
    yield store
    store.close()


def _settings(embedder, **changes) -> None:
    from assistant.app import Assistant

    core = Assistant(embedder=embedder)
    core.save_settings(dataclasses.replace(core.settings, **changes))
    core.close()


def _seed(title: str, turns: int) -> int:
    """A conversation of ``turns`` exchanges, about 110 tokens each."""
    rows = []
    for n in range(turns):
        rows.append({"role": "user", "content": f"Question {n}: what should I plant in pot number {n} on the "
                     "balcony, which gets sun in the morning and wind in the evening, and how often to water it?",
                     "created": "2026-11-20T10:00:00+00:00"})
        rows.append({"role": "assistant", "content": f"For pot {n}, try thyme or rosemary: both like morning sun, "
                     "shrug off wind, and want water only when the top of the soil is dry, about twice a week.",
                     "created": "2026-11-20T10:00:01+00:00"})
    store = open_store(paths.database_path())
    try:
        conv = store.create_conversation(title).id
        store.import_messages(conv, rows)
    finally:
        store.close()
    return conv


def _open(qtbot, embedder) -> MainWindow:
    return open_window(qtbot, embedder, (1024, 700), timeout=TIMEOUT, ready=False)


def _click_conversation(qtbot, w: MainWindow, conv: int) -> None:
    view = w.conversation_view
    rect = view.visualRect(w.conversations.index(w.conversations.row_of(conv)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _warming(w: MainWindow) -> bool:
    return w.chat.warm_up.isVisible() and w.chat.warm_up.text().startswith("Reading this conversation…")


def test_typing_and_switching_conversation_never_wait_for_the_warm_up(qtbot, glassmind_home: Path, embedder) -> None:
    _settings(embedder, n_ctx=8192)
    other = _seed("Short talk", 1)
    long_conv = _seed("Balcony planning", 45)  # ~5,000 tokens of history to read ahead
    w = _open(qtbot, embedder)
    seen: list[tuple[int, int]] = []  # the warm-up's progress, as the chat shows it
    w.engine.warming.connect(lambda done, total: seen.append((done, total)))
    qtbot.waitUntil(lambda: w.conversations.rowCount() == 2, timeout=TIMEOUT)

    _click_conversation(qtbot, w, long_conv)
    qtbot.waitUntil(lambda: _warming(w), timeout=TIMEOUT)
    assert "tokens" in w.chat.warm_up.text() and "tokens used" in w.panel.context.summary.text()

    # Typing: the warm-up pauses at once, and the Context tab shows the draft's window.
    qtbot.keyClicks(w.chat.composer, "Which pot for mint?")
    qtbot.waitUntil(lambda: any(i.kind == "message" and i.text == "Which pot for mint?"
                                for i in w.panel.window_shown.items), timeout=TIMEOUT)
    at_preview = list(seen)
    done_then = max((d for d, t in at_preview if t), default=0)
    total = max(t for _, t in at_preview)
    assert done_then < total, "the preview waited for the whole conversation to be read"
    # It goes on from where it stopped (the model's cache keeps what was read).
    qtbot.waitUntil(lambda: any(t and d > done_then for d, t in seen[len(at_preview):]), timeout=TIMEOUT)

    # Switching conversation: the other one opens and its window shows, the warm-up gives way.
    _click_conversation(qtbot, w, other)
    qtbot.waitUntil(lambda: w.conversation_id == other and w.shown_request == w._request_id
                    and sum(i.kind == "history" for i in w.panel.window_shown.items) == 2, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not _warming(w), timeout=TIMEOUT)
    w.close()


def test_a_long_prompt_is_read_in_the_reply_with_its_numbers_and_stop(
    qtbot, glassmind_home: Path, embedder, db
) -> None:
    _settings(embedder, n_ctx=8192)
    w = _open(qtbot, embedder)
    text = "Please summarise these notes about my balcony garden. " + " ".join(
        f"Note {n}: the basil in pot {n} wanted water on day {n % 7} and the mint spread again." for n in range(220)
    )
    w.chat.composer.setPlainText(text)  # a paste
    qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.chat._streaming is not None and w.chat._streaming.reading.isVisible(), timeout=TIMEOUT)
    card = w.chat._streaming
    assert card is not None
    label = card.reading_label.text()
    assert label.startswith("Reading the prompt:") and " of " in label and "tokens" in label
    assert card.reading_bar.maximum() > 3000 and 0 < card.reading_bar.value() < card.reading_bar.maximum()
    assert "Reading" not in w.statusBar().currentMessage()
    qtbot.mouseClick(card.reading_stop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    assert w.chat.notice_text() == "Stopped; the partial reply is saved."
    notice = w.chat.notice
    assert notice.isVisible() and notice.height() >= notice.heightForWidth(notice.width()) - 1
    assert db.messages(w.conversation_id)[0].content == text  # nothing typed is lost
    w.close()


def test_new_conversation_stays_usable_while_a_reply_streams(qtbot, glassmind_home: Path, embedder, db) -> None:
    _settings(embedder, max_tokens=200, temperature=0.7)
    w = _open(qtbot, embedder)
    qtbot.keyClicks(w.chat.composer, "Tell me a long story about a lighthouse keeper and a storm at sea.")
    qtbot.keyClick(w.chat.composer, Qt.Key.Key_Return)
    assert w._busy and w.sidebar.new_button.isEnabled()
    qtbot.waitUntil(lambda: w.conversation_id is not None, timeout=TIMEOUT)
    first = w.conversation_id
    qtbot.mouseClick(w.sidebar.new_button, Qt.MouseButton.LeftButton)
    assert w.conversation_id is None and w.chat.empty.isVisible() and not w.chat.message_cards()
    qtbot.keyClicks(w.chat.composer, "A new question")
    assert w.chat.composer.toPlainText() == "A new question"
    qtbot.waitUntil(lambda: not w._busy, timeout=TIMEOUT)
    qtbot.wait(300)
    # The reply went on in its own conversation; the chat stayed on the new one.
    assert [m.role for m in db.messages(first)] == ["user", "assistant"]
    assert w.conversation_id is None and not w.chat.message_cards()
    assert w.chat.composer.toPlainText() == "A new question"
    qtbot.waitUntil(lambda: w.conversations.row_of(first) >= 0, timeout=TIMEOUT)
    # And it is there when the user goes back to it.
    _click_conversation(qtbot, w, first)
    qtbot.waitUntil(lambda: len(w.chat.message_cards()) == 2, timeout=TIMEOUT)
    w.close()
