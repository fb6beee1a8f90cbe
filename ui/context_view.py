"""The "Context window" tab: the budget bar by category, its legend, and the ordered items.

A widget only: it shows a WindowView (a live preview or a past turn's
record) and turns the user's pin / exclude / include into ``operation``
commands through the panel's one curation flow (ui/curation.py); the main
window forwards those to the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractItemModel, QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from assistant.context import WindowItem, WindowView, parse_source
from assistant.kinds import ItemState
from assistant.operations import Curation
from ui.curation import CurationFlow
from ui.qt_models import CATEGORY_COLORS, CATEGORY_LABELS, ContextItemsModel

if TYPE_CHECKING:
    from ui.reader import Reads

FREE_DARK = "#34373f"
FALLBACK_REASON = {
    "system": "The system prompt: part of every prompt.",
    "template": "The chat template's markers and the note headers: part of every prompt.",
    "pinned": "Pinned: always in the prompt while it fits.",
    "history": "A recent turn of this conversation; it fits the budget.",
    "message": "The message you are writing.",
}
BAR_ORDER = ("system", "pinned", "memory", "history", "message", "template", "forgotten", "reserve", "free")


def table(model: QAbstractItemModel) -> QTableView:
    """A flat, row-selecting table in the panel's style."""
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(26)
    view.horizontalHeader().setHighlightSections(False)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    return view


class BudgetBar(QWidget):
    """The context size as one rounded bar, a coloured segment per category, free space last."""

    MIN_SEGMENT = 3.0  # px, so that a small but present category is still visible

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts: dict[str, int] = {}
        self._total = 1
        self.setMinimumHeight(24)

    def set_parts(self, parts: dict[str, int], total: int) -> None:
        self._parts = parts
        self._total = max(1, total)
        self.setToolTip(
            "\n".join(f"{CATEGORY_LABELS[k]}: {v:,} tokens" for k, v in parts.items() if v)
            + f"\nContext size: {total:,}"
        )
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, 24)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        clip = QPainterPath()
        clip.addRoundedRect(rect, 7, 7)
        p.setClipPath(clip)
        dark = self.palette().color(QPalette.ColorRole.Window).lightness() < 128
        p.fillRect(rect, QColor(FREE_DARK) if dark else QColor(CATEGORY_COLORS["free"]))
        x = rect.left()
        for key in BAR_ORDER[:-1]:
            value = self._parts.get(key, 0)
            if value <= 0:
                continue
            width = max(self.MIN_SEGMENT, rect.width() * value / self._total)
            p.fillRect(QRectF(x, rect.top(), width, rect.height()), QColor(CATEGORY_COLORS[key]))
            x += width
            # A hairline between segments keeps neighbours apart.
            p.setPen(QPen(self.palette().color(QPalette.ColorRole.Base), 1))
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        p.setClipping(False)
        p.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        p.drawPath(clip)
        p.end()


