"""Qt item models over the core's data: conversations, context items, retrieved notes, memories.

Each model owns its rows and emits fine-grained changes (insert, remove,
dataChanged for one row); a reset only when the whole content is replaced
(a new window, a new search).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from assistant.context import WindowItem, parse_source
from assistant.kinds import ItemState
from assistant.memory import ALTERNATIVE, Memory
from assistant.store import Conversation

Index = QModelIndex | QPersistentModelIndex

CATEGORY_COLORS = {
    "system": "#7c83fd",
    "pinned": "#f4a259",
    "memory": "#43aa8b",
    "history": "#4d96ff",
    "message": "#e05780",
    "template": "#9a8c98",
    "forgotten": "#6c757d",
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
    "forgotten": "Forgotten since",
    "reserve": "Reply reserve",
    "free": "Free",
}


SUBTITLE_ROLE = Qt.ItemDataRole.UserRole + 1
CUTOFF_TEXT = "— cut-off: older turns left out —"
# other states read as their names
STATE_LABELS = {ItemState.IN_CONVERSATION: "in the chat", ItemState.BELOW_FLOOR: "not relevant"}


def _ago(stamp: str) -> str:
    """A short, human date for a list row: a time today, a weekday this week, else a date."""
    try:
        when = dt.datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return stamp[:16]
    now = dt.datetime.now().astimezone()
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if (now.date() - when.date()).days < 7:
        return when.strftime("%a %H:%M")
    return when.strftime("%d %b %Y")


def _muted() -> QBrush:
    return QApplication.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


def _flags(m: Memory) -> list[str]:
    """What sets a memory apart in the list: pinned, excluded, or an answer Regenerate set aside
    (kept and searchable, never put in a prompt)."""
    flags = [f for f, on in (("pinned", m.pinned), ("excluded", m.excluded)) if on]
    if m.source == ALTERNATIVE:
        flags.append("earlier answer")
    return flags


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ConversationListModel(QAbstractListModel):
    """Conversations, newest first; the id is in Qt.UserRole."""

    def __init__(self, parent: QObject | None = None) -> None:
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
        if role == SUBTITLE_ROLE:
            return _ago(conv.updated)
        return None

    def conversation_id(self, row: int) -> int | None:
        return self._rows[row].id if 0 <= row < len(self._rows) else None

    def row_of(self, conversation_id: int | None) -> int:
        for n, c in enumerate(self._rows):
            if c.id == conversation_id:
                return n
        return -1

    def sync(self, rows: list[Conversation]) -> None:
        """Bring the rows in line with ``rows`` by removes, moves, inserts and dataChanged (never a reset)."""
        wanted = {c.id for c in rows}
        for n in reversed(range(len(self._rows))):
            if self._rows[n].id not in wanted:
                self.beginRemoveRows(QModelIndex(), n, n)
                del self._rows[n]
                self.endRemoveRows()
        for n, conv in enumerate(rows):
            at = next((k for k in range(n, len(self._rows)) if self._rows[k].id == conv.id), -1)
            if at < 0:
                self.beginInsertRows(QModelIndex(), n, n)
                self._rows.insert(n, conv)
                self.endInsertRows()
                continue
            if at != n:
                # A conversation that was just used moves to the top: one move, not a reset.
                self.beginMoveRows(QModelIndex(), at, at, QModelIndex(), n)
                self._rows.insert(n, self._rows.pop(at))
                self.endMoveRows()
            if self._rows[n] != conv:
                self._rows[n] = conv
                self.dataChanged.emit(self.index(n), self.index(n))


class _TableModel(QAbstractTableModel):
    """Rows and fixed column headers; subclasses supply HEADERS and data()."""

    HEADERS: tuple[str, ...] = ()
    _rows: list[Any]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class ContextItemsModel(_TableModel):
    """The items of a context window, in prompt order: kind, tokens, state, text.

    Left-out items are greyed and italic; a separator row marks the history
    cut-off (older turns left out above it). ``item(row)`` is None for it.
    """

    HEADERS = ("Kind", "Tokens", "State", "Text")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[WindowItem | None] = []
        self._cutoff = -1

    def item(self, row: int) -> WindowItem | None:
        return self._rows[row]

    def items(self) -> list[WindowItem]:
        """The window's items without the separator row."""
        return [it for it in self._rows if it is not None]

    @property
    def cutoff_row(self) -> int:
        """Row of the cut-off separator, -1 when no history was left out for budget."""
        return self._cutoff

    def set_items(self, items: Sequence[WindowItem], cutoff: int | None) -> None:
        """A window's items; ``cutoff``: the index of the newest history item left out for budget
        (WindowView.cutoff_index), after which the separator row goes."""
        rows: list[WindowItem | None] = list(items)
        if cutoff is not None:
            rows.insert(cutoff + 1, None)
        self.beginResetModel()  # a whole new window replaces the old one
        self._rows = rows
        self._cutoff = cutoff + 1 if cutoff is not None else -1
        self.endResetModel()

    def flags(self, index: Index) -> Qt.ItemFlag:
        if index.isValid() and 0 <= index.row() < len(self._rows) and self._rows[index.row()] is None:
            return Qt.ItemFlag.ItemIsEnabled
        return super().flags(index)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        it = self._rows[index.row()]
        col = index.column()
        if it is None:
            if role == Qt.ItemDataRole.DisplayRole:
                return CUTOFF_TEXT if col == 0 else ""  # the view spans it over all columns
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignCenter)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(QColor(CATEGORY_COLORS["message"]))
            if role == Qt.ItemDataRole.ToolTipRole:
                return "The turns above did not fit the budget; they stay retrievable as memories."
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
            return None
        included = it.included
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return CATEGORY_LABELS.get(it.kind, it.kind)
            if col == 1:
                return f"{it.tokens:,}"
            if col == 2:
                return "in" if included else STATE_LABELS.get(it.state, it.state.replace("_", " "))
            who = {"user": "You: ", "assistant": "Glassmind: "}.get(it.role or "", "")
            return (who if it.kind == "history" else "") + _one_line(it.text)
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = f"\n\n{it.reason}" if it.reason else ""
            return _one_line(it.text, 600) + reason
        if role == Qt.ItemDataRole.ForegroundRole and not included:
            return _muted()
        if role == Qt.ItemDataRole.FontRole and not included:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return QColor(CATEGORY_COLORS.get(it.kind, "#888"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return it.source
        return None


class RetrievedModel(_TableModel):
    """Memories retrieved for a turn with dense, keyword and fused scores (the reason is in the tooltip)."""

    HEADERS = ("Memory", "Dense", "Keyword", "Fused", "Tokens")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[WindowItem] = []

    def set_items(self, items: Sequence[WindowItem]) -> None:
        self.beginResetModel()  # a new window: its retrieval replaces the last one
        self._rows = [it for it in items if it.kind == "memory"]
        self.endResetModel()

    def item(self, row: int) -> WindowItem:
        return self._rows[row]

    def included_count(self) -> int:
        return sum(1 for it in self._rows if it.included)

    def memory_id(self, row: int) -> int | None:
        found = parse_source(self._rows[row].source)
        return found[1] if found and found[0] == "memory" else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        it = self._rows[index.row()]
        scores = it.scores or {}
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                # The date prefix is in the tooltip and the detail line; keep the row for the words.
                text = it.text
                return _one_line(text.split("] ", 1)[1] if text.startswith("[") and "] " in text else text, 120)
            if col in (1, 2):
                value = scores.get("dense" if col == 1 else "keyword")
                if value is None:
                    return "—"
                # BM25 is near zero for a word found in many memories: still a match, not "0.00".
                return f"{value:.2f}" if abs(value) >= 0.005 or col == 1 else "<0.01"
            if col == 3:
                return f"{scores.get('fused', 0):.3f}"
            return str(it.tokens)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _one_line(it.text, 600) + (f"\n\nWhy: {it.reason}" if it.reason else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and not it.included:
            return _muted()
        if role == Qt.ItemDataRole.UserRole:
            return it.source
        return None


PageFetch = Callable[[int, int, Callable[[list[Memory]], None]], None]


class MemoryTableModel(_TableModel):
    """All memories, fetched in batches as the view scrolls; one-row changes are dataChanged.

    ``fetch(offset, limit, deliver)`` asks for a page and calls ``deliver`` with it later (the
    reader thread answers), or at once: the model waits for one page at a time.
    """

    HEADERS = ("ID", "Flags", "Kind", "Date", "Text")
    BATCH = 200

    def __init__(self, fetch: PageFetch, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fetch = fetch
        self._rows: list[Memory] = []
        self._exhausted = False
        self._waiting = False
        self._generation = 0  # a new search or sort: pages asked for before it are dropped

    @property
    def generation(self) -> int:
        return self._generation

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and not self._exhausted and not self._waiting

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid() or self._waiting or self._exhausted:
            return
        self._waiting = True
        generation = self._generation
        self._fetch(len(self._rows), self.BATCH, lambda batch: self._add_page(generation, batch))

    def _add_page(self, generation: int, batch: list[Memory]) -> None:
        if generation != self._generation:
            return
        self._waiting = False
        if len(batch) < self.BATCH:
            self._exhausted = True
        have = {m.id for m in self._rows}
        new = [m for m in batch if m.id not in have]  # a row merged in since the page was asked for
        if new:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(new) - 1)
            self._rows.extend(new)
            self.endInsertRows()

    def reload(self) -> None:
        """A new search or sort: start again from the first batch."""
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._waiting = False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def refresh_rows(self, fresh: Mapping[int, Memory], asked: Sequence[int] | None = None) -> None:
        """Apply changes to loaded rows: dataChanged per changed row, removal for forgotten ones.
        ``asked``: the ids ``fresh`` was read for (rows loaded since are left as they are)."""
        asked_ids = None if asked is None else set(asked)
        for n in reversed(range(len(self._rows))):
            mid = self._rows[n].id
            if asked_ids is not None and mid not in asked_ids:
                continue
            if mid not in fresh:
                self.beginRemoveRows(QModelIndex(), n, n)
                del self._rows[n]
                self.endRemoveRows()
            elif fresh[mid] != self._rows[n]:
                self._rows[n] = fresh[mid]
                self.dataChanged.emit(self.index(n, 0), self.index(n, len(self.HEADERS) - 1))

    def merge_new(self, page: list[Memory]) -> None:
        """Memories added since loading (a note, a stored turn) appear where the current sort and
        search put them in ``page`` (a fresh first batch): inserted rows, never a reset."""
        position = {m.id: n for n, m in enumerate(self._rows)}
        at = 0
        for memory in page:
            if memory.id in position:
                at = position[memory.id] + 1
                continue
            if at >= len(self._rows) and not self._exhausted:
                break  # past what is loaded: it comes with the next batch
            self.beginInsertRows(QModelIndex(), at, at)
            self._rows.insert(at, memory)
            self.endInsertRows()
            position = {m.id: n for n, m in enumerate(self._rows)}
            at += 1

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
                return " · ".join(_flags(m))
            if col == 2:
                return m.kind
            if col == 3:
                return m.day
            return _one_line(m.line(), 200)
        if role == Qt.ItemDataRole.ToolTipRole:
            flags = ", ".join(_flags(m)) or "—"
            return f"{_one_line(m.text, 600)}\n\nmemory {m.id} · {m.kind} · {m.day} · {flags}"
        if role == Qt.ItemDataRole.ForegroundRole and (m.excluded or m.source == ALTERNATIVE):
            return _muted()
        if role == Qt.ItemDataRole.UserRole:
            return m.id
        return None
