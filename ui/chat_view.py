"""The chat: message cards with markdown, a streaming reply, per-message actions, and the composer."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QResizeEvent, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.store import AnswerChoice, Message
from ui.flow import FlowLayout

BATCH = 40
RENDER_INTERVAL_MS = 60  # streamed markdown is re-drawn at most this often (17 ms per parse at 32k chars)
SIDE_GAP = 56  # px kept free beside a bubble, so the two speakers read apart
SIDE_MARGIN = 18  # px between the chat's edges and the messages
MAX_COLUMN = 920  # px: the messages' column on a wide window


FENCE = re.compile(r"^```[^\n]*\n(.*?)(?:^```[ \t]*$|\Z)", re.S | re.M)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a markdown text (an unclosed one, still streaming, counts)."""
    return [m.group(1).rstrip("\n") for m in FENCE.finditer(text)]


def _prose_html(text: str) -> str:
    doc = QTextDocument()
    doc.setMarkdown(text)
    html = doc.toHtml()
    start, end = html.find("<body"), html.rfind("</body>")
    return html[html.find(">", start) + 1 : end] if start >= 0 and end > start else html


def markdown_html(text: str, *, code_bg: str = "rgba(127,127,127,0.12)") -> str:
    """Markdown as the rich text a QLabel shows.

    Code blocks are drawn here rather than by Qt's markdown reader, which makes every code line
    a ``<pre>`` that never wraps: they wrap at the column's width, keep their indentation, and
    each gets a "Copy code" link (``copy:N``).
    """
    parts: list[str] = []
    pos = 0
    for n, m in enumerate(FENCE.finditer(text)):
        if text[pos : m.start()].strip():
            parts.append(_prose_html(text[pos : m.start()]))
        code = html.escape(m.group(1).rstrip("\n"))
        parts.append(
            f"<table width='100%' cellpadding='8' cellspacing='0' style='margin:4px 0'>"
            f"<tr><td style='background:{code_bg}'>"
            f"<pre style='white-space:pre-wrap; font-family:monospace; margin:0'>{code}</pre>"
            f"<div align='right'><a href='copy:{n}'>Copy code</a></div></td></tr></table>"
        )
        pos = m.end()
    if text[pos:].strip() or not parts:
        parts.append(_prose_html(text[pos:]))
    return "".join(parts)


def hard_breaks(text: str) -> str:
    """The user's own text as markdown that keeps each line break they typed (in markdown a single
    line break is a space), outside code blocks, which keep theirs anyway."""
    out: list[str] = []
    pos = 0
    for m in FENCE.finditer(text):
        out.append(_break_lines(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_break_lines(text[pos:]))
    return "".join(out)


def _break_lines(prose: str) -> str:
    # Two trailing spaces are markdown's hard line break (and vanish where a paragraph or a list
    # ends anyway); blank lines stay paragraph breaks.
    return re.sub(r"(?<=[^\n])[ \t]*\n(?=[^\n])", "  \n", prose)


def reading_text(done: int, total: int) -> str:
    return f"Reading the prompt: {done:,} of {total:,} tokens…"


def _wrapping(vertical: QSizePolicy.Policy) -> QSizePolicy:
    """A word-wrapped label's policy: never asks for more width than it gets, and is as tall as its
    text needs at that width (a plain setSizePolicy would drop QLabel's height-for-width flag)."""
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, vertical)
    policy.setHeightForWidth(True)
    return policy


def _wrapped_label(name: str) -> QLabel:
    """An empty label of style ``name`` whose text wraps to the width it is given (see _wrapping)."""
    label = QLabel("")
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setSizePolicy(_wrapping(QSizePolicy.Policy.Preferred))
    return label


def _when(created: str) -> str:
    try:
        stamp = dt.datetime.fromisoformat(created).astimezone()
    except ValueError:
        return created
    today = dt.datetime.now().astimezone().date()
    return stamp.strftime("%H:%M" if stamp.date() == today else "%d %b %Y, %H:%M")


