"""The reader thread: the window's reads (assistant/reading.py) on a database connection of their own.

The GUI thread never opens or queries the database. It asks ``Reads`` for
something with a callback; the query runs on the reader thread, and the
answer (a frozen value) comes back by a queued signal, the callback running
on the GUI thread. Reads never wait behind the engine thread, where a reply
can stream for minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from assistant.impact import Impact
from assistant.memory import Memory
from assistant.reading import ConversationView, MemoryRefresh, MessagePage, PastTurn, Reader, SettingsView
from assistant.store import Conversation, Message
from models.errors import GlassmindError

log = logging.getLogger(__name__)

T = TypeVar("T")
Then = Callable[[T], None]


def _unexpected(exc: BaseException) -> str:
    log.exception("unexpected error in the reader thread", exc_info=exc)
    return f"Something went wrong while reading the database: {exc}. Try again, or restart Glassmind."


@dataclass(frozen=True)
class _Read:
    """One read for the reader thread: what to ask the Reader, and the id its answer comes back with."""

    request_id: int
    read: Callable[[Reader], object]


class _ReadWorker(QObject):
    """Lives on the reader thread and owns the Reader (its own connection)."""

    open_requested = Signal()
    asked = Signal(_Read)
    close_requested = Signal()
    opened = Signal(str)  # "" when open, else why not
    answered = Signal(int, object)  # request id, the answer
    refused = Signal(int, str)  # request id, why the read failed

    def __init__(self) -> None:
        super().__init__()
        self._reader: Reader | None = None
        self.open_requested.connect(self._on_self_open_requested)
        self.asked.connect(self._on_self_asked)
        self.close_requested.connect(self._on_self_close_requested)

    @Slot()
    def _on_self_open_requested(self) -> None:
        try:
            self._reader = Reader()
        except GlassmindError as exc:
            self.opened.emit(str(exc))
            return
        except Exception as exc:  # the window says what happened and keeps running
            self.opened.emit(_unexpected(exc))
            return
        self.opened.emit("")

    @Slot(_Read)
    def _on_self_asked(self, asked: _Read) -> None:
        if self._reader is None:
            return  # it could not be opened: ``opened`` said why, once
        try:
            answer = asked.read(self._reader)
        except GlassmindError as exc:
            self.refused.emit(asked.request_id, str(exc))
            return
        except Exception as exc:
            self.refused.emit(asked.request_id, _unexpected(exc))
            return
        self.answered.emit(asked.request_id, answer)

    @Slot()
    def _on_self_close_requested(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        QThread.currentThread().quit()


class Reads(QObject):
    """The window's handle on the reader thread: each read takes a callback for its answer.

    Signals:
        opened(str): the database is open ("") or could not be opened (a sentence that says why).
        failed(str): a read failed (a sentence); its callback is not called.
    """

    opened = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker_thread = QThread()
        self.worker_thread.setObjectName("glassmind-reader")
        self._worker = _ReadWorker()
        self._worker.moveToThread(self.worker_thread)
        self._next_id = 0
        self._waiting: dict[int, Callable[[Any], None]] = {}
        self._worker.opened.connect(self.opened)
        self._worker.answered.connect(self._on_worker_answered)
        self._worker.refused.connect(self._on_worker_refused)
        self.worker_thread.start()

    def open(self) -> None:
        """Open the database on the reader thread; ``opened`` says how it went."""
        self._worker.open_requested.emit()

    def stop(self) -> None:
        """Close the connection in its own thread and wait for the thread to end (reads are short)."""
        self._waiting.clear()
        self._worker.close_requested.emit()
        self.worker_thread.wait()

    def _ask(self, read: Callable[[Reader], T], then: Then[T]) -> None:
        """Run ``read`` on the reader thread; ``then`` gets its answer on the GUI thread. ``read``
        takes only frozen values (the arguments, bound now), never a widget."""
        self._next_id += 1
        self._waiting[self._next_id] = then
        self._worker.asked.emit(_Read(self._next_id, read))

    def _on_worker_answered(self, request_id: int, answer: object) -> None:
        then = self._waiting.pop(request_id, None)
        if then is not None:
            then(answer)

    def _on_worker_refused(self, request_id: int, error: str) -> None:
        if self._waiting.pop(request_id, None) is not None:
            self.failed.emit(error)

    # -- the reads (assistant.reading.Reader's, answered on the GUI thread) ----------

    def conversations(self, search: str | None, then: Then[list[Conversation]]) -> None:
        self._ask(lambda r: r.conversations(search), then)

    def conversation(self, conversation_id: int, then: Then[Conversation | None]) -> None:
        self._ask(lambda r: r.conversation(conversation_id), then)

    def conversation_view(self, conversation_id: int, limit: int, then: Then[ConversationView | None]) -> None:
        self._ask(lambda r: r.conversation_view(conversation_id, limit), then)

    def older(self, conversation_id: int, before_id: int, limit: int, then: Then[MessagePage]) -> None:
        self._ask(lambda r: r.older(conversation_id, before_id, limit), then)

    def message(self, message_id: int, then: Then[Message | None]) -> None:
        self._ask(lambda r: r.message(message_id), then)

    def past_turn(self, message_id: int, then: Then[PastTurn | None]) -> None:
        self._ask(lambda r: r.past_turn(message_id), then)

    def memories(
        self, search: str | None, kind: str | None, sort: str, offset: int, limit: int, then: Then[list[Memory]]
    ) -> None:
        self._ask(lambda r: r.memories(search, kind, sort, offset, limit), then)

    def memory(self, memory_id: int, then: Then[Memory | None]) -> None:
        self._ask(lambda r: r.memory(memory_id), then)

    def memory_refresh(
        self, ids: list[int], search: str | None, kind: str | None, sort: str, limit: int, then: Then[MemoryRefresh]
    ) -> None:
        wanted = list(ids)  # copied now: the caller's list may change before the read runs
        self._ask(lambda r: r.memory_refresh(wanted, search, kind, sort, limit), then)

    def memory_count(self, then: Then[int]) -> None:
        self._ask(lambda r: r.memory_count(), then)

    def impacts(self, memory_ids: list[int], then: Then[list[Impact]]) -> None:
        wanted = list(memory_ids)
        self._ask(lambda r: r.impacts(wanted), then)

    def settings(self, then: Then[SettingsView]) -> None:
        self._ask(lambda r: r.settings(), then)
