"""The system prompt of one conversation: edit it, or go back to the one from Settings."""

from __future__ import annotations

from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.reading import SystemPromptView

RESET = "Use the default"


class SystemPromptDialog(QDialog):
    """The conversation's prompt in a box the user edits, the one from Settings shown below it, and
    Save / "Use the default" / Cancel. ``result_prompt()``: the text to keep, or None for the one
    from Settings (also when the box holds exactly that one, or nothing)."""

    def __init__(self, view: SystemPromptView, parent: QWidget | None = None, *, error: str = "",
                 text: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("System prompt")
        self.setMinimumWidth(480)
        self._default = view.default
        self._reset = False
        lay = QVBoxLayout(self)
        intro = QLabel(
            "What the model reads first in every turn of this conversation. Other conversations keep "
            "their own, or the one from Settings."
            if view.conversation_id is not None else
            "What the model reads first in every turn of the conversation you are starting. Other "
            "conversations keep their own, or the one from Settings."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.error = QLabel(error)
        self.error.setObjectName("notice")
        self.error.setWordWrap(True)
        self.error.setVisible(bool(error))
        lay.addWidget(self.error)
        # Made first: the box the user types in is the dialog's first text box.
        self.editor = QPlainTextEdit(text if text is not None else (view.own or view.default))
        self.editor.setTabChangesFocus(True)
        line = QFontMetrics(self.editor.font()).lineSpacing()
        self.editor.setMinimumHeight(6 * line)
        lay.addWidget(self.editor, 2)
        self.whose = QLabel(
            "This conversation has its own system prompt. The default, from Settings:" if view.own else
            "The box holds the default, from Settings: edit it to give this conversation its own."
        )
        self.whose.setWordWrap(True)
        lay.addWidget(self.whose)
        self.default_view = QPlainTextEdit(view.default)
        self.default_view.setReadOnly(True)
        self.default_view.setObjectName("muted")
        self.default_view.setMaximumHeight(4 * line + 12)
        self.default_view.setToolTip("The default system prompt: change it in Settings (Ctrl+,).")
        self.default_view.setVisible(bool(view.own))  # else the box above holds it already
        lay.addWidget(self.default_view, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.reset_button = QPushButton(RESET)
        self.reset_button.setToolTip("Forget this conversation's own prompt: it uses the one from Settings again")
        self.buttons.addButton(self.reset_button, QDialogButtonBox.ButtonRole.ResetRole)
        lay.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.editor.setFocus()

    def _on_reset_button_clicked(self) -> None:
        self._reset = True
        self.accept()

    def result_prompt(self) -> str | None:
        text = self.editor.toPlainText().strip()
        if self._reset or not text or text == self._default.strip():
            return None
        return text