class MessageCard(QWidget):
    """One message as a bubble: role, time, markdown text and its actions.

    The user's bubbles sit to the right, the assistant's to the left.

    Signals:
        action(str, int): "copy", "remember", "exclude", "include", "edit", "regenerate" and the message id.
        selected(int): the card was clicked (the panel shows the turn it belongs to).
    """

    action = Signal(str, int)
    selected = Signal(int)

    def __init__(self, message: Message | None, *, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.role = role
        self._text = message.content if message else ""
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.bubble = QFrame()
        self.bubble.setObjectName("userCard" if role == "user" else "assistantCard")
        if role == "user":
            outer.addSpacing(SIDE_GAP)
        outer.addWidget(self.bubble, 1)
        if role != "user":
            outer.addSpacing(SIDE_GAP)
        lay = QVBoxLayout(self.bubble)
        lay.setContentsMargins(14, 10, 14, 6)
        lay.setSpacing(4)
        head = QHBoxLayout()
        self.who = QLabel("You" if role == "user" else "Glassmind")
        self.who.setObjectName("role")
        self.meta = _wrapped_label("muted")  # "· excluded from context · stopped early" wraps in a narrow column
        head.addWidget(self.who, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.meta, 1)
        lay.addLayout(head)
        self.body = QLabel()
        self.body.setObjectName("messageBody")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        # Links ("Copy code" under each code block) work by mouse and by keyboard (Tab, Enter).
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        # Ignored: the label never asks for more width than the column has (a long line or a
        # 40,000-character paste wraps instead of pushing the chat wider).
        self.body.setSizePolicy(_wrapping(QSizePolicy.Policy.Minimum))
        self.body.setOpenExternalLinks(False)
        self.body.linkActivated.connect(self._on_body_link_activated)
        lay.addWidget(self.body)
        self.cut_note = QLabel("The reply reached its length limit and stops here.")
        self.cut_note.setObjectName("cutNote")
        self.cut_note.setWordWrap(True)
        self.cut_note.setVisible(False)
        lay.addWidget(self.cut_note)
        # A long prompt being read before the reply's first token: its progress, and Stop.
        self.reading = QWidget()
        self.reading.setObjectName("readingRow")
        row = QVBoxLayout(self.reading)
        row.setContentsMargins(0, 2, 0, 2)
        row.setSpacing(4)
        self.reading_label = _wrapped_label("muted")
        bar_row = QHBoxLayout()
        self.reading_bar = QProgressBar()
        self.reading_bar.setTextVisible(False)
        self.reading_bar.setMaximumHeight(10)
        self.reading_stop = QPushButton("Stop")
        self.reading_stop.setToolTip("Stop reading the prompt; your message is kept")
        bar_row.addWidget(self.reading_bar, 1)
        bar_row.addWidget(self.reading_stop)
        row.addWidget(self.reading_label)
        row.addLayout(bar_row)
        self.reading.setVisible(False)
        lay.addWidget(self.reading)
        self.action_row = FlowLayout()  # the actions wrap in a narrow column instead of being cut
        self.action_row.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.action_row)
        self._buttons: dict[str, QToolButton] = {}
        # ‹ n/m › for a reply with other answers (made on first use)
        self.alt_previous: QToolButton | None = None
        self.alt_label: QLabel | None = None
        self.alt_next: QToolButton | None = None
        self._answer_ids: tuple[int | None, int | None] = (None, None)
        self._render_timer = QTimer(self, singleShot=True, interval=RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self.refresh)
        # A click anywhere on the bubble selects it: the labels inside take mouse presses for
        # text selection, so they report them here.
        for w in (self.bubble, self.who, self.meta, self.body, self.cut_note):
            w.installEventFilter(self)
        if message is not None:
            self._add_actions()
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and self.message is not None:
            self.selected.emit(self.message.id)
        return False

    def _on_body_link_activated(self, link: str) -> None:
        if link.startswith("copy:"):
            blocks = code_blocks(self._text)
            n = int(link.split(":", 1)[1])
            if 0 <= n < len(blocks):
                QGuiApplication.clipboard().setText(blocks[n])
                self.action.emit("copied_code", self.message.id if self.message else -1)

    def set_selected(self, selected: bool) -> None:
        """Mark the card whose turn the panel shows."""
        self.bubble.setProperty("selected", selected)
        self.bubble.style().unpolish(self.bubble)
        self.bubble.style().polish(self.bubble)

    def _add_actions(self) -> None:
        assert self.message is not None
        names = [("copy", "Copy"), ("remember", "Remember")]
        names.append(("include", "Include") if self.message.excluded else ("exclude", "Exclude"))
        if self.role == "user":
            names.append(("edit", "Edit && resend"))
        else:
            names.append(("regenerate", "Regenerate"))
            if self.message.status == "length":
                names.append(("continue", "Continue"))
        for key, label in names:
            b = QToolButton()
            b.setText(label)
            b.setAutoRaise(True)
            b.setObjectName("cardAction")
            b.setToolTip(
                {
                    "copy": "Copy the text",
                    "remember": "Save this message as a memory (a note)",
                    "exclude": "Keep it stored, but leave it out of the context window",
                    "include": "Put it back into the context window",
                    "edit": "Change this message and answer it again",
                    "regenerate": "Answer the last message again",
                    "continue": "Let the model go on writing this reply",
                }[key]
            )
            b.clicked.connect(lambda _=False, k=key: self._on_button_clicked(k))
            self.action_row.addWidget(b)
            self._buttons[key] = b

    def _on_button_clicked(self, key: str) -> None:
        if key == "copy":
            QGuiApplication.clipboard().setText(self._text)
        if self.message is not None:
            self.action.emit(key, self.message.id)

    def set_answers(self, choice: AnswerChoice | None) -> None:
        """‹ 2/3 ›: this reply is one of ``choice.total`` answers to its question; the arrows emit
        action("alternative", id) with the id of the answer to show instead. None: no others (any
        more), no arrows."""
        if choice is None:
            for w in (self.alt_previous, self.alt_label, self.alt_next):
                if w is not None:
                    self.action_row.removeWidget(w)
                    w.deleteLater()
            self.alt_previous = self.alt_label = self.alt_next = None
            self._answer_ids = (None, None)
            return
        if self.alt_label is None:
            self.alt_previous, self.alt_label, self.alt_next = QToolButton(), QLabel(), QToolButton()
            arrows = ((self.alt_previous, "‹", "The previous answer"), (self.alt_next, "›", "The next answer"))
            for b, text, tip in arrows:
                b.setText(text)
                b.setAutoRaise(True)
                b.setObjectName("cardAction")
                b.setToolTip(tip)
                b.setAccessibleName(tip)
            self.alt_label.setObjectName("muted")
            self.alt_previous.clicked.connect(lambda: self._on_answer_clicked(self._answer_ids[0]))
            self.alt_next.clicked.connect(lambda: self._on_answer_clicked(self._answer_ids[1]))
            for w in (self.alt_previous, self.alt_label, self.alt_next):
                self.action_row.addWidget(w)
        self._answer_ids = (choice.previous_id, choice.next_id)
        self.alt_label.setText(f"{choice.position}/{choice.total}")
        self.alt_label.setToolTip(f"Answer {choice.position} of {choice.total}: Regenerate keeps the earlier ones")
        assert self.alt_previous is not None and self.alt_next is not None
        self.alt_previous.setEnabled(choice.previous_id is not None)
        self.alt_next.setEnabled(choice.next_id is not None)

    def _on_answer_clicked(self, message_id: int | None) -> None:
        if message_id is not None:
            self.action.emit("alternative", message_id)

    def set_regenerate_visible(self, visible: bool) -> None:
        for key in ("regenerate", "continue"):
            if key in self._buttons:
                self._buttons[key].setVisible(visible)
        for w in (self.alt_previous, self.alt_label, self.alt_next):
            if w is not None:
                w.setVisible(visible)

    def set_reading(self, done: int, total: int) -> None:
        """The prompt is being read: ``done`` of ``total`` tokens; total 0 hides the progress."""
        if total <= 0 or done >= total:
            self.reading.setVisible(False)
            return
        self.reading_label.setText(reading_text(done, total))
        self.reading_bar.setRange(0, total)
        self.reading_bar.setValue(done)
        self.reading.setVisible(True)

    def append(self, text: str) -> None:
        """Streamed text: the markdown is drawn again at most every RENDER_INTERVAL_MS, not per token."""
        self._text += text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def flush(self) -> None:
        """Draw pending streamed text now."""
        if self._render_timer.isActive():
            self._render_timer.stop()
            self.refresh()

    def text(self) -> str:
        return self._text

    def refresh(self) -> None:
        if not self._text:
            self.body.setText("<i>…</i>")
        else:
            self.body.setText(markdown_html(hard_breaks(self._text) if self.role == "user" else self._text))
        m = self.message
        bits = []
        if m is not None:
            bits.append(_when(m.created))
            if m.role == "assistant" and m.decode_tps:
                bits.append(f"{m.completion_tokens} tokens · {m.decode_tps:.0f} tok/s")
            if m.status == "partial":
                bits.append("stopped early")
            if m.status == "length":
                bits.append("cut off at the length limit")
            if m.excluded:
                bits.append("excluded from context")
        self.meta.setText("  ·  ".join(bits))
        self.bubble.setProperty("excluded", bool(m and m.excluded))
        self.cut_note.setVisible(bool(m and m.status == "length"))