class Legend(QLabel):
    """Colour chips with the category names and their token counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)

    def set_parts(self, parts: dict[str, int]) -> None:
        chips = []
        # The application's palette: during a theme switch this widget's own may not have changed yet.
        dark = QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
        for key in BAR_ORDER:
            value = parts.get(key, 0)
            if not value and key not in ("reserve", "free"):
                continue
            chips.append(
                f"<span style='white-space:nowrap'><span style='color:"
                f"{FREE_DARK if dark and key == 'free' else CATEGORY_COLORS[key]};"
                " font-size:15px'>■</span>"
                f"&nbsp;{CATEGORY_LABELS[key].replace(' ', '&nbsp;')}&nbsp;<b>{value:,}</b></span>"
            )
        self.setText(" &nbsp; ".join(chips))


class ContextView(QWidget):
    """What the model reads for a turn, as a budget bar and the ordered items.

    Signals:
        operation(Curation): Pin or Exclude of the item's memory, or ExcludeMessage of its message.
        back_to_next_turn(): the user wants the live preview again (after viewing a past turn).
    """

    operation = Signal(Curation)
    back_to_next_turn = Signal()

    def __init__(self, reads: Reads, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curation = CurationFlow(self, reads, self.operation.emit)
        self._parts: dict[str, int] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 8)
        lay.setSpacing(8)
        head = QHBoxLayout()
        self.title = QLabel("Next turn")
        self.title.setObjectName("panelTitle")
        self.back_button = QPushButton("Show next turn")
        self.back_button.setObjectName("link")
        self.back_button.setToolTip("Go back to the live preview of the window the next message would use")
        self.back_button.setVisible(False)
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.back_button)
        self.summary = QLabel("Waiting for the model…")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setObjectName("warning")
        self.warning.setWordWrap(True)
        self.warning.setVisible(False)
        self.bar = BudgetBar()
        self.legend = Legend()
        self.model = ContextItemsModel(self)
        self.view = table(self.model)
        hh = self.view.horizontalHeader()
        for c in range(3):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.reason = QLabel("Select an item to see why it is in the window, or why not.")
        self.reason.setObjectName("muted")
        self.reason.setWordWrap(True)
        buttons = QHBoxLayout()
        self.pin_button = QPushButton("Pin")
        self.exclude_button = QPushButton("Exclude")
        self.include_button = QPushButton("Include")
        for b in (self.pin_button, self.exclude_button, self.include_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(head)
        lay.addWidget(self.summary)
        lay.addWidget(self.warning)
        lay.addWidget(self.bar)
        lay.addWidget(self.legend)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.reason)
        lay.addLayout(buttons)

        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.pin_button.clicked.connect(self._on_pin_button_clicked)
        self.exclude_button.clicked.connect(self._on_exclude_button_clicked)
        self.include_button.clicked.connect(self._on_include_button_clicked)
        self.back_button.clicked.connect(self.back_to_next_turn)

    def show_window(self, window: WindowView, *, title: str, live: bool) -> None:
        self.title.setText(title)
        self.back_button.setVisible(not live)
        if window.error:
            # Nothing of an earlier draft stays on screen as if it were this one's window.
            self.summary.setText(window.error)
            self.warning.setVisible(False)
            self._parts = None
            self.bar.setVisible(False)
            self.legend.setVisible(False)
            self.view.clearSpans()
            self.model.set_items((), None)
            self._on_view_selection_changed()
            return
        parts = {c: window.by_category.get(c, 0) for c in BAR_ORDER}
        # A past turn's record: what was sent and forgotten since is no longer "included", but its
        # tokens were read; they count apart, so the legend adds up to the tokens used.
        forgotten = sum(1 for it in window.items if it.state == ItemState.FORGOTTEN)
        if forgotten:
            counted = sum(v for k, v in parts.items() if k not in ("forgotten", "reserve", "free"))
            parts["forgotten"] = max(0, window.prompt_tokens - counted)
        self._parts = parts
        n_ctx = window.n_ctx
        shown_in = (ItemState.INCLUDED, ItemState.IN_CONVERSATION, ItemState.FORGOTTEN)
        left = sum(1 for it in window.items if it.state not in shown_in)
        about = "≈ " if window.estimated else ""
        self.summary.setText(
            f"<b>{about}{window.prompt_tokens:,}</b> of {n_ctx:,} tokens used · "
            f"{window.reserve:,} reserved for the reply · {left} left out"
            + (f" · {forgotten} forgotten since" if forgotten else "")
            + (" · counts estimated with the bundled tokenizer" if window.estimated else "")
            + (" · template markers in your text are broken up before sending" if window.markers_neutralised else "")
        )
        dropped_pins = [it for it in window.items if it.kind == "pinned" and it.state == ItemState.OVER_BUDGET]
        self.warning.setText(
            f"⚠ {len(dropped_pins)} pinned note{'s do' if len(dropped_pins) > 1 else ' does'} not fit this turn: "
            "the pinned notes and the message take more room than the context has. Unpin a note, shorten the "
            "message, or raise the context size in Settings."
            if dropped_pins else ""
        )
        self.warning.setVisible(bool(dropped_pins))
        self.bar.setVisible(True)
        self.legend.setVisible(True)
        self.bar.set_parts(parts, n_ctx)
        self.legend.set_parts(parts)
        self.view.clearSpans()
        self.model.set_items(window.items, window.cutoff_index)
        if self.model.cutoff_row >= 0:
            self.view.setSpan(self.model.cutoff_row, 0, 1, self.model.columnCount())
            self.view.scrollTo(self.model.index(self.model.cutoff_row, 0))
        self._on_view_selection_changed()

    # -- actions ------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._parts is not None:
            self.legend.set_parts(self._parts)  # the legend's "free" chip follows the theme

    def current_item(self) -> WindowItem | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.item(rows[0].row()) if rows else None

    def _on_view_selection_changed(self, *_: object) -> None:
        item = self.current_item()
        source = (item.source if item else None) or ""
        is_memory = source.startswith("memory:")
        curable = is_memory or source.startswith("message:")
        state = item.state if item else None
        self.pin_button.setText("Unpin" if item and item.kind == "pinned" else "Pin")
        self.pin_button.setEnabled(is_memory and state not in (ItemState.EXCLUDED, ItemState.IN_CONVERSATION))
        self.exclude_button.setEnabled(curable and state != ItemState.EXCLUDED)
        self.include_button.setEnabled(curable and state == ItemState.EXCLUDED)
        if item is None:
            self.reason.setText("Select an item to see why it is in the window, or why not.")
        else:
            self.reason.setText(item.reason or FALLBACK_REASON.get(item.kind, ""))

    def _on_view_context_menu(self, pos: QPoint) -> None:
        item = self.current_item()
        if not item or not item.source:
            return
        menu = QMenu(self)
        for button in (self.pin_button, self.exclude_button, self.include_button):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _on_pin_button_clicked(self) -> None:
        item = self.current_item()
        found = parse_source(item.source) if item else None
        if item is not None and found is not None and found[0] == "memory":
            self.curation.pin([found[1]], pinned=item.kind != "pinned")

    def _on_exclude_button_clicked(self) -> None:
        self._exclude(True)

    def _on_include_button_clicked(self) -> None:
        self._exclude(False)

    def _exclude(self, excluded: bool) -> None:
        item = self.current_item()
        found = parse_source(item.source) if item else None
        if found is None:
            return
        kind, ident = found
        if kind == "memory":
            self.curation.exclude([ident], excluded)
        else:
            self.curation.exclude_message(ident, excluded)
