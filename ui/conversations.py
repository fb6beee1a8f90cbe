"""The conversations sidebar: new, search, the list (title and last use), rename and delete.

A widget only: it reports what the user asked for by signals; the main
window reads the list from the store and asks the engine to change it.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QAction, QPainter, QPalette
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from assistant.store import Conversation
from ui.qt_models import SUBTITLE_ROLE, ConversationListModel


class ConversationDelegate(QStyledItemDelegate):
    """Two lines per conversation: the title, and when it was last used in a smaller, muted face."""

    PAD = 8

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        fm = option.fontMetrics
        return QSize(option.rect.width(), fm.height() * 2 + self.PAD * 2)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        hovered = bool(opt.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = opt.rect.adjusted(2, 2, -2, -2)
        pal = opt.palette
        if selected or hovered:
            painter.setPen(Qt.PenStyle.NoPen)
            color = pal.color(QPalette.ColorRole.Highlight)
            if not selected:
                color.setAlpha(40)
            painter.setBrush(color)
            painter.drawRoundedRect(rect, 6, 6)
        text_rect = rect.adjusted(self.PAD + 2, self.PAD - 2, -self.PAD, -self.PAD + 2)
        fm = opt.fontMetrics
        title_color = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        painter.setPen(title_color)
        font = opt.font
        font.setWeight(font.Weight.DemiBold)
        painter.setFont(font)
        title = fm.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole) or ""), Qt.TextElideMode.ElideRight,
                              text_rect.width())
        painter.drawText(QRect(text_rect.left(), text_rect.top(), text_rect.width(), fm.height()),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), title)
        sub_font = opt.font
        sub_font.setWeight(sub_font.Weight.Normal)
        sub_font.setPointSizeF(max(7.0, sub_font.pointSizeF() * 0.88))
        painter.setFont(sub_font)
        muted = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        painter.setPen(pal.color(muted))
        painter.drawText(QRect(text_rect.left(), text_rect.top() + fm.height() + 1, text_rect.width(), fm.height()),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         str(index.data(SUBTITLE_ROLE) or ""))
        painter.restore()


class ConversationsPane(QWidget):
    """New conversation, search, and the list of conversations, newest first.

    Signals:
        new_requested(): the user wants an empty conversation.
        search_changed(str): the search text changed (the main window re-reads the list).
        chosen(int): the user picked a conversation.
        rename_requested(int): rename this conversation (asks for the title itself first).
        delete_requested(int): delete this conversation (confirmation is the main window's).
    """

    new_requested = Signal()
    search_changed = Signal(str)
    chosen = Signal(int)
    rename_requested = Signal(int)
    delete_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._showing = False
        self.setObjectName("sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 12, 10, 8)
        lay.setSpacing(8)
        self.new_button = QPushButton("New conversation")
        self.new_button.setObjectName("primary")
        self.new_button.setToolTip("Start an empty conversation (Ctrl+N)")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations…")
        self.search.setClearButtonEnabled(True)
        self.model = ConversationListModel(self)
        self.view = QListView()
        self.view.setObjectName("conversations")
        self.view.setModel(self.model)
        self.view.setItemDelegate(ConversationDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setUniformItemSizes(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.rename_action = QAction("Rename…", self.view)
        self.delete_action = QAction("Delete…", self.view)
        self.delete_action.setShortcut(Qt.Key.Key_Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.view.addAction(self.rename_action)
        self.view.addAction(self.delete_action)
        self.empty = QLabel("No conversations yet.")
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.new_button)
        lay.addWidget(self.search)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.empty)

        self.new_button.clicked.connect(self.new_requested)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.view.selectionModel().currentChanged.connect(self._on_view_current_changed)
        self.rename_action.triggered.connect(self._on_rename_action_triggered)
        self.delete_action.triggered.connect(self._on_delete_action_triggered)

    def show_conversations(self, rows: list[Conversation], current: int | None) -> None:
        """Bring the list in line with ``rows`` (fine-grained changes) and select ``current``."""
        self.model.sync(rows)
        self.empty.setVisible(not rows)
        self.empty.setText("No match." if self.search.text().strip() else "No conversations yet.")
        self.select(current)

    def select(self, conversation_id: int | None) -> None:
        row = self.model.row_of(conversation_id)
        sel = self.view.selectionModel()
        self._showing = True  # showing the current one is not the user choosing it
        try:
            if row >= 0:
                sel.setCurrentIndex(self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)
            else:
                sel.clear()
        finally:
            self._showing = False

    def search_text(self) -> str:
        return self.search.text().strip()

    def _current_id(self) -> int | None:
        return self.model.conversation_id(self.view.currentIndex().row())

    def _on_search_text_changed(self, text: str) -> None:
        self.search_changed.emit(text.strip())

    def _on_view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        cid = self.model.conversation_id(current.row()) if current.isValid() else None
        if cid is not None and not self._showing:
            self.chosen.emit(cid)

    def _on_rename_action_triggered(self) -> None:
        cid = self._current_id()
        if cid is not None:
            self.rename_requested.emit(cid)

    def _on_delete_action_triggered(self) -> None:
        cid = self._current_id()
        if cid is not None:
            self.delete_requested.emit(cid)
