"""The chat: message cards with markdown, a streaming reply, per-message actions, and the composer."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.store import Message

BATCH = 40
SIDE_GAP = 56  # px kept free beside a bubble, so the two speakers read apart


def markdown_html(text: str) -> str:
    """Markdown as the rich text a QLabel shows (code blocks keep their layout)."""
    doc = QTextDocument()
    doc.setMarkdown(text)
    html = doc.toHtml()
    start, end = html.find("<body"), html.rfind("</body>")
    body = html[html.find(">", start) + 1 : end] if start >= 0 and end > start else html
    return body


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
        self.meta = QLabel("")
        self.meta.setObjectName("muted")
        head.addWidget(self.who)
        head.addWidget(self.meta)
        head.addStretch(1)
        lay.addLayout(head)
        self.body = QLabel()
        self.body.setObjectName("messageBody")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        lay.addWidget(self.body)
        self.actions = QHBoxLayout()
        self.actions.setSpacing(0)
        self.actions.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.actions)
        self._buttons: dict[str, QToolButton] = {}
        if message is not None:
            self._add_actions()
        self.refresh()

    def mousePressEvent(self, event) -> None:  # noqa: ANN001
        if self.message is not None:
            self.selected.emit(self.message.id)
        super().mousePressEvent(event)

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
                }[key]
            )
            b.clicked.connect(lambda _=False, k=key: self._on_button_clicked(k))
            self.actions.addWidget(b)
            self._buttons[key] = b
        self.actions.addStretch(1)

    def _on_button_clicked(self, key: str) -> None:
        if key == "copy":
            QGuiApplication.clipboard().setText(self._text)
        if self.message is not None:
            self.action.emit(key, self.message.id)

    def set_regenerate_visible(self, visible: bool) -> None:
        if "regenerate" in self._buttons:
            self._buttons["regenerate"].setVisible(visible)

    def append(self, text: str) -> None:
        self._text += text
        self.refresh()

    def text(self) -> str:
        return self._text

    def refresh(self) -> None:
        self.body.setText(markdown_html(self._text) if self._text else "<i>…</i>")
        m = self.message
        bits = []
        if m is not None:
            bits.append(_when(m.created))
            if m.role == "assistant" and m.decode_tps:
                bits.append(f"{m.completion_tokens} tokens · {m.decode_tps:.0f} tok/s")
            if m.status == "partial":
                bits.append("stopped early")
            if m.excluded:
                bits.append("excluded from context")
        self.meta.setText("  ·  ".join(bits))
        self.bubble.setProperty("excluded", bool(m and m.excluded))


class _Canvas(QWidget):
    """The widget the cards sit on; tells the scroll area when its layout changed."""

    def __init__(self, relayout, parent: QWidget | None = None) -> None:  # noqa: ANN001
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
        size = QSize(width, max(self.viewport().height(), w.heightForWidth(width)))
        if w.size() != size:
            w.resize(size)

    def resizeEvent(self, event) -> None:  # noqa: ANN001
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
    """

    send = Signal(str)
    stop = Signal()
    message_action = Signal(str, int)
    draft_changed = Signal(str)
    message_selected = Signal(int)

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
        self.scroll = ChatScrollArea()
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.inner = _Canvas(self.scroll.fit)
        self.inner.setObjectName("chatInner")
        self.cards = QVBoxLayout(self.inner)
        self.cards.setContentsMargins(18, 12, 18, 12)
        self.cards.setSpacing(10)
        self.older = QPushButton("Load older messages")
        self.older.setVisible(False)
        self.cards.addWidget(self.older, 0, Qt.AlignmentFlag.AlignHCenter)
        self.empty = QLabel(
            "<p style='font-size:17px; font-weight:600'>Start a conversation</p>"
            "<p>Everything stays on this computer. The panel on the right shows<br>"
            "exactly what the model will read, and what it remembers.</p>"
        )
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setContentsMargins(0, 150, 0, 0)
        self.cards.addWidget(self.empty)
        self.cards.addStretch(1)
        self.scroll.setWidget(self.inner)
        lay.addWidget(self.scroll, 1)
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
        self._loader = None
        self.composer.submitted.connect(self._on_composer_submitted)
        self.send_button.clicked.connect(self._on_composer_submitted)
        self.stop_button.clicked.connect(self.stop)
        self.composer.textChanged.connect(lambda: self.draft_changed.emit(self.composer.toPlainText()))
        self.older.clicked.connect(self._on_older_clicked)
        self.scroll.verticalScrollBar().valueChanged.connect(self._on_scroll_value_changed)
        self.scroll.verticalScrollBar().rangeChanged.connect(self._on_scroll_range_changed)

    # -- content -------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.banner.setText(f"⚠  {text}")
        self.banner.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)

    def set_messages(self, messages: list[Message], *, has_older: bool, loader=None) -> None:  # noqa: ANN001
        """Show the newest batch of a conversation; ``loader(before_id)`` fetches older ones."""
        self._clear()
        self._stick_to_bottom = True
        self._messages = list(messages)
        self._loader = loader
        for m in messages:
            self._insert_card(m, at_end=True)
        self.older.setVisible(has_older)
        self.empty.setVisible(not messages)
        self._mark_last_assistant()
        QTimer.singleShot(0, self._scroll_to_bottom)

    def _clear(self) -> None:
        self._streaming = None
        for n in reversed(range(self.cards.count())):
            w = self.cards.itemAt(n).widget()
            if isinstance(w, MessageCard):
                self.cards.takeAt(n)
                w.deleteLater()

    def _insert_card(self, message: Message, *, at_end: bool) -> MessageCard:
        card = MessageCard(message, role=message.role)
        card.action.connect(self.message_action)
        card.selected.connect(self._on_card_selected)
        position = self.cards.count() - 1 if at_end else 2
        self.cards.insertWidget(position, card)
        return card

    def _on_card_selected(self, message_id: int) -> None:
        for card in self.message_cards():
            card.set_selected(card.message is not None and card.message.id == message_id)
        self.message_selected.emit(message_id)

    def clear_selection(self) -> None:
        for card in self.message_cards():
            card.set_selected(False)

    def _on_scroll_range_changed(self, _low: int, high: int) -> None:
        # Word-wrapped cards settle their height after layout: keep the newest message in view.
        if self._stick_to_bottom:
            self.scroll.verticalScrollBar().setValue(high)

    def _on_scroll_value_changed(self, value: int) -> None:
        bar = self.scroll.verticalScrollBar()
        self._stick_to_bottom = value >= bar.maximum() - 40
        # Reaching the top loads the previous batch, as a long chat scrolls back.
        if value == 0 and self.older.isVisible() and self.scroll.verticalScrollBar().maximum() > 0:
            QTimer.singleShot(0, self._on_older_clicked)

    def _on_older_clicked(self) -> None:
        if not self._messages or self._loader is None:
            return
        older, more = self._loader(self._messages[0].id)
        bar = self.scroll.verticalScrollBar()
        before = bar.maximum() - bar.value()
        for m in reversed(older):
            self._insert_card(m, at_end=False)
        self._messages = older + self._messages
        self.older.setVisible(more)
        QTimer.singleShot(0, lambda: bar.setValue(bar.maximum() - before))

    def begin_reply(self, user_text: str) -> None:
        self.empty.setVisible(False)
        user = MessageCard(None, role="user")
        user.append(user_text)
        self.cards.insertWidget(self.cards.count() - 1, user)
        self._streaming = MessageCard(None, role="assistant")
        self.cards.insertWidget(self.cards.count() - 1, self._streaming)
        self._scroll_to_bottom()

    def start_streaming(self) -> None:
        """An empty assistant card at the end that the reply streams into."""
        self.empty.setVisible(False)
        for card in self.message_cards():
            card.set_regenerate_visible(False)
        self._streaming = MessageCard(None, role="assistant")
        self.cards.insertWidget(self.cards.count() - 1, self._streaming)
        QTimer.singleShot(0, self._scroll_to_bottom)

    def append_tokens(self, text: str) -> None:
        if self._streaming is None:
            self._streaming = MessageCard(None, role="assistant")
            self.cards.insertWidget(self.cards.count() - 1, self._streaming)
        self._streaming.append(text)  # the range change scrolls along while the user is at the bottom

    def streaming_text(self) -> str:
        return self._streaming.text() if self._streaming else ""

    def _mark_last_assistant(self) -> None:
        cards = [self.cards.itemAt(n).widget() for n in range(self.cards.count())]
        cards = [c for c in cards if isinstance(c, MessageCard)]
        for c in cards:
            c.set_regenerate_visible(False)
        if cards and cards[-1].role == "assistant":
            cards[-1].set_regenerate_visible(True)

    def _scroll_to_bottom(self) -> None:
        self._stick_to_bottom = True
        bar = self.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())

    def message_cards(self) -> list[MessageCard]:
        found = [self.cards.itemAt(n).widget() for n in range(self.cards.count())]
        return [c for c in found if isinstance(c, MessageCard)]

    def _on_composer_submitted(self) -> None:
        text = self.composer.toPlainText()
        if text.strip():
            self.send.emit(text)
