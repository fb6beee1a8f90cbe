"""A message as the chat shows it: a bubble with markdown, its figures, actions and the answers
Regenerate kept (‹ 2/3 ›); the markdown helpers it draws with."""

from __future__ import annotations

import datetime as dt
import html
import re

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.store import AnswerChoice, Message
from ui.flow import FlowLayout

RENDER_INTERVAL_MS = 60  # streamed markdown is re-drawn at most this often (17 ms per parse at 32k chars)
SIDE_GAP = 56  # px kept free beside a bubble, so the two speakers read apart


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


def wrapping(vertical: QSizePolicy.Policy) -> QSizePolicy:
    """A word-wrapped label's policy: never asks for more width than it gets, and is as tall as its
    text needs at that width (a plain setSizePolicy would drop QLabel's height-for-width flag)."""
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, vertical)
    policy.setHeightForWidth(True)
    return policy


def wrapped_label(name: str) -> QLabel:
    """An empty label of style ``name`` whose text wraps to the width it is given (see _wrapping)."""
    label = QLabel("")
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setSizePolicy(wrapping(QSizePolicy.Policy.Preferred))
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
        self.meta = wrapped_label("muted")  # "· excluded from context · stopped early" wraps in a narrow column
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
        self.body.setSizePolicy(wrapping(QSizePolicy.Policy.Minimum))
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
        self.reading_label = wrapped_label("muted")
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

    def action_button(self, key: str) -> QToolButton | None:
        """The card's button for ``key`` ("copy", "edit", "include", ...) when it shows one (read-only)."""
        button = self._buttons.get(key)
        return button if button is not None and not button.isHidden() else None

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
