"""Answer the modal dialog the next click opens, as a user would: type into it, click a button."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit, QPlainTextEdit, QWidget


def _button(dialog: QWidget, label: str) -> QAbstractButton:
    for b in dialog.findChildren(QAbstractButton):
        if b.text().replace("&", "") == label and b.isVisible():
            return b
    names = [b.text() for b in dialog.findChildren(QAbstractButton)]
    raise AssertionError(f"no button {label!r} in the dialog, only {names}")


def answer_dialog(qtbot, *, click: str, text: str | None = None, seen: list[str] | None = None,
                  fill=None) -> None:
    """Before the action that opens a modal dialog: when it is up, replace its text box's content
    with ``text`` (typed), or let ``fill(dialog)`` type into it, note the dialog's words in ``seen``,
    and click the button labelled ``click``."""

    def act(tries: int = 0) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible():
            if tries < 6000:  # up to two minutes: some dialogs open once the reader thread has answered
                QTimer.singleShot(20, lambda: act(tries + 1))
            return
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
