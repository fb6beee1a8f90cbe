"""The "All memories" tab: every memory, searchable and sortable, loaded in batches, curated.

Pages, refreshes and impacts are read on the reader thread (ui/reader.py); the tab shows them when
they arrive, and a dialog that needs them opens then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.memory import Memory
from assistant.operations import Curation
from assistant.reading import MemoryRefresh
from ui.context_view import table
from ui.curation import CurationFlow
from ui.qt_models import MemoryTableModel

if TYPE_CHECKING:
    from ui.reader import Reads

SORTS = (("Newest first", "newest"), ("Oldest first", "oldest"), ("Pinned first", "pinned"), ("By text", "text"))
KINDS: tuple[tuple[str, str | None], ...] = (("Notes and chat", None), ("Notes", "note"), ("Chat messages", "message"))


class MemoriesTab(QWidget):
    """Search, sort, and Add / Pin / Exclude / Edit / Forget on the selected memories.

    Signals:
        operation(Curation): AddNote, Pin, Exclude, EditMemory or Forget.
    """

    operation = Signal(Curation)

    def __init__(self, reads: Reads, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reads = reads
        self.curation = CurationFlow(self, reads, self.operation.emit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 8)
        lay.setSpacing(8)
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories…")
        self.search.setClearButtonEnabled(True)
        self.sort = QComboBox()
        for label, key in SORTS:
            self.sort.addItem(label, key)
        self.kind = QComboBox()  # notes apart from the chat log
        for label, kind in KINDS:
            self.kind.addItem(label, kind)
        self.kind.setToolTip("Notes (written, remembered or approved) or chat messages, or both")
        top.addWidget(self.search, 1)
        top.addWidget(self.kind)
        top.addWidget(self.sort)
        self.model = MemoryTableModel(self._fetch, self)
        self.view = table(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.view.horizontalHeader()
        for c in range(4):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Write a memory by hand")
        self.pin_button = QPushButton("Pin")
        self.exclude_button = QPushButton("Exclude")
        self.edit_button = QPushButton("Edit…")
        self.forget_button = QPushButton("Forget…")
        for b in (self.add_button, self.pin_button, self.exclude_button, self.edit_button, self.forget_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.count = QLabel("")
        self.count.setObjectName("muted")
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.count)

        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.sort.currentIndexChanged.connect(self._on_search_timer_timeout)
        self.kind.currentIndexChanged.connect(self._on_search_timer_timeout)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.view.doubleClicked.connect(self._on_edit_button_clicked)
        self.model.dataChanged.connect(self._on_view_selection_changed)
        # The header sizes its columns to their contents when the model is reset, not when a page
        # of rows arrives: after a search that found nothing, the columns would stay squeezed.
        self.model.rowsInserted.connect(self._on_model_rows_inserted)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.pin_button.clicked.connect(self._on_pin_button_clicked)
        self.exclude_button.clicked.connect(self._on_exclude_button_clicked)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.forget_button.clicked.connect(self._on_forget_button_clicked)
        self._on_view_selection_changed()

    def _on_model_rows_inserted(self, *_: object) -> None:
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, header.sectionResizeMode(0))  # same mode: sizes the columns again

    def _search(self) -> str | None:
        return self.search.text().strip() or None

    def _fetch(self, offset: int, limit: int, deliver: Callable[[list[Memory]], None]) -> None:
        self._reads.memories(self._search(), self.kind.currentData(), self.sort.currentData(), offset, limit, deliver)

    def reload(self) -> None:
        """Start again from the first page, and count the memories."""
        self.model.reload()
        self._reads.memory_count(self.set_count)

    def refresh(self) -> None:
        """After a change: loaded rows updated or removed, new ones inserted in place, the count."""
        generation = self.model.generation
        self._reads.memory_refresh(
            self.model.loaded_ids(), self._search(), self.kind.currentData(), self.sort.currentData(), self.model.BATCH,
            lambda fresh: self._on_reads_memory_refresh(generation, fresh),
        )

    def _on_reads_memory_refresh(self, generation: int, refresh: MemoryRefresh) -> None:
        self.set_count(refresh.count)
        if generation != self.model.generation:
            return  # a new search or sort since: its own pages are coming
        self.model.refresh_rows(refresh.fresh, refresh.asked)
        self.model.merge_new(list(refresh.first_page))
        self._on_view_selection_changed()

    def set_count(self, count: int) -> None:
        self.count.setText(f"{count:,} memor{'y' if count == 1 else 'ies'} in long-term memory")

    def _on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_search_timer_timeout(self, *_: object) -> None:
        self.model.reload()
        self._on_view_selection_changed()

    def selected(self) -> list[Memory]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [self.model.memory(r) for r in rows]

    def _on_view_selection_changed(self, *_: object) -> None:
        chosen = self.selected()
        self.pin_button.setText("Unpin" if chosen and all(m.pinned for m in chosen) else "Pin")
        self.exclude_button.setText("Include" if chosen and all(m.excluded for m in chosen) else "Exclude")
        for b in (self.pin_button, self.exclude_button, self.forget_button):
            b.setEnabled(bool(chosen))
        self.edit_button.setEnabled(len(chosen) == 1)

    def _on_view_context_menu(self, pos: QPoint) -> None:
        chosen = self.selected()
        if not chosen:
            return
        ids = [m.id for m in chosen]
        menu = QMenu(self)
        for label, change, on in (("Pin", self.curation.pin, True), ("Unpin", self.curation.pin, False),
                                  ("Exclude from context", self.curation.exclude, True),
                                  ("Include in context", self.curation.exclude, False)):
            menu.addAction(label, functools.partial(change, ids, on))
        menu.addSeparator()
        edit = menu.addAction("Edit…", self._on_edit_button_clicked)
        edit.setEnabled(len(chosen) == 1)
        menu.addAction("Forget…", self._on_forget_button_clicked)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _on_add_button_clicked(self) -> None:
        self.curation.add()

    def _on_pin_button_clicked(self) -> None:
        chosen = self.selected()
        self.curation.pin([m.id for m in chosen], pinned=not all(m.pinned for m in chosen))

    def _on_exclude_button_clicked(self) -> None:
        chosen = self.selected()
        self.curation.exclude([m.id for m in chosen], excluded=not all(m.excluded for m in chosen))

    def _on_edit_button_clicked(self, *_: object) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            self.curation.edit(chosen[0].id)

    def _on_forget_button_clicked(self) -> None:
        self.curation.forget([m.id for m in self.selected()])
