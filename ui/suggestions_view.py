"""The "Suggested" list: notes the model proposed, each to approve (as is or edited), reject, or trace
to the message it came from. A flagged suggestion (it reads like an instruction to the assistant, or
came from the assistant's reply) shows why, and Approve all leaves it for its own Approve.

A widget only: it shows the rows it is given (``set_suggestions``) and says what the user chose by
signals; the engine does the work (``Assistant.suggestions.approve`` / ``reject`` / ``approve_all``)
and sends the list again. A row the user acted on leaves the list at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from assistant.kinds import SuggestionStatus
from assistant.suggestions import Suggestion


class _EditLine(QLineEdit):
    """The suggestion's text while it is edited; Escape gives up the edit."""

    cancelled = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)


class SuggestionRow(QFrame):
    """One suggestion: its text (editable after Edit…), the note it replaces, and its buttons.

    Signals:
        approve(int, str): approve suggestion id with this text (edited or as suggested).
        reject(int): reject suggestion id.
        show_source(int): show the message with this id.
    """

    approve = Signal(int, str)
    reject = Signal(int)
    show_source = Signal(int)

    def __init__(self, suggestion: Suggestion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.suggestion = suggestion
        self.setObjectName("suggestion")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(4)

        kind = suggestion.kind + (f" · {suggestion.event_date}" if suggestion.event_date else "")
        self.kind_label = QLabel(kind)
        self.kind_label.setObjectName("muted")
        lay.addWidget(self.kind_label)
        self.text_label = QLabel(suggestion.text)
        self.text_label.setWordWrap(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.text_label)
        self.editor = _EditLine(suggestion.text)
        self.editor.setAccessibleName("Suggested note text")
        self.editor.hide()
        lay.addWidget(self.editor)
        self.flag_label: QLabel | None = None
        if suggestion.flag:
            self.flag_label = QLabel(f"⚠ {suggestion.flag}")
            self.flag_label.setObjectName("warning")
            self.flag_label.setWordWrap(True)
            self.flag_label.setAccessibleName("Why this suggestion is flagged")
            lay.addWidget(self.flag_label)
        self.replaces_label: QLabel | None = None
        if suggestion.replaces is not None:
            self.replaces_label = QLabel(f"replaces: {suggestion.replaces_text or f'note {suggestion.replaces}'}")
            self.replaces_label.setObjectName("muted")
            self.replaces_label.setWordWrap(True)
            lay.addWidget(self.replaces_label)

        buttons = QHBoxLayout()
        self.approve_button = QPushButton("Approve")
        self.edit_button = QPushButton("Edit…")
        self.reject_button = QPushButton("Reject")
        self.source_button = QPushButton("Show source")
        self.source_button.setEnabled(suggestion.source_message_id is not None)
        for b in (self.approve_button, self.edit_button, self.reject_button, self.source_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)

        self.approve_button.clicked.connect(self._on_approve_button_clicked)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.reject_button.clicked.connect(self._on_reject_button_clicked)
        self.source_button.clicked.connect(self._on_source_button_clicked)
        self.editor.returnPressed.connect(self._on_approve_button_clicked)
        self.editor.cancelled.connect(self._on_editor_cancelled)

    @property
    def editing(self) -> bool:
        return not self.editor.isHidden()

    def _on_approve_button_clicked(self) -> None:
        text = self.editor.text().strip() if self.editing else self.suggestion.text
        if text:  # an emptied edit approves nothing
            self.approve.emit(self.suggestion.id, text)

    def _on_edit_button_clicked(self) -> None:
        self.editor.setText(self.suggestion.text)
        self.text_label.hide()
        self.editor.show()
        self.edit_button.setEnabled(False)
        self.approve_button.setText("Approve edited")
        self.editor.setFocus()
        self.editor.selectAll()

    def _on_editor_cancelled(self) -> None:
        self.editor.hide()
        self.text_label.show()
        self.edit_button.setEnabled(True)
        self.approve_button.setText("Approve")

    def _on_reject_button_clicked(self) -> None:
        self.reject.emit(self.suggestion.id)

    def _on_source_button_clicked(self) -> None:
        if self.suggestion.source_message_id is not None:
            self.show_source.emit(self.suggestion.source_message_id)


class SuggestionsView(QWidget):
    """The pending suggestions, newest last, with Approve all.

    Signals:
        approve(int, str): approve suggestion id, keeping this text (the suggested one or the user's edit).
        reject(int): reject suggestion id (it is never suggested again).
        show_source(int): show the message (by id) the suggestion was read from.
        approve_all(): approve every pending suggestion that is not flagged, as suggested.
    """

    approve = Signal(int, str)
    reject = Signal(int)
    show_source = Signal(int)
    approve_all = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 8)
        lay.setSpacing(8)
        top = QHBoxLayout()
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        top.addWidget(self.summary, 1)
        self.approve_all_button = QPushButton("Approve all")
        top.addWidget(self.approve_all_button)
        lay.addLayout(top)

        self._rows_box = QWidget()
        self._rows_layout = QVBoxLayout(self._rows_box)
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._rows_layout.setSpacing(6)
        self._rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._rows_box)
        lay.addWidget(scroll, 1)
        self._rows: dict[int, SuggestionRow] = {}

        self.approve_all_button.clicked.connect(self._on_approve_all_button_clicked)
        self._update_summary()

    def set_suggestions(self, rows: Sequence[Suggestion]) -> None:
        """Show these suggestions (pending ones; others are skipped). A row being edited keeps its edit."""
        wanted = [s for s in rows if s.status == SuggestionStatus.PENDING]
        keep = {s.id for s in wanted}
        for sid in [i for i in self._rows if i not in keep]:
            self._remove(sid)
        for n, s in enumerate(wanted):
            row = self._rows.get(s.id)
            if row is None or (row.suggestion != s and not row.editing):
                if row is not None:
                    self._remove(s.id)
                row = self._add(s)
            self._rows_layout.insertWidget(n, row)
        self._update_summary()

    def rows(self) -> list[SuggestionRow]:
        """The rows shown, in order."""
        out = []
        for i in range(self._rows_layout.count()):
            item = self._rows_layout.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, SuggestionRow):
                out.append(widget)
        return out

    def _add(self, s: Suggestion) -> SuggestionRow:
        row = SuggestionRow(s, self._rows_box)
        row.approve.connect(self._on_row_approve)
        row.reject.connect(self._on_row_reject)
        row.show_source.connect(self.show_source)
        self._rows[s.id] = row
        return row

    def _remove(self, sid: int) -> None:
        row = self._rows.pop(sid, None)
        if row is not None:
            self._rows_layout.removeWidget(row)
            row.hide()
            row.deleteLater()

    def _update_summary(self) -> None:
        n = len(self._rows)
        flagged = sum(1 for row in self._rows.values() if row.suggestion.flag)
        text = (
            f"{n} suggested note{'s' if n != 1 else ''}: approve what is worth keeping."
            if n else "No suggestions. After a reply the model proposes facts worth keeping; they wait here."
        )
        if flagged:
            text += f" {flagged} flagged: read why, and approve or reject each one yourself."
        self.summary.setText(text)
        self.approve_all_button.setEnabled(n > flagged)

    def _on_row_approve(self, sid: int, text: str) -> None:
        self._remove(sid)
        self._update_summary()
        self.approve.emit(sid, text)

    def _on_row_reject(self, sid: int) -> None:
        self._remove(sid)
        self._update_summary()
        self.reject.emit(sid)

    def _on_approve_all_button_clicked(self) -> None:
        for sid in [i for i, row in self._rows.items() if not row.suggestion.flag]:
            self._remove(sid)
        self._update_summary()
        self.approve_all.emit()
