"""The memory panel: four tabs, one module each.

- Context window (ui/context_view.py): the budget bar and the ordered items of a turn.
- Retrieved (ui/retrieved_tab.py): the scored memories retrieval chose, and why.
- All memories (ui/memories_tab.py): every memory, searchable, curated.
- Prompt (here): the exact text sent to the model.

Widgets only. Every change is an ``operation`` request that the main window hands to the engine
thread; memories and impacts are read on the reader thread, through the ``Reads`` the window
passes in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton, QTabWidget, QVBoxLayout, QWidget

from assistant.context import WindowView
from assistant.operations import ApproveAllSuggestions, ApproveSuggestion, Curation, RejectSuggestion
from ui.context_view import ContextView
from ui.memories_tab import MemoriesTab
from ui.retrieved_tab import RetrievedTab
from ui.suggestions_view import SuggestionsView

if TYPE_CHECKING:
    from ui.reader import Reads


TEMPLATE_SHADE = (124, 92, 255, 50)  # a light violet wash, readable in both themes
TEMPLATE_INK = (106, 76, 214)


class PromptTab(QWidget):
    """The rendered prompt, read-only, with a copy button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 8)
        lay.setSpacing(8)
        self.label = QLabel("The exact text sent to the model.")
        self.label.setObjectName("muted")
        self.label.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setObjectName("prompt")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_button = QPushButton("Copy prompt")
        lay.addWidget(self.label)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)

    def show_window(self, window: WindowView, title: str) -> None:
        self.text.setPlainText(window.prompt)
        marked = self._mark_template(window.template_spans)
        self.label.setText(
            f"The exact text sent to the model for {title[0].lower() + title[1:]}: "
            f"{window.prompt_tokens:,} tokens, chat template included."
            + (" Shaded: the chat template's own markers (control tokens); everything else is read as "
               "plain text, even where it looks like a marker." if marked else "")
        )

    def _mark_template(self, spans: tuple[tuple[int, int], ...]) -> bool:
        """Shade the template's own text, so a marker someone typed can be told from a real one."""
        if not spans:
            return False
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(*TEMPLATE_SHADE))
        fmt.setForeground(QColor(*TEMPLATE_INK))
        fmt.setFontWeight(700)
        cursor = QTextCursor(self.text.document())
        for start, end in spans:
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)
        return True

    def is_template_at(self, position: int) -> bool:
        """Whether the character at ``position`` is shown as the template's own text."""
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(position + 1)
        return cursor.charFormat().fontWeight() == 700

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())


class MemoryPanel(QTabWidget):
    """Shows what the model sees and keeps, and lets the user curate it.

    Signals:
        operation(Curation): a curation command for the engine (Pin, Forget, EditMemory, AddNote, ...).
        back_to_next_turn(): the user left a past turn's record for the live preview.
    """

    operation = Signal(Curation)
    back_to_next_turn = Signal()
    show_message = Signal(int)

    def __init__(self, reads: Reads, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        # The tabs stay put at the left and never slide or squeeze as the panel's width changes.
        self.tabBar().setExpanding(False)
        self.tabBar().setUsesScrollButtons(True)
        self.tabBar().setElideMode(Qt.TextElideMode.ElideNone)
        self.window_shown = WindowView()
        self.context = ContextView(reads)
        self.retrieved = RetrievedTab(reads)
        self.memories = MemoriesTab(reads)
        self.prompt_tab = PromptTab()
        self.suggested = SuggestionsView()
        # Short names: all four fit the panel's narrowest width; the tooltips say more.
        for tab, name, tip in (
            (self.context, "Context", "The context window: everything the model reads, with exact token counts"),
            (self.retrieved, "Retrieved", "The memories retrieval chose for this turn, scored, and why"),
            (self.memories, "Memories", "All long-term memories: search, pin, exclude, edit, forget"),
            (self.suggested, "Suggested", "Notes the model proposes from what you said: approve, edit or reject"),
            (self.prompt_tab, "Prompt", "The exact text sent to the model"),
        ):
            self.setTabToolTip(self.addTab(tab, name), tip)
        # Short names the main window, the screenshots and the tests use.
        self.context_model, self.context_view = self.context.model, self.context.view
        self.exclude_button = self.context.exclude_button
        self.retrieved_model, self.retrieved_view = self.retrieved.model, self.retrieved.view
        self.memory_model, self.memory_view = self.memories.model, self.memories.view
        self.m_add, self.m_pin, self.m_exclude = (
            self.memories.add_button, self.memories.pin_button, self.memories.exclude_button
        )
        self.m_edit, self.m_forget = self.memories.edit_button, self.memories.forget_button
        self.prompt = self.prompt_tab.text

        for tab in (self.context, self.retrieved, self.memories):
            tab.operation.connect(self.operation)
        self.context.back_to_next_turn.connect(self.back_to_next_turn)
        self.retrieved.back_button.clicked.connect(self.back_to_next_turn)
        self.suggested.approve.connect(self._on_suggested_approve)
        self.suggested.reject.connect(self._on_suggested_reject)
        self.suggested.approve_all.connect(self._on_suggested_approve_all)
        self.suggested.show_source.connect(self.show_message)

    def show_window(self, window: WindowView, *, title: str, live: bool = True) -> None:
        """Show a window: the next turn's (live) or a past turn's record."""
        self.window_shown = window
        self.context.show_window(window, title=title, live=live)
        if window.error:
            self.retrieved.show_window(WindowView(), title)
            return
        self.retrieved.show_window(window, title)
        self.retrieved.back_button.setVisible(not live)
        self.prompt_tab.show_window(window, title)

    def offer_next_turn(self) -> None:
        """The window shown (a turn's that just ended) stays; "Show next turn" brings the preview."""
        self.context.back_button.setVisible(True)
        self.retrieved.back_button.setVisible(True)

    def show_suggestions(self, rows: list[Any]) -> None:
        """The pending suggestions; the tab says how many wait."""
        self.suggested.set_suggestions(rows)
        pending = len(self.suggested.rows())  # the view shows the pending ones
        self.setTabText(self.indexOf(self.suggested), f"Suggested ({pending})" if pending else "Suggested")

    def _on_suggested_approve(self, suggestion_id: int, text: str) -> None:
        self.operation.emit(ApproveSuggestion(suggestion_id, text))

    def _on_suggested_reject(self, suggestion_id: int) -> None:
        self.operation.emit(RejectSuggestion(suggestion_id))

    def _on_suggested_approve_all(self) -> None:
        self.operation.emit(ApproveAllSuggestions())

    def reload_memories(self) -> None:
        self.memories.reload()

    def refresh_memories(self) -> None:
        """Memories changed: the loaded rows and the count are read again."""
        self.memories.refresh()