class _Canvas(QWidget):
    """The widget the cards sit on; tells the scroll area when its layout changed."""

    def __init__(self, relayout: Callable[[], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._relayout = relayout

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._relayout()
        return handled


class ChatScrollArea(QScrollArea):
    """Sizes its widget by height-for-width at the viewport's width.

    QScrollArea's own resizing asks word-wrapped labels for their height at
    their preferred width, which leaves blank space or cuts the last card.
    """

    def fit(self) -> None:
        w = self.widget()
        if w is None:
            return
        width = self.viewport().width()
        layout = w.layout()
        if layout is not None:
            # Lines stay readable on a wide screen: the messages keep to a centred column.
            side = max(SIDE_MARGIN, (width - MAX_COLUMN) // 2)
            margins = layout.contentsMargins()
            if margins.left() != side:
                layout.setContentsMargins(side, margins.top(), side, margins.bottom())
        size = QSize(width, max(self.viewport().height(), w.heightForWidth(width)))
        if w.size() != size:
            w.resize(size)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()


class Composer(QPlainTextEdit):
    """The message box: Enter sends, Shift+Enter adds a line.

    Signals:
        submitted(): Enter was pressed.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Message Glassmind…  (Enter sends, Shift+Enter adds a line)")
        self.setObjectName("composer")
        self.setTabChangesFocus(True)
        self.setFixedHeight(76)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class ChatView(QWidget):
    """Messages of one conversation (older ones load in batches) and the composer.

    Signals:
        send(str): the user sent a message.
        stop(): the user asked to stop the reply.
        message_action(str, int): an action on a message card.
        draft_changed(str): the composer's text changed (the panel previews the next window).
        message_selected(int): a message was clicked (the panel shows its turn).
        older_requested(int): the user scrolled to the top: the messages before this id are wanted
            (``add_older`` shows them).
    """

    send = Signal(str)
    stop = Signal()
    message_action = Signal(str, int)
    draft_changed = Signal(str)
    message_selected = Signal(int)
    older_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.banner)
        self.scroll_area = ChatScrollArea()
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.inner = _Canvas(self.scroll_area.fit)
        self.inner.setObjectName("chatInner")
        self.cards = QVBoxLayout(self.inner)
        self.cards.setContentsMargins(18, 12, 18, 12)
        self.cards.setSpacing(10)
        self.older = QPushButton("Load older messages")
        self.older.setVisible(False)
        self.cards.addWidget(self.older, 0, Qt.AlignmentFlag.AlignHCenter)
        self.empty = QLabel(
            "<p style='font-size:17px; font-weight:600'>Start a conversation</p>"
            "<p>Everything stays on this computer. The panel on the right shows "
            "exactly what the model will read, and what it remembers.</p>"
        )
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setWordWrap(True)  # the chat's narrowest column cuts no line
        self.empty.setSizePolicy(_wrapping(QSizePolicy.Policy.Preferred))
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setContentsMargins(0, 150, 0, 0)
        self.cards.addWidget(self.empty)
        self.cards.addStretch(1)
        self.scroll_area.setWidget(self.inner)
        lay.addWidget(self.scroll_area, 1)
        # Notices and the warm-up's progress: a line that wraps, where the eye is (above the box).
        self.notice_box = QFrame()
        self.notice_box.setObjectName("noticeBox")
        notice_lay = QVBoxLayout(self.notice_box)
        notice_lay.setContentsMargins(18, 6, 18, 0)
        notice_lay.setSpacing(4)
        self.notice = _wrapped_label("notice")
        self.warm_up = _wrapped_label("muted")
        self.warm_up_bar = QProgressBar()
        self.warm_up_bar.setTextVisible(False)
        self.warm_up_bar.setMaximumHeight(6)
        for w in (self.notice, self.warm_up, self.warm_up_bar):
            notice_lay.addWidget(w)
            w.setVisible(False)
        self.notice_box.setVisible(False)
        self._notice_timer = QTimer(self, singleShot=True)
        self._notice_timer.timeout.connect(lambda: self.show_notice(""))
        lay.addWidget(self.notice_box)
        box = QFrame()
        box.setObjectName("composerBox")
        bottom = QHBoxLayout(box)
        bottom.setContentsMargins(18, 10, 18, 12)
        bottom.setSpacing(10)
        self.composer = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setToolTip("Send (Enter); Shift+Enter adds a line")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply; what was written so far is kept")
        self.stop_button.setVisible(False)
        for b in (self.send_button, self.stop_button):
            b.setMinimumWidth(76)
        bottom.addWidget(self.composer, 1)
        col = QVBoxLayout()
        col.addStretch(1)
        col.addWidget(self.send_button)
        col.addWidget(self.stop_button)
        bottom.addLayout(col)
        lay.addWidget(box)

        self._messages: list[Message] = []
        self._stick_to_bottom = True  # follow new content until the user scrolls up
        self._streaming: MessageCard | None = None
        self._asked_older = False  # a batch of older messages is on its way
        self.composer.submitted.connect(self._on_composer_submitted)
        self.send_button.clicked.connect(self._on_composer_submitted)
        self.stop_button.clicked.connect(self.stop)
        self.composer.textChanged.connect(lambda: self.draft_changed.emit(self.composer.toPlainText()))
        self.older.clicked.connect(self._on_older_clicked)
        self.scroll_area.verticalScrollBar().valueChanged.connect(self._on_scroll_value_changed)
        self.scroll_area.verticalScrollBar().rangeChanged.connect(self._on_scroll_range_changed)

    # -- content -------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.setText(f"⚠  {text}")
        self.banner.setVisible(bool(text))

    def show_notice(self, text: str, timeout_ms: int = 0) -> None:
        """A line above the message box (what happened, what to do), for ``timeout_ms`` (0: until
        replaced); an empty text takes it away."""
        self._notice_timer.stop()
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        if text and timeout_ms:
            self._notice_timer.start(timeout_ms)
        self._update_notice_box()

    def notice_text(self) -> str:
        return self.notice.text() if self.notice.isVisible() else ""

    def show_warm_up(self, done: int, total: int) -> None:
        """The open conversation being read ahead: ``done`` of ``total`` tokens; total 0 hides it."""
        on = total > 0 and done < total
        if on:
            self.warm_up.setText(
                f"Reading this conversation… {done:,} of {total:,} tokens, so your next reply starts "
                "sooner. Typing or sending pauses it."
            )
            self.warm_up_bar.setRange(0, total)
            self.warm_up_bar.setValue(done)
        self.warm_up.setVisible(on)
        self.warm_up_bar.setVisible(on)
        self._update_notice_box()

    def _update_notice_box(self) -> None:
        self.notice_box.setVisible(self.notice.isVisibleTo(self.notice_box)
                                   or self.warm_up.isVisibleTo(self.notice_box))

    def show_reading(self, done: int, total: int) -> None:
        """The reply's prompt being read: progress, with Stop, in the reply being written."""
        if self._streaming is None:
            if total <= 0 or done >= total:
                return
            self._streaming = self._new_streaming_card()
        self._streaming.set_reading(done, total)

    def _new_streaming_card(self) -> MessageCard:
        card = MessageCard(None, role="assistant")
        card.reading_stop.clicked.connect(self.stop)
        self.cards.insertWidget(self.cards.count() - 1, card)
        return card

    def set_busy(self, busy: bool) -> None:
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)

    def set_messages(self, messages: Sequence[Message], *, has_older: bool) -> None:
        """Show the newest batch of a conversation; ``older_requested`` asks for the ones before it."""
        cards = self.message_cards()
        if (self._streaming is None and list(messages) == self._messages and len(cards) == len(messages)
                and all(c.message is not None for c in cards)):
            # The same messages read again (a reply's end and its change notice both reload): keep
            # the cards, the selection and the scroll position as they are.
            self.older.setVisible(has_older)
            return
        self._clear()
        self._stick_to_bottom = True
        self._messages = list(messages)
        self._asked_older = False
        for m in messages:
            self._insert_card(m, at_end=True)
        self.older.setVisible(has_older)
        self.empty.setVisible(not messages)
        self._mark_last_assistant()
        QTimer.singleShot(0, self, self._scroll_to_bottom)

    def _clear(self) -> None:
        self._streaming = None
        for n in reversed(range(self.cards.count())):
            item = self.cards.itemAt(n)
            w = item.widget() if item is not None else None
            if isinstance(w, MessageCard):
                # Out of the layout and the widget tree first: a layout pass before the deferred
                # delete must never meet a card that is half gone.
                self.cards.takeAt(n)
                w.hide()
                w.setParent(None)
                w.deleteLater()

    def _insert_card(self, message: Message, *, at_end: bool) -> MessageCard:
        card = MessageCard(message, role=message.role)
        card.action.connect(self.message_action)
        card.selected.connect(self._on_card_selected)
        position = self.cards.count() - 1 if at_end else 2
        self.cards.insertWidget(position, card)
        return card

    def _mark(self, message_id: int | None) -> MessageCard | None:
        """Outline the card of ``message_id`` (None: none); returns it if it is loaded."""
        marked = None
        for card in self.message_cards():
            on = message_id is not None and card.message is not None and card.message.id == message_id
            card.set_selected(on)
            marked = card if on else marked
        return marked

    def _on_card_selected(self, message_id: int) -> None:
        self._mark(message_id)
        self.message_selected.emit(message_id)

    def show_message(self, message_id: int) -> bool:
        """Scroll to a loaded message and mark it; False when it is not among the loaded ones."""
        card = self._mark(message_id)
        if card is None:
            return False
        self._stick_to_bottom = False
        QTimer.singleShot(0, card, lambda: self.scroll_area.ensureWidgetVisible(card))
        return True

    def clear_selection(self) -> None:
        self._mark(None)

    def _on_scroll_range_changed(self, _low: int, high: int) -> None:
        # Word-wrapped cards settle their height after layout: keep the newest message in view.
        if self._stick_to_bottom:
            self.scroll_area.verticalScrollBar().setValue(high)

    def _on_scroll_value_changed(self, value: int) -> None:
        bar = self.scroll_area.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 40
        # Reaching the top loads the previous batch, as a long chat scrolls back.
        if value == 0 and self.older.isVisible() and self.scroll_area.verticalScrollBar().maximum() > 0:
            QTimer.singleShot(0, self, self._on_older_clicked)

    def _on_older_clicked(self) -> None:
        if not self._messages or self._asked_older:
            return
        self._asked_older = True
        self.older_requested.emit(self._messages[0].id)

    def add_older(self, before_id: int, older: Sequence[Message], more: bool) -> None:
        """The messages before ``before_id`` arrived: put them on top, keeping the view where it was."""
        if not self._messages or self._messages[0].id != before_id:
            return  # another conversation (or a reload) since it was asked for
        self._asked_older = False
        older = list(older)
        bar = self.scroll_area.verticalScrollBar()
        before = bar.maximum() - bar.value()
        for m in reversed(older):
            self._insert_card(m, at_end=False)
        self._messages = older + self._messages
        self.older.setVisible(more)
        QTimer.singleShot(0, bar, lambda: bar.setValue(bar.maximum() - before))

    def begin_reply(self, user_text: str) -> None:
        self.empty.setVisible(False)
        user = MessageCard(None, role="user")
        user.append(user_text)
        self.cards.insertWidget(self.cards.count() - 1, user)
        self._streaming = self._new_streaming_card()
        self._scroll_to_bottom()

    def start_streaming(self, *, into_last: bool = False) -> None:
        """An empty assistant card at the end that the reply streams into (``into_last``: the last
        reply, which Continue extends)."""
        self.empty.setVisible(False)
        cards = self.message_cards()
        for card in cards:
            card.set_regenerate_visible(False)
        if into_last and cards and cards[-1].role == "assistant":
            self._streaming = cards[-1]
        else:
            self._streaming = self._new_streaming_card()
        QTimer.singleShot(0, self, self._scroll_to_bottom)

    def append_tokens(self, text: str) -> None:
        if self._streaming is None:
            self._streaming = self._new_streaming_card()
        self._streaming.set_reading(0, 0)  # the prompt is read: the reply has begun
        self._streaming.append(text)  # the range change scrolls along while the user is at the bottom

    def finish_streaming(self) -> None:
        if self._streaming is not None:
            self._streaming.set_reading(0, 0)
            self._streaming.flush()

    def streaming_text(self) -> str:
        return self._streaming.text() if self._streaming else ""

    def _mark_last_assistant(self) -> None:
        cards = self.message_cards()
        for c in cards:
            c.set_regenerate_visible(False)
        if cards and cards[-1].role == "assistant":
            cards[-1].set_regenerate_visible(True)

    def _scroll_to_bottom(self) -> None:
        self._stick_to_bottom = True
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())

    def message_cards(self) -> list[MessageCard]:
        items = (self.cards.itemAt(n) for n in range(self.cards.count()))
        return [c for c in (i.widget() for i in items if i is not None) if isinstance(c, MessageCard)]

    def _on_composer_submitted(self) -> None:
        text = self.composer.toPlainText()
        if text.strip():
            self.send.emit(text)
