"""Another go at a turn: regenerate (the old reply kept as another answer, ‹ 1/2 ›), switch answers,
edit & resend, and continue a reply that stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from assistant import repository
from assistant.context import ContextWindow
from assistant.events import Failed, Finished, Reading, TurnEvent
from assistant.memory import ALTERNATIVE, CHAT, MemoryStore
from assistant.store import Message, Store
from assistant.text import clean_input, is_blank
from models.errors import InvalidInputError

MIN_CONTINUE_TOKENS = 16


class Rewrites:
    """The Assistant's regenerate, answers, edit & resend and continue (assistant/app.py mixes it in)."""

    store: Store
    memories: MemoryStore

    if TYPE_CHECKING:  # given by the Assistant this is a part of (assistant/app.py)
        def turn(
            self,
            conversation_id: int | None,
            text: str,
            *,
            cancel: threading.Event | None = None,
            reading: Reading | None = None,
        ) -> Iterator[TurnEvent]: ...

        def _start_query(self, history: list[Message] | None, text: str) -> None: ...

        def _respond(
            self,
            conversation_id: int,
            history: list[Message],
            user: Message,
            cancel: threading.Event | None,
            reading: Reading | None = None,
            resume: Message | None = None,
            preview: ContextWindow | None = None,
        ) -> Iterator[TurnEvent]: ...

    def regenerate(
        self, conversation_id: int, *, cancel: threading.Event | None = None, reading: Reading | None = None
    ) -> Iterator[TurnEvent]:
        """Answer the last user message again. The reply it replaces is set aside as another
        answer to that question (‹ 1/2 ›), one click away; an empty one is erased."""
        history = self.store.messages(conversation_id)
        replies: list[Message] = []
        while history and history[-1].role != "user":
            replies.append(history.pop())
        if not history:
            for reply in replies:
                self._erase_message(reply.id)
            yield Failed("There is no message to answer again.", None)
            return
        user = history.pop()
        kept = [r.id for r in replies if r.content.strip()]
        for reply in replies:
            if reply.id not in kept:
                self._erase_message(reply.id)
        self._start_query(history, user.content)
        if kept:
            with self.store.write() as db:
                self._place(db, kept, answering=user.id)
        for event in self._respond(conversation_id, history, user, cancel, reading):
            if kept and isinstance(event, Finished | Failed):
                answered = event.reply if isinstance(event, Finished) else event.partial
                if answered is None or not answered.content.strip():
                    # Stopped before a word, or failed: the earlier answer is the reply again.
                    if answered is not None:
                        self._erase_message(answered.id)
                    self.choose_alternative(max(kept))
            yield event

    @staticmethod
    def _place(db: repository.Transaction, message_ids: list[int], *, answering: int | None) -> None:
        """Set replies aside as earlier answers to question ``answering`` (None: back into the
        conversation). Set aside, they leave the conversation and retrieval but stay stored,
        searchable and forgettable: the memory keeps its text and vector, only its source follows."""
        source = CHAT if answering is None else ALTERNATIVE
        repository.place_answers(db, message_ids, answering=answering, source=source)

    def choose_alternative(self, message_id: int) -> Message:
        """Show another answer to the last question (‹ 1/3 ›): it becomes the reply and the reply
        shown until now is set aside, in one transaction."""
        alt = self.store.message(message_id)
        if alt.alternative_of is None:
            raise InvalidInputError("That reply is already the one shown in its conversation.")
        msgs = self.store.messages(alt.conversation_id)
        at = next((n for n, m in enumerate(msgs) if m.id == alt.alternative_of), None)
        if at is None:
            raise InvalidInputError("The question this reply answers is gone.")
        after = msgs[at + 1 :]
        if any(m.role != "assistant" for m in after):
            raise InvalidInputError("Only the last reply of a conversation can be switched to another answer.")
        with self.store.write() as db:
            self._place(db, [m.id for m in after], answering=alt.alternative_of)
            self._place(db, [alt.id], answering=None)
        return self.store.message(alt.id)

    def edit_and_resend(
        self, message_id: int, text: str, *, cancel: threading.Event | None = None, reading: Reading | None = None
    ) -> Iterator[TurnEvent]:
        """Replace a user message (and every later message) with ``text`` and answer it."""
        msg = self.store.message(message_id)
        if is_blank(clean_input(text)):  # refused before anything is erased: the old message stays
            yield from self.turn(msg.conversation_id, text)
            return
        later = [m for m in self.store.messages(msg.conversation_id) if m.id >= message_id]
        for m in later:
            self._erase_message(m.id)
        yield from self.turn(msg.conversation_id, text, cancel=cancel, reading=reading)

    def continue_reply(
        self, conversation_id: int, *, cancel: threading.Event | None = None, reading: Reading | None = None
    ) -> Iterator[TurnEvent]:
        """Let the last reply go on where it stopped (the length limit, or Stop): the model reads the
        same window with the reply so far as the start of its turn, and the new text is added to
        that reply."""
        history = self.store.messages(conversation_id)
        if len(history) < 2 or history[-1].role != "assistant" or history[-2].role != "user":
            yield Failed("There is no reply to continue: the last message is not a reply.", None)
            return
        reply = history.pop()
        user = history.pop()
        yield from self._respond(conversation_id, history, user, cancel, reading, resume=reply)

    def _erase_message(self, message_id: int) -> None:
        """A message replaced by Edit & resend is erased like a forgotten one, backups
        included: anything that leaves the database leaves every copy of it (the crash harness found
        a reply that echoed an edited-away secret surviving in backups otherwise)."""
        self.memories.forget(message_ids=[message_id])
