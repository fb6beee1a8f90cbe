"""The chat: message cards with markdown, a streaming reply, per-message actions, and the composer."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt, QTimer, Signal
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


class MessageCard(QFrame):
    """One message: role, time, markdown text and its actions.

    Signals:
        action(str, int): "copy", "remember", "exclude", "include", "edit", "regenerate" and the message id.
    """

    action = Signal(str, int)

    def __init__(self, message: Message | None, *, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.role = role
        self._text = message.content if message else ""
        self.setObjectName("userCard" if role == "user" else "assistantCard")
        self.setFrameShape(QFrame.Shape.NoFrame)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 8)
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
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        lay.addWidget(self.body)
        self.actions = QHBoxLayout()
        self.actions.setSpacing(2)
        lay.addLayout(self.actions)
        self._buttons: dict[str, QToolButton] = {}
        if message is not None:
            self._add_actions()
        self.refresh()

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
        self.setProperty("excluded", bool(m and m.excluded))


class Composer(QPlainTextEdit):
    """The message box: Enter sends, Shift+Enter adds a line.

    Signals:
        submitted(): Enter was pressed.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Message Glassmind…  (Enter sends, Shift+Enter adds a line)")
        self.setTabChangesFocus(True)
        self.setFixedHeight(84)

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
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.inner = QWidget()
        self.inner.setObjectName("chatInner")
        self.cards = QVBoxLayout(self.inner)
        self.cards.setContentsMargins(18, 12, 18, 12)
        self.cards.setSpacing(10)
        self.older = QPushButton("Load older messages")
        self.older.setVisible(False)
        self.cards.addWidget(self.older, 0, Qt.AlignmentFlag.AlignHCenter)
        self.empty = QLabel("Start a conversation. What you write is stored on this computer only;\n"
                            "the panel on the right shows exactly what the model will read.")
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cards.addWidget(self.empty)
        self.cards.addStretch(1)
        self.scroll.setWidget(self.inner)
        lay.addWidget(self.scroll, 1)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(18, 8, 18, 12)
        self.composer = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setVisible(False)
        bottom.addWidget(self.composer, 1)
        col = QVBoxLayout()
        col.addWidget(self.send_button)
        col.addWidget(self.stop_button)
        col.addStretch(1)
        bottom.addLayout(col)
        lay.addLayout(bottom)

        self._messages: list[Message] = []
        self._streaming: MessageCard | None = None
        self._loader = None
        self.composer.submitted.connect(self._on_composer_submitted)
        self.send_button.clicked.connect(self._on_composer_submitted)
        self.stop_button.clicked.connect(self.stop)
        self.composer.textChanged.connect(lambda: self.draft_changed.emit(self.composer.toPlainText()))
        self.older.clicked.connect(self._on_older_clicked)
        self.scroll.verticalScrollBar().valueChanged.connect(self._on_scroll_value_changed)

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
        card.mousePressEvent = lambda _e, mid=message.id: self.message_selected.emit(mid)  # type: ignore[method-assign]
        position = self.cards.count() - 1 if at_end else 2
        self.cards.insertWidget(position, card)
        return card

    def _on_scroll_value_changed(self, value: int) -> None:
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

    def append_tokens(self, text: str) -> None:
        if self._streaming is None:
            self._streaming = MessageCard(None, role="assistant")
            self.cards.insertWidget(self.cards.count() - 1, self._streaming)
        bar = self.scroll.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 40
        self._streaming.append(text)
        if at_bottom:
            QTimer.singleShot(0, self._scroll_to_bottom)

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
        bar = self.scroll.verticalScrollBar()
        bar.setValue(bar.maximum())

    def message_cards(self) -> list[MessageCard]:
        found = [self.cards.itemAt(n).widget() for n in range(self.cards.count())]
        return [c for c in found if isinstance(c, MessageCard)]

    def _on_composer_submitted(self) -> None:
        text = self.composer.toPlainText()
        if text.strip():
            self.send.emit(text)
