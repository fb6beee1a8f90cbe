"""The real app window, opened as a user starts it: shown at a screen's size, its model loaded; and
what a user sees of it, for tests to wait on (never the window's private state)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QToolButton

from ui.main_window import MainWindow
from ui.message_card import MessageCard

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from models.embedder import Embedder


def open_window(qtbot: QtBot, embedder: Embedder, size: tuple[int, int], *, timeout: int, ready: bool = True) -> MainWindow:
    """``ready``: also wait until the status bar says Ready (a test of what happens before it does not)."""
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: model_shown(w), timeout=timeout)
    if ready:
        qtbot.waitUntil(lambda: w.statusBar().currentMessage() in ("Ready", ""), timeout=timeout)
    return w


def model_shown(w: MainWindow) -> bool:
    """The status bar names the loaded model."""
    return w.model_label.text().startswith("Model:")


def replying(w: MainWindow) -> bool:
    """A reply is being written: the composer offers Stop instead of Send."""
    return w.chat.stop_button.isVisibleTo(w) and not w.chat.send_button.isVisibleTo(w)


def reading_card(w: MainWindow) -> MessageCard | None:
    """The reply being written, while it shows that the prompt is being read."""
    cards = [c for c in w.chat.message_cards() if c.message is None and c.reading.isVisibleTo(w)]
    return cards[-1] if cards else None


def button(card: MessageCard, key: str) -> QToolButton:
    """The card's shown button for ``key`` ("edit", "regenerate", ...); a test fails if there is none."""
    found = card.action_button(key)
    assert found is not None, f"the message shows no {key!r} button"
    return found


def conversation(w: MainWindow) -> int:
    """The stored conversation the window shows (a test fails when it shows a new, unsaved one)."""
    cid = w.conversation_id
    assert cid is not None, "the window shows no stored conversation"
    return cid
