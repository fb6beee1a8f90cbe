"""The "Retrieved" tab: the memories retrieval chose for a turn, their scores and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from assistant.context import WindowView
from assistant.kinds import ItemState
from assistant.operations import Curation
from assistant.retrieval import BELOW_FLOOR
from ui.context_view import table
from ui.curation import CurationFlow
from ui.qt_models import RetrievedModel

if TYPE_CHECKING:
    from ui.reader import Reads

HINT = "Select a memory to see its full text and why it was retrieved."
NOTHING_RELEVANT = "Nothing relevant in memory"


class RetrievedTab(QWidget):
    """Scored hits of one window (dense, keyword, fused), with Pin, Edit and Forget.

    Signals:
        operation(Curation): Pin, EditMemory, Forget or Exclude of the selected memory.
    """

    operation = Signal(Curation)

    def __init__(self, reads: Reads, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curation = CurationFlow(self, reads, self.operation.emit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 8)
        lay.setSpacing(8)
        self.label = QLabel("Memories retrieved for the next turn appear here.")
        self.label.setObjectName("muted")
        self.label.setWordWrap(True)
        self.back_button = QPushButton("Show next turn")
        self.back_button.setObjectName("link")
        self.back_button.setToolTip("The memories the next message would bring in, as you type it")
        self.back_button.setVisible(False)
        self.model = RetrievedModel(self)
        self.view = table(self.model)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, self.model.columnCount()):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        # The detail says why first, then the memory's text, and scrolls: a long memory never
        # pushes the reason out of sight.
        self.detail = QLabel(HINT)
        self.detail.setObjectName("muted")
        self.detail.setWordWrap(True)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail_area = QScrollArea()
        self.detail_area.setWidgetResizable(True)
        self.detail_area.setFrameShape(QFrame.Shape.NoFrame)
        self.detail_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.detail_area.setWidget(self.detail)
        self.detail_area.setMinimumHeight(60)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.detail_area)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.split = split
        buttons = QHBoxLayout()
        self.pin_button = QPushButton("Pin")
        self.edit_button = QPushButton("Edit…")
        self.forget_button = QPushButton("Forget…")
        for b in (self.pin_button, self.edit_button, self.forget_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addWidget(self.label)
        lay.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(split, 1)
        lay.addLayout(buttons)

        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.view.doubleClicked.connect(self._on_edit_button_clicked)
        self.pin_button.clicked.connect(self._on_pin_button_clicked)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.forget_button.clicked.connect(self._on_forget_button_clicked)
        self._on_view_selection_changed()

    def show_window(self, window: WindowView, title: str) -> None:
        self.model.set_items(window.items)
        rows = [self.model.item(r) for r in range(self.model.rowCount())]
        seen = sum(1 for it in rows if it.state == ItemState.IN_CONVERSATION)
        below = sum(1 for it in rows if it.state == ItemState.BELOW_FLOOR)
        n = len(rows) - seen - below
        fit = self.model.included_count()
        also = (
            f" {seen} more match{'es are' if seen > 1 else ' is'} already in the conversation, so "
            f"{'they are' if seen > 1 else 'it is'} not repeated (greyed)."
            if seen else ""
        )
        if not n:
            # The relevance floor: an unrelated memory only distracts the model, so none is sent.
            shown = f" The closest candidates are greyed: {BELOW_FLOOR}." if below else ""
            self.label.setText(f"<b>{NOTHING_RELEVANT}</b> for {title[0].lower() + title[1:]}.{shown}{also}")
        else:
            self.label.setText(
                f"<b>{n} memor{'y' if n == 1 else 'ies'}</b> retrieved for {title[0].lower() + title[1:]}"
                f"{f', {fit} fit the budget' if fit != n else ''}.{also} Dense = meaning (cosine), keyword = BM25, "
                "fused = reciprocal-rank fusion of both."
            )
        self._on_view_selection_changed()

    def _selected_id(self) -> int | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.memory_id(rows[0].row()) if rows else None

    def _on_view_selection_changed(self, *_: object) -> None:
        rows = self.view.selectionModel().selectedRows()
        for b in (self.pin_button, self.edit_button, self.forget_button):
            b.setEnabled(bool(rows))
        if rows:
            it = self.model.item(rows[0].row())
            self.detail.setText(f"Why: {it.reason or '—'}\n\n{it.text}")
            self.detail_area.verticalScrollBar().setValue(0)
        else:
            self.detail.setText(HINT)

    def _on_view_context_menu(self, pos: QPoint) -> None:
        if self._selected_id() is None:
            return
        menu = QMenu(self)
        menu.addAction("Pin", self._on_pin_button_clicked)
        menu.addAction("Edit…", self._on_edit_button_clicked)
        menu.addAction("Forget…", self._on_forget_button_clicked)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _on_pin_button_clicked(self) -> None:
        mid = self._selected_id()
        if mid is not None:
            self.curation.pin([mid])

    def _on_edit_button_clicked(self, *_: object) -> None:
        mid = self._selected_id()
        if mid is not None:
            self.curation.edit(mid)

    def _on_forget_button_clicked(self) -> None:
        mid = self._selected_id()
        if mid is not None:
            self.curation.forget([mid])
