"""The memory panel: context window (budget bar + items), retrieved notes, all memories, the prompt."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontDatabase, QPainter, QPainterPath
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
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from assistant.memory import Memory
from ui.qt_models import CATEGORY_COLORS, CATEGORY_LABELS, ContextItemsModel, MemoryTableModel, RetrievedModel

BAR_ORDER = ("system", "pinned", "memory", "history", "message", "template", "reserve", "free")


def categories(window: dict[str, Any]) -> dict[str, int]:
    """Included tokens per category of a window dict (a live window or a past turn's record)."""
    out = {c: 0 for c in BAR_ORDER}
    for it in window.get("items", []):
        if it["state"] == "included" and it["kind"] in out:
            out[it["kind"]] += it["tokens"]
    out["reserve"] = window.get("reserve", 0)
    out["free"] = max(0, window.get("n_ctx", 0) - out["reserve"] - window.get("prompt_tokens", 0))
    return out


class BudgetBar(QWidget):
    """A horizontal bar of the context size split by category, with a legend below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts: dict[str, int] = {}
        self._total = 1
        self.setMinimumHeight(22)

    def set_parts(self, parts: dict[str, int], total: int) -> None:
        self._parts = parts
        self._total = max(1, total)
        self.setToolTip(
            "\n".join(f"{CATEGORY_LABELS[k]}: {v:,} tokens" for k, v in parts.items() if v) + f"\nContext size: {total:,}"
        )
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, 22)

    def paintEvent(self, event) -> None:  # noqa: ANN001
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        clip = QPainterPath()
        clip.addRoundedRect(rect, 6, 6)
        p.setClipPath(clip)
        p.fillRect(rect, QColor(CATEGORY_COLORS["free"]) if self.palette().window().color().lightness() > 128 else QColor("#3a3f44"))
        x = rect.left()
        for key in BAR_ORDER:
            if key == "free":
                continue
            width = rect.width() * self._parts.get(key, 0) / self._total
            if width <= 0:
                continue
            p.fillRect(QRectF(x, rect.top(), width, rect.height()), QColor(CATEGORY_COLORS[key]))
            x += width
        p.setClipping(False)
        p.setPen(self.palette().mid().color())
        p.drawPath(clip)
        p.end()


class Legend(QLabel):
    def set_parts(self, parts: dict[str, int]) -> None:
        chips = []
        for key in BAR_ORDER:
            value = parts.get(key, 0)
            if not value and key not in ("reserve", "free"):
                continue
            chips.append(
                f"<span style='color:{CATEGORY_COLORS[key]}; font-size:14px'>■</span>&nbsp;"
                f"{CATEGORY_LABELS[key]}&nbsp;<b>{value:,}</b>"
            )
        self.setText("&nbsp;&nbsp; ".join(chips))


def _table(model) -> QTableView:  # noqa: ANN001
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


class MemoryPanel(QTabWidget):
    """Shows what the model sees and keeps, and lets the user curate it.

    Signals:
        operation(str, object): a curation request for the engine (pin, forget, ...).
    """

    operation = Signal(str, object)

    def __init__(self, fetch_memories, get_memory, parent: QWidget | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.setDocumentMode(True)
        self._fetch_memories = fetch_memories
        self._get_memory = get_memory
        self._window: dict[str, Any] = {}

        # Context window tab.
        ctx = QWidget()
        lay = QVBoxLayout(ctx)
        lay.setContentsMargins(10, 10, 10, 6)
        self.title = QLabel("Next turn")
        self.title.setObjectName("panelTitle")
        self.summary = QLabel("")
        self.summary.setObjectName("muted")
        self.bar = BudgetBar()
        self.legend = Legend()
        self.legend.setWordWrap(True)
        self.context_model = ContextItemsModel(self)
        self.context_view = _table(self.context_model)
        hh = self.context_view.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.reason = QLabel("")
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
        for w in (self.title, self.summary, self.bar, self.legend, self.context_view, self.reason):
            lay.addWidget(w)
        lay.addLayout(buttons)
        self.addTab(ctx, "Context window")

        # Retrieved tab.
        ret = QWidget()
        rl = QVBoxLayout(ret)
        rl.setContentsMargins(10, 10, 10, 6)
        self.retrieved_label = QLabel("Memories retrieved for this turn")
        self.retrieved_label.setObjectName("muted")
        self.retrieved_model = RetrievedModel(self)
        self.retrieved_view = _table(self.retrieved_model)
        rh = self.retrieved_view.horizontalHeader()
        rh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            rh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        rh.setSectionResizeMode(5, QHeaderView.ResizeMode.Interactive)
        rh.resizeSection(5, 190)
        rb = QHBoxLayout()
        self.r_pin = QPushButton("Pin")
        self.r_edit = QPushButton("Edit…")
        self.r_forget = QPushButton("Forget…")
        for b in (self.r_pin, self.r_edit, self.r_forget):
            rb.addWidget(b)
        rb.addStretch(1)
        rl.addWidget(self.retrieved_label)
        rl.addWidget(self.retrieved_view)
        rl.addLayout(rb)
        self.addTab(ret, "Retrieved")

        # All memories tab.
        allw = QWidget()
        al = QVBoxLayout(allw)
        al.setContentsMargins(10, 10, 10, 6)
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories…")
        self.search.setClearButtonEnabled(True)
        self.sort = QComboBox()
        self.sort.addItems(["newest", "oldest", "pinned", "text"])
        top.addWidget(self.search, 1)
        top.addWidget(QLabel("Sort"))
        top.addWidget(self.sort)
        self.memory_model = MemoryTableModel(self._fetch, self)
        self.memory_view = _table(self.memory_model)
        self.memory_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        mh = self.memory_view.horizontalHeader()
        for c in range(4):
            mh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        mh.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        ab = QHBoxLayout()
        self.m_add = QPushButton("Add memory…")
        self.m_pin = QPushButton("Pin")
        self.m_unpin = QPushButton("Unpin")
        self.m_exclude = QPushButton("Exclude")
        self.m_include = QPushButton("Include")
        self.m_edit = QPushButton("Edit…")
        self.m_forget = QPushButton("Forget…")
        for b in (self.m_add, self.m_pin, self.m_unpin, self.m_exclude, self.m_include, self.m_edit, self.m_forget):
            ab.addWidget(b)
        ab.addStretch(1)
        self.memory_count = QLabel("")
        self.memory_count.setObjectName("muted")
        al.addLayout(top)
        al.addWidget(self.memory_view)
        al.addLayout(ab)
        al.addWidget(self.memory_count)
        self.addTab(allw, "All memories")

        # Prompt tab.
        pw = QWidget()
        pl = QVBoxLayout(pw)
        pl.setContentsMargins(10, 10, 10, 6)
        self.prompt_label = QLabel("The exact text sent to the model")
        self.prompt_label.setObjectName("muted")
        self.prompt = QPlainTextEdit()
        self.prompt.setReadOnly(True)
        self.prompt.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        copy = QPushButton("Copy prompt")
        copy.clicked.connect(lambda: (self.prompt.selectAll(), self.prompt.copy()))
        pl.addWidget(self.prompt_label)
        pl.addWidget(self.prompt)
        pl.addWidget(copy, 0, Qt.AlignmentFlag.AlignLeft)
        self.addTab(pw, "Prompt")

        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search.textChanged.connect(self._search_timer.start)
        self.sort.currentTextChanged.connect(self._on_search_timer_timeout)
        self.context_view.selectionModel().selectionChanged.connect(self._on_context_view_selection)
        self.context_view.customContextMenuRequested.connect(self._on_context_view_menu)
        self.pin_button.clicked.connect(lambda: self._context_op("pin"))
        self.exclude_button.clicked.connect(lambda: self._context_op("exclude"))
        self.include_button.clicked.connect(lambda: self._context_op("include"))
        self.r_pin.clicked.connect(lambda: self._retrieved_op("pin"))
        self.r_edit.clicked.connect(lambda: self._retrieved_op("edit"))
        self.r_forget.clicked.connect(lambda: self._retrieved_op("forget"))
        self.m_add.clicked.connect(self._on_add_clicked)
        for name, button in (
            ("pin", self.m_pin),
            ("unpin", self.m_unpin),
            ("exclude", self.m_exclude),
            ("include", self.m_include),
            ("edit", self.m_edit),
            ("forget", self.m_forget),
        ):
            button.clicked.connect(lambda _=False, n=name: self._memories_op(n))

    # -- showing a window ---------------------------------------------------------

    def show_window(self, window: dict[str, Any], *, title: str) -> None:
        """Show a window dict: the next turn's (live) or a past turn's record."""
        self._window = window
        self.title.setText(title)
        if "error" in window:
            self.summary.setText(window["error"])
            return
        parts = categories(window)
        n_ctx = window.get("n_ctx", 0)
        left = sum(1 for it in window.get("items", []) if it["state"] != "included")
        self.summary.setText(
            f"{window.get('prompt_tokens', 0):,} of {n_ctx:,} tokens in the prompt · "
            f"{window.get('reserve', 0):,} kept for the reply · {left} item{'s' if left != 1 else ''} left out"
        )
        self.bar.set_parts(parts, n_ctx)
        self.legend.set_parts(parts)
        self.context_model.set_items(window.get("items", []))
        if self.context_model.cutoff_row >= 0:
            self.context_view.scrollTo(self.context_model.index(self.context_model.cutoff_row, 0))
        self.retrieved_model.set_items(window.get("items", []))
        n = self.retrieved_model.rowCount()
        self.retrieved_label.setText(
            f"{n} memor{'y' if n == 1 else 'ies'} retrieved for {title.lower()}: dense (meaning), keyword (BM25) "
            "and fused (reciprocal rank) scores"
        )
        self.prompt.setPlainText(window.get("prompt", ""))
        self.reason.setText("")

    # -- all memories -------------------------------------------------------------

    def _fetch(self, offset: int, limit: int) -> list[Memory]:
        return self._fetch_memories(self.search.text().strip() or None, self.sort.currentText(), offset, limit)

    def reload_memories(self, count: int | None = None) -> None:
        self.memory_model.reload()
        if count is not None:
            self.memory_count.setText(f"{count:,} memories in long-term memory")

    def _on_search_timer_timeout(self) -> None:
        self.memory_model.reload()

    def _selected_memory_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.memory_view.selectionModel().selectedRows()})
        return [self.memory_model.memory(r).id for r in rows]

    def _memories_op(self, name: str) -> None:
        ids = self._selected_memory_ids()
        if not ids:
            return
        if name == "edit":
            self._edit(self.memory_model.memory(self.memory_view.selectionModel().selectedRows()[0].row()))
        elif name == "forget":
            self._forget(ids)
        else:
            self.operation.emit(name, ids)

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

    # -- context and retrieved actions ------------------------------------------------

    def _current_context_item(self) -> dict[str, Any] | None:
        rows = self.context_view.selectionModel().selectedRows()
        return self.context_model.item(rows[0].row()) if rows else None

    def _on_context_view_selection(self, *_: object) -> None:
        item = self._current_context_item()
        source = (item or {}).get("source") or ""
        is_memory = source.startswith("memory:")
        is_message = source.startswith("message:")
        self.pin_button.setEnabled(is_memory)
        self.exclude_button.setEnabled((is_memory or is_message) and item["state"] != "excluded")
        self.include_button.setEnabled((is_memory or is_message) and item["state"] == "excluded")
        self.reason.setText(item.get("reason", "") if item else "")

    def _on_context_view_menu(self, pos) -> None:  # noqa: ANN001
        item = self._current_context_item()
        if not item or not item.get("source"):
            return
        menu = QMenu(self)
        for name, button in (("Pin", self.pin_button), ("Exclude", self.exclude_button), ("Include", self.include_button)):
            action = menu.addAction(name)
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
        menu.exec(self.context_view.viewport().mapToGlobal(pos))

    def _context_op(self, name: str) -> None:
        item = self._current_context_item()
        if not item or not item.get("source"):
            return
        kind, raw = item["source"].split(":")
        if kind == "memory":
            self.operation.emit(name, [int(raw)])
        elif name in ("exclude", "include"):
            self.operation.emit(f"{name}_message", int(raw))

    def _retrieved_op(self, name: str) -> None:
        rows = self.retrieved_view.selectionModel().selectedRows()
        if not rows:
            return
        mid = self.retrieved_model.memory_id(rows[0].row())
        if mid is None:
            return
        if name == "pin":
            self.operation.emit("pin", [mid])
        elif name == "forget":
            self._forget([mid])
        elif name == "edit":
            memory = self._get_memory(mid)
            if memory is not None:
                self._edit(memory)

