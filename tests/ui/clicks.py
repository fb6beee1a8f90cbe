"""Answer the modal dialog the next click opens, as a user would: type into it, click a button.

A dialog that never opens fails the test: each `answer_dialog` is checked when the test ends
(tests/ui/conftest.py calls `check_answered`), and `Answer.wait` fails at once with what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit, QPlainTextEdit, QWidget
from pytestqt.exceptions import TimeoutError as QtBotTimeout
from pytestqt.qtbot import QtBot

# Some dialogs open once the reader thread has answered: wait up to two minutes (a slow, shared machine).
PATIENCE_S = 120.0


class Answer:
    """One dialog awaited: `answered` once its button was clicked; `wait()` fails the test if it never opens."""

    def __init__(self, qtbot: QtBot, click: str) -> None:
        self.qtbot = qtbot
        self.click = click
        self.answered = False
        self.given_up = False

    def what(self) -> str:
        return f"the dialog to answer with {self.click!r} never appeared"

    def wait(self, timeout_s: float = PATIENCE_S) -> None:
        try:
            self.qtbot.waitUntil(lambda: self.answered or self.given_up, timeout=int(timeout_s * 1000))
        except QtBotTimeout:
            self.given_up = True
        if not self.answered:
            self.given_up = True
            pytest.fail(self.what())


_pending: list[Answer] = []


def check_answered() -> None:
    """At the end of a test: every dialog it awaited was answered (else the test fails and says which)."""
    left = [a for a in _pending if not a.answered]
    for a in _pending:
        a.given_up = True  # a later dialog (another test's) is never clicked by this one
    _pending.clear()
    if left:
        pytest.fail("; ".join(a.what() for a in left))


def _button(dialog: QWidget, label: str) -> QAbstractButton:
    for b in dialog.findChildren(QAbstractButton):
        if b.text().replace("&", "") == label and b.isVisible():
            return b
    names = [b.text() for b in dialog.findChildren(QAbstractButton)]
    raise AssertionError(f"no button {label!r} in the dialog, only {names}")


def answer_dialog(qtbot: QtBot, *, click: str, text: str | None = None, seen: list[str] | None = None,
                  fill: Callable[[QWidget], object] | None = None) -> Answer:
    """Before the action that opens a modal dialog: when it is up, replace its text box's content
    with ``text`` (typed), or let ``fill(dialog)`` type into it, note the dialog's words in ``seen``,
    and click the button labelled ``click``. The test fails if the dialog never opens."""
    answer = Answer(qtbot, click)
    _pending.append(answer)
    deadline = time.monotonic() + PATIENCE_S

    def act() -> None:
        if answer.given_up:
            return
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible():
            if time.monotonic() < deadline:
                QTimer.singleShot(20, act)
            else:
                answer.given_up = True
            return
        answer.answered = True
        if seen is not None:
            words = [w.text() for w in dialog.findChildren(QWidget) if hasattr(w, "text") and
                     not isinstance(w, (QAbstractButton, QLineEdit, QPlainTextEdit)) and callable(w.text)]
            seen.append(" ".join(str(t) for t in words if t))
        if text is not None:
            editor = dialog.findChild(QPlainTextEdit) or dialog.findChild(QLineEdit)
            assert editor is not None, "the dialog has no text box"
            editor.setFocus()
            editor.selectAll()
            qtbot.keyClick(editor, Qt.Key.Key_Delete)
            qtbot.keyClicks(editor, text)
        if fill is not None:
            fill(dialog)
        qtbot.mouseClick(_button(dialog, click), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, act)
    return answer
