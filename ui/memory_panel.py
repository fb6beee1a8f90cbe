"""The memory panel: context window (budget bar + items), retrieved notes, all memories, the prompt.

Widgets only. Reads of the memory list go through ``fetch_memories`` /
``get_memory`` (a read-only store in the GUI thread: fast SQLite reads);
every change is an ``operation`` request that the main window hands to the
engine thread.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from assistant.memory import Memory
from ui.context_view import ContextView, table
from ui.qt_models import MemoryTableModel, RetrievedModel

SORTS = (("Newest first", "newest"), ("Oldest first", "oldest"), ("Pinned first", "pinned"), ("By text", "text"))


def _page(margins: tuple[int, int, int, int] = (12, 12, 12, 8)) -> tuple[QWidget, QVBoxLayout]:
    page = QWidget()
    lay = QVBoxLayout(page)
    lay.setContentsMargins(*margins)
    lay.setSpacing(8)
    return page, lay


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


class MemoryPanel(QTabWidget):
    """Shows what the model sees and keeps, and lets the user curate it.

    Signals:
        operation(str, object): a curation request for the engine (pin, forget, edit, add, ...).
        back_to_next_turn(): the user left a past turn's record for the live preview.
    """

    operation = Signal(str, object)
    back_to_next_turn = Signal()

    def __init__(
        self,
        fetch_memories: Callable[[str | None, str, int, int], list[Memory]],
        get_memory: Callable[[int], Memory | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        self._fetch_memories = fetch_memories
        self._get_memory = get_memory
        self._window: dict[str, Any] = {}

        self.context = ContextView()
        self.addTab(self.context, "Context window")

        # Retrieved.
        ret, rl = _page()
        self.retrieved_label = _muted("Memories retrieved for the next turn appear here.")
        self.retrieved_model = RetrievedModel(self)
        self.retrieved_view = table(self.retrieved_model)
        rh = self.retrieved_view.horizontalHeader()
        rh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, self.retrieved_model.columnCount()):
            rh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.retrieved_detail = _muted("Select a memory to see its full text and why it was retrieved.")
        self.retrieved_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rb = QHBoxLayout()
        self.r_pin = QPushButton("Pin")
        self.r_edit = QPushButton("Edit…")
        self.r_forget = QPushButton("Forget…")
        for b in (self.r_pin, self.r_edit, self.r_forget):
            rb.addWidget(b)
        rb.addStretch(1)
        rl.addWidget(self.retrieved_label)
        rl.addWidget(self.retrieved_view, 1)
        rl.addWidget(self.retrieved_detail)
        rl.addLayout(rb)
        self.addTab(ret, "Retrieved")

        # All memories.
        allw, al = _page()
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories…")
        self.search.setClearButtonEnabled(True)
        self.sort = QComboBox()
        for label, key in SORTS:
            self.sort.addItem(label, key)
        top.addWidget(self.search, 1)
        top.addWidget(self.sort)
        self.memory_model = MemoryTableModel(self._fetch, self)
        self.memory_view = table(self.memory_model)
        self.memory_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        mh = self.memory_view.horizontalHeader()
        for c in range(4):
            mh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        mh.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        ab = QHBoxLayout()
        self.m_add = QPushButton("Add…")
        self.m_add.setToolTip("Write a memory by hand")
        self.m_pin = QPushButton("Pin")
        self.m_exclude = QPushButton("Exclude")
        self.m_edit = QPushButton("Edit…")
        self.m_forget = QPushButton("Forget…")
        for b in (self.m_add, self.m_pin, self.m_exclude, self.m_edit, self.m_forget):
            ab.addWidget(b)
        ab.addStretch(1)
        self.memory_count = _muted("")
        al.addLayout(top)
        al.addWidget(self.memory_view, 1)
        al.addLayout(ab)
        al.addWidget(self.memory_count)
        self.addTab(allw, "All memories")

        # Prompt.
        pw, pl = _page()
        self.prompt_label = _muted("The exact text sent to the model.")
        self.prompt = QPlainTextEdit()
        self.prompt.setReadOnly(True)
        self.prompt.setObjectName("prompt")
        self.prompt.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.prompt.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_prompt = QPushButton("Copy prompt")
        pl.addWidget(self.prompt_label)
        pl.addWidget(self.prompt, 1)
        pl.addWidget(self.copy_prompt, 0, Qt.AlignmentFlag.AlignLeft)
        self.addTab(pw, "Prompt")

        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.sort.currentIndexChanged.connect(self._on_search_timer_timeout)
        self.context.operation.connect(self.operation)
        self.context.back_to_next_turn.connect(self.back_to_next_turn)
        self.copy_prompt.clicked.connect(self._on_copy_prompt_clicked)
        self.retrieved_view.selectionModel().selectionChanged.connect(self._on_retrieved_view_selection)
        self.retrieved_view.customContextMenuRequested.connect(self._on_retrieved_view_menu)
        self.retrieved_view.doubleClicked.connect(self._on_retrieved_edit)
        self.r_pin.clicked.connect(self._on_retrieved_pin)
        self.r_edit.clicked.connect(self._on_retrieved_edit)
        self.r_forget.clicked.connect(self._on_retrieved_forget)
        self.memory_view.selectionModel().selectionChanged.connect(self._on_memory_view_selection)
        self.memory_view.customContextMenuRequested.connect(self._on_memory_view_menu)
        self.memory_view.doubleClicked.connect(self._on_memory_edit)
        self.memory_model.dataChanged.connect(self._on_memory_view_selection)
        self.m_add.clicked.connect(self._on_add_clicked)
        self.m_pin.clicked.connect(self._on_memory_pin_toggle)
        self.m_exclude.clicked.connect(self._on_memory_exclude_toggle)
        self.m_edit.clicked.connect(self._on_memory_edit)
        self.m_forget.clicked.connect(self._on_memory_forget)
        self._on_retrieved_view_selection()
        self._on_memory_view_selection()

    # Kept as attributes of the panel for the main window and the tests.
    @property
    def context_model(self):  # noqa: ANN201
        return self.context.model

    @property
    def context_view(self):  # noqa: ANN201
        return self.context.view

    @property
    def exclude_button(self) -> QPushButton:
        return self.context.exclude_button

    # -- showing a window ---------------------------------------------------------

    def show_window(self, window: dict[str, Any], *, title: str, live: bool = True) -> None:
        """Show a window dict: the next turn's (live) or a past turn's record."""
        self._window = window
        self.context.show_window(window, title=title, live=live)
        if "error" in window:
            return
        self.retrieved_model.set_items(window.get("items", []))
        n = self.retrieved_model.rowCount()
        fit = self.retrieved_model.included_count()
        self.retrieved_label.setText(
            f"<b>{n} memor{'y' if n == 1 else 'ies'}</b> retrieved for {title[0].lower() + title[1:]}"
            f"{f', {fit} fit the budget' if fit != n else ''}. Dense = meaning (cosine), keyword = BM25, "
            "fused = reciprocal-rank fusion of both."
        )
        self.prompt.setPlainText(window.get("prompt", ""))
        self.prompt_label.setText(
            f"The exact text sent to the model for {title[0].lower() + title[1:]}: "
            f"{window.get('prompt_tokens', 0):,} tokens, chat template included."
        )
        self._on_retrieved_view_selection()

    def _on_copy_prompt_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.prompt.toPlainText())

    # -- retrieved ------------------------------------------------------------------

    def _retrieved_id(self) -> int | None:
        rows = self.retrieved_view.selectionModel().selectedRows()
        return self.retrieved_model.memory_id(rows[0].row()) if rows else None

    def _on_retrieved_view_selection(self, *_: object) -> None:
        rows = self.retrieved_view.selectionModel().selectedRows()
        for b in (self.r_pin, self.r_edit, self.r_forget):
            b.setEnabled(bool(rows))
        if rows:
            it = self.retrieved_model.item(rows[0].row())
            self.retrieved_detail.setText(f"{it['text']}\n\nWhy: {it.get('reason') or '—'}")
        else:
            self.retrieved_detail.setText("Select a memory to see its full text and why it was retrieved.")

    def _on_retrieved_view_menu(self, pos) -> None:  # noqa: ANN001
        if self._retrieved_id() is None:
            return
        menu = QMenu(self)
        menu.addAction("Pin", self._on_retrieved_pin)
        menu.addAction("Edit…", self._on_retrieved_edit)
        menu.addAction("Forget…", self._on_retrieved_forget)
        menu.exec(self.retrieved_view.viewport().mapToGlobal(pos))

    def _on_retrieved_pin(self) -> None:
        mid = self._retrieved_id()
        if mid is not None:
            self.operation.emit("pin", [mid])

    def _on_retrieved_edit(self, *_: object) -> None:
        mid = self._retrieved_id()
        memory = self._get_memory(mid) if mid is not None else None
        if memory is not None:
            self._edit(memory)

    def _on_retrieved_forget(self) -> None:
        mid = self._retrieved_id()
        if mid is not None:
            self._forget([mid])

    # -- all memories -------------------------------------------------------------

    def _fetch(self, offset: int, limit: int) -> list[Memory]:
        return self._fetch_memories(self.search.text().strip() or None, self.sort.currentData(), offset, limit)

    def reload_memories(self, count: int | None = None) -> None:
        self.memory_model.reload()
        if count is not None:
            self.set_memory_count(count)

    def set_memory_count(self, count: int) -> None:
        self.memory_count.setText(f"{count:,} memor{'y' if count == 1 else 'ies'} in long-term memory")

    def _on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_search_timer_timeout(self, *_: object) -> None:
        self.memory_model.reload()
        self._on_memory_view_selection()

    def _selected_memories(self) -> list[Memory]:
        rows = sorted({i.row() for i in self.memory_view.selectionModel().selectedRows()})
        return [self.memory_model.memory(r) for r in rows]

    def _on_memory_view_selection(self, *_: object) -> None:
        chosen = self._selected_memories()
        all_pinned = bool(chosen) and all(m.pinned for m in chosen)
        all_excluded = bool(chosen) and all(m.excluded for m in chosen)
        self.m_pin.setText("Unpin" if all_pinned else "Pin")
        self.m_exclude.setText("Include" if all_excluded else "Exclude")
        for b in (self.m_pin, self.m_exclude, self.m_forget):
            b.setEnabled(bool(chosen))
        self.m_edit.setEnabled(len(chosen) == 1)

    def _on_memory_view_menu(self, pos) -> None:  # noqa: ANN001
        chosen = self._selected_memories()
        if not chosen:
            return
        ids = [m.id for m in chosen]
        menu = QMenu(self)
        for label, name in (("Pin", "pin"), ("Unpin", "unpin"), ("Exclude from context", "exclude"),
                            ("Include in context", "include")):
            menu.addAction(label, lambda n=name: self.operation.emit(n, ids))
        menu.addSeparator()
        edit = menu.addAction("Edit…", self._on_memory_edit)
        edit.setEnabled(len(chosen) == 1)
        menu.addAction("Forget…", self._on_memory_forget)
        menu.exec(self.memory_view.viewport().mapToGlobal(pos))

    def _on_memory_pin_toggle(self) -> None:
        chosen = self._selected_memories()
        if chosen:
            self.operation.emit("unpin" if all(m.pinned for m in chosen) else "pin", [m.id for m in chosen])

    def _on_memory_exclude_toggle(self) -> None:
        chosen = self._selected_memories()
        if chosen:
            self.operation.emit("include" if all(m.excluded for m in chosen) else "exclude", [m.id for m in chosen])

    def _on_memory_edit(self, *_: object) -> None:
        chosen = self._selected_memories()
        if len(chosen) == 1:
            self._edit(chosen[0])

    def _on_memory_forget(self) -> None:
        chosen = self._selected_memories()
        if chosen:
            self._forget([m.id for m in chosen])

    def _on_add_clicked(self) -> None:
        text, ok = QInputDialog.getMultiLineText(self, "Add a memory", "What should Glassmind remember?")
        if ok and text.strip():
            self.operation.emit("add", text.strip())

    def _edit(self, memory: Memory) -> None:
        text, ok = QInputDialog.getMultiLineText(self, "Edit memory", f"Memory {memory.id}:", memory.text)
        if ok and text.strip() and text != memory.text:
            self.operation.emit("edit", (memory.id, text.strip()))

    def _forget(self, ids: list[int]) -> None:
        answer = QMessageBox.question(
            self,
            "Forget for good?",
            f"Erase {len(ids)} memor{'y' if len(ids) == 1 else 'ies'} for good? The text is removed from the "
            "database, the index and the records of past turns. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.operation.emit("forget", ids)
