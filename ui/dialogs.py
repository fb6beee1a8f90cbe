"""Small dialogs that ask for text: wide enough to read, with the explanation wrapped above the box."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

MIN_WIDTH = 520


class TextDialog(QDialog):
    """A title, a wrapped explanation, a text box and OK / Cancel.

    ``single_line`` gives a line edit (titles); otherwise a box for several lines (messages, notes).
    """

    def __init__(
        self, parent: QWidget | None, title: str, label: str, text: str = "", *, single_line: bool = False
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(MIN_WIDTH)
        lay = QVBoxLayout(self)
        self.label = QLabel(label)
        self.label.setWordWrap(True)
        lay.addWidget(self.label)
        self.editor: QLineEdit | QPlainTextEdit
        if single_line:
            self.editor = QLineEdit(text)
            self.editor.selectAll()
        else:
            self.editor = QPlainTextEdit(text)
            self.editor.setMinimumHeight(140)
            self.editor.setTabChangesFocus(True)
        lay.addWidget(self.editor, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.editor.setFocus()

    def text(self) -> str:
        if isinstance(self.editor, QLineEdit):
            return self.editor.text()
        return self.editor.toPlainText()


def ask_text(
    parent: QWidget | None, title: str, label: str, text: str = "", *, single_line: bool = False
) -> tuple[str, bool]:
    """Like QInputDialog.getMultiLineText / getText, but wide and with a wrapped label."""
    dialog = TextDialog(parent, title, label, text, single_line=single_line)
    ok = dialog.exec() == QDialog.DialogCode.Accepted
    return dialog.text(), ok
