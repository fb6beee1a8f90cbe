"""Qt item models over the core's data: conversations, context items, retrieved notes, memories.

Each model owns its rows and emits fine-grained changes (insert, remove,
dataChanged for one row); a reset only when the whole content is replaced
(a new window, a new search).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from assistant.memory import Memory
from assistant.store import Conversation

Index = QModelIndex | QPersistentModelIndex

CATEGORY_COLORS = {
    "system": "#7c83fd",
    "pinned": "#f4a259",
    "memory": "#43aa8b",
    "history": "#4d96ff",
    "message": "#e05780",
    "template": "#9a8c98",
    "reserve": "#c9ada7",
    "free": "#e9ecef",
}
CATEGORY_LABELS = {
    "system": "System",
    "pinned": "Pinned",
    "memory": "Memories",
    "history": "History",
    "message": "New message",
    "template": "Template",
    "reserve": "Reply reserve",
    "free": "Free",
}


def _muted() -> QBrush:
    return QApplication.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ConversationListModel(QAbstractListModel):
    """Conversations, newest first; the id is in Qt.UserRole."""

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._rows: list[Conversation] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        conv = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return conv.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{conv.title}\nupdated {conv.updated[:16].replace('T', ' ')}"
        if role == Qt.ItemDataRole.UserRole:
            return conv.id
        return None

    def conversation_id(self, row: int) -> int | None:
        return self._rows[row].id if 0 <= row < len(self._rows) else None

    def row_of(self, conversation_id: int | None) -> int:
        for n, c in enumerate(self._rows):
            if c.id == conversation_id:
                return n
        return -1

    def sync(self, rows: list[Conversation]) -> None:
        """Bring the rows in line with ``rows`` using removes, inserts and dataChanged."""
        new_ids = [c.id for c in rows]
        for n in reversed(range(len(self._rows))):
            if self._rows[n].id not in new_ids:
                self.beginRemoveRows(QModelIndex(), n, n)
                del self._rows[n]
                self.endRemoveRows()
        if [c.id for c in self._rows] != [i for i in new_ids if i in {c.id for c in self._rows}]:
            self.beginResetModel()  # reordered: a reset is the honest change
            self._rows = list(rows)
            self.endResetModel()
            return
        for n, conv in enumerate(rows):
            if n >= len(self._rows) or self._rows[n].id != conv.id:
                self.beginInsertRows(QModelIndex(), n, n)
                self._rows.insert(n, conv)
                self.endInsertRows()
            elif self._rows[n] != conv:
                self._rows[n] = conv
                self.dataChanged.emit(self.index(n), self.index(n))


class _TableModel(QAbstractTableModel):
    """Rows and fixed column headers; subclasses supply HEADERS and data()."""

    HEADERS: tuple[str, ...] = ()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class ContextItemsModel(_TableModel):
    """The items of a context window: kind, tokens, state, text; left-out items greyed."""

    HEADERS = ("Kind", "Tokens", "State", "Text")

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []
        self._cutoff = -1

    def item(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    @property
    def cutoff_row(self) -> int:
        return self._cutoff

    def set_items(self, items: list[dict[str, Any]]) -> None:
        self.beginResetModel()  # a whole new window replaces the old one
        self._rows = list(items)
        self._cutoff = -1
        for n, it in enumerate(self._rows):
            if it["kind"] == "history" and it["state"] == "over_budget":
                self._cutoff = n
        self.endResetModel()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        it = self._rows[index.row()]
        col = index.column()
        included = it["state"] == "included"
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return CATEGORY_LABELS.get(it["kind"], it["kind"]) + (f" · {it['role']}" if it["kind"] == "history" else "")
            if col == 1:
                return f"{it['tokens']:,}"
            if col == 2:
                if index.row() == self._cutoff:
                    return "✂ cut-off"
                return "in" if included else it["state"].replace("_", " ")
            return _one_line(it["text"])
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = f"\n\n{it['reason']}" if it.get("reason") else ""
            return _one_line(it["text"], 600) + reason
        if role == Qt.ItemDataRole.ForegroundRole and not included:
            return _muted()
        if role == Qt.ItemDataRole.FontRole and not included:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return QColor(CATEGORY_COLORS.get(it["kind"], "#888"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return it.get("source")
        return None


class RetrievedModel(_TableModel):
    """Memories retrieved for a turn, with dense, keyword and fused scores and the reason."""

    HEADERS = ("Memory", "Dense", "Keyword", "Fused", "Tokens", "Why")

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._rows: list[dict[str, Any]] = []

    def set_items(self, items: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = [it for it in items if it["kind"] == "memory"]
        self.endResetModel()

    def memory_id(self, row: int) -> int | None:
        src = self._rows[row].get("source") or ""
        return int(src.split(":")[1]) if src.startswith("memory:") else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        it = self._rows[index.row()]
        scores = it.get("scores") or {}
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                # The day is in the "Why" column; keep this one for who said what.
                text = it["text"]
                return _one_line(text.split("] ", 1)[1] if text.startswith("[") and "] " in text else text, 120)
            if col in (1, 2):
                value = scores.get("dense" if col == 1 else "keyword")
                return "—" if value is None else f"{value:.2f}"
            if col == 3:
                return f"{scores.get('fused', 0):.3f}"
            if col == 4:
                return str(it["tokens"])
            return it.get("reason", "")
        if role == Qt.ItemDataRole.ToolTipRole:
            return _one_line(it["text"], 600) + (f"\n\n{it['reason']}" if it.get("reason") else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and 1 <= col <= 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class MemoryTableModel(_TableModel):
    """All memories, fetched in batches as the view scrolls; one-row changes are dataChanged."""

    HEADERS = ("ID", "Flags", "Kind", "Date", "Text")
    BATCH = 200

    def __init__(self, fetch: Callable[[int, int], list[Memory]], parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._fetch = fetch
        self._rows: list[Memory] = []
        self._exhausted = False

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid():
            return
        batch = self._fetch(len(self._rows), self.BATCH)
        if len(batch) < self.BATCH:
            self._exhausted = True
        if batch:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(batch) - 1)
            self._rows.extend(batch)
            self.endInsertRows()

    def reload(self, fetch: Callable[[int, int], list[Memory]] | None = None) -> None:
        """A new search or sort: start again from the first batch."""
        if fetch is not None:
            self._fetch = fetch
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def refresh_rows(self, fresh: dict[int, Memory]) -> None:
        """Apply changes to loaded rows: dataChanged per changed row, removal for forgotten ones."""
        for n in reversed(range(len(self._rows))):
            mid = self._rows[n].id
            if mid not in fresh:
                self.beginRemoveRows(QModelIndex(), n, n)
                del self._rows[n]
                self.endRemoveRows()
            elif fresh[mid] != self._rows[n]:
                self._rows[n] = fresh[mid]
                self.dataChanged.emit(self.index(n, 0), self.index(n, len(self.HEADERS) - 1))

    def loaded_ids(self) -> list[int]:
        return [m.id for m in self._rows]

    def memory(self, row: int) -> Memory:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        m = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return str(m.id)
            if col == 1:
                return " ".join(f for f, on in (("pinned", m.pinned), ("excluded", m.excluded)) if on)
            if col == 2:
                return m.kind
            if col == 3:
                return m.day
            return _one_line(m.line(), 200)
        if role == Qt.ItemDataRole.ToolTipRole:
            flags = ", ".join(f for f, on in (("pinned", m.pinned), ("excluded", m.excluded)) if on) or "—"
            return f"{_one_line(m.text, 600)}\n\nmemory {m.id} · {m.kind} · {m.day} · {flags}"
        if role == Qt.ItemDataRole.ForegroundRole and m.excluded:
            return _muted()
        if role == Qt.ItemDataRole.UserRole:
            return m.id
        return None
