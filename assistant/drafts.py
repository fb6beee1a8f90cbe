"""The window for a draft: built, previewed while the user types, kept for the send that follows,
read ahead into the model's cache, and what fits of a message too long for it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.context import MAX_MESSAGE_CHARS, OWN_PROMPT, SETTINGS_PROMPT, ContextWindow, WindowBuilder
from assistant.events import Reading
from assistant.memory import MemoryStore
from assistant.retrieval import RetrievalResult, Retriever
from assistant.settings import Settings
from assistant.store import Message, Store
from assistant.text import clean_input, is_blank
from models.embedder import Embedder
from models.errors import GlassmindError, InputTooLargeError, InvalidInputError
from models.runtime import ChatRuntime

log = logging.getLogger(__name__)

# A previewed window older than this is built again when its draft is sent (its reasons say
# "today" or "3 days ago", and the user may have stepped away).
PREVIEW_REUSE_S = 300.0


@dataclass
class _Preview:
    """The window last previewed for a draft, with what it was built from: a turn that sends the same
    draft, with the same settings and model, on a database nobody has written since, reuses it."""

    key: tuple[Any, ...]
    version: tuple[int, int]
    made: float
    window: ContextWindow


class Drafts:
    """The Assistant's window building (assistant/app.py mixes it in)."""

    store: Store
    settings: Settings
    memories: MemoryStore
    embedder: Embedder
    _builder: WindowBuilder | None
    _retriever: Retriever | None
    _preview: _Preview | None

    if TYPE_CHECKING:  # given by the Assistant this is a part of (assistant/app.py)
        def load_model(self) -> ChatRuntime: ...

        @property
        def model(self) -> ChatRuntime: ...

        @property
        def retriever(self) -> Retriever: ...

        def open_memory(self, progress: Callable[[int, int], None] | None = None, *, embed: bool = True) -> str: ...

    def context(self, conversation_id: int | None, text: str, *, search: bool = True) -> ContextWindow:
        """The window the next turn would use for ``text`` (nothing is stored).

        ``search=False``: no retrieval (an empty draft would pull in memories unrelated to anything).
        The window is kept: sending this draft next reuses it, unless anything it depends on changed.
        """
        self._preview = None
        history = self.store.messages(conversation_id) if conversation_id is not None else []
        window = self._window(history, text, search=search, conversation_id=conversation_id)
        if search:
            key = self._preview_key(conversation_id, text)
            self._preview = _Preview(key, self.store.version(), time.monotonic(), window)
        return window

    def _preview_key(self, conversation_id: int | None, text: str) -> tuple[Any, ...]:
        """What a window depends on besides the database: the draft, its conversation, the model
        (its builder) and the settings that shape the window."""
        s = self.settings
        return (conversation_id, text, self._builder, s.system_prompt, s.retrieval, s.memory_budget, s.max_tokens)

    def _take_preview(self, conversation_id: int | None, text: str, version: tuple[int, int]) -> ContextWindow | None:
        """The previewed window for sending ``text``, if it still holds: same key, and the database at
        ``version`` (as it was just before the message was stored) is as the preview left it."""
        preview, self._preview = self._preview, None
        if (
            preview is None
            or preview.version != version
            or time.monotonic() - preview.made > PREVIEW_REUSE_S
            or preview.key != self._preview_key(conversation_id, text)
        ):
            return None
        return preview.window

    def _start_query(self, history: list[Message] | None, text: str) -> None:
        """Start embedding the turn's retrieval query on the embedder's thread: storing the message
        and everything in the window before the search runs meanwhile, not after it. ``history``
        None: not read yet, so only a message long enough to be its own query starts."""
        s = self.settings
        # Nothing here may fail before the message is stored: no model load (a missing file is the
        # turn's to report), so only once a window was built with the loaded model.
        retriever = self._retriever
        if retriever is None or not (s.retrieval and s.memory_budget > 0 and self.embedder.loaded):
            return
        if self.memories.index.size and (history is not None or len(text.split()) >= SHORT_MESSAGE_WORDS):
            retriever.start_query(retrieval_query(history or [], text))

    def _window(
        self,
        history: list[Message],
        text: str,
        *,
        own_id: int | None = None,
        search: bool = True,
        on_stable: Callable[[list[int]], None] | None = None,
        conversation_id: int | None = None,
    ) -> ContextWindow:
        model = self.load_model()
        assert self._builder is not None
        s = self.settings
        use_memory = search and s.retrieval and s.memory_budget > 0
        if use_memory:
            self.open_memory()

        query = retrieval_query(history, text)

        def retrieve(budget: int, skip: list[int]) -> RetrievalResult:
            # The message being answered is already stored (memory too): not a candidate for itself.
            return self.retriever.retrieve(
                query, budget=min(budget, s.memory_budget), skip_message_ids=skip,
                exclude_message_ids=[own_id] if own_id is not None else (),
            )

        system_prompt, own = self.system_prompt(conversation_id)
        return self._builder.build(
            system_prompt=system_prompt,
            system_label=OWN_PROMPT if own else SETTINGS_PROMPT,
            new_text=text,
            history=history,
            pinned=self.memories.pinned(),
            retrieve=retrieve if use_memory else None,
            reserve=min(s.max_tokens, model.n_ctx // 2),
            memory_budget=s.memory_budget,
            new_source=f"message:{own_id}" if own_id is not None else None,
            on_stable=on_stable,
        )

    def system_prompt(self, conversation_id: int | None) -> tuple[str, bool]:
        """The system prompt a conversation's turns use, and whether it is the conversation's own
        (else the one from Settings)."""
        if conversation_id is not None:
            own = self.store.conversation(conversation_id).system_prompt
            if own:
                return own, True
        return self.settings.system_prompt, False

    def set_system_prompt(self, conversation_id: int, text: str | None) -> None:
        """Give a conversation its own system prompt; None or blank: the one from Settings again."""
        cleaned = clean_input(text or "").strip()
        if len(cleaned) > MAX_MESSAGE_CHARS:
            raise InvalidInputError(
                f"That system prompt is {len(cleaned):,} characters; Glassmind takes at most "
                f"{MAX_MESSAGE_CHARS:,}: shorten it."
            )
        self.store.set_system_prompt(conversation_id, None if is_blank(cleaned) else cleaned)

    def prefill(
        self,
        conversation_id: int | None,
        draft: str,
        *,
        cancel: threading.Event | None = None,
        window: ContextWindow | None = None,
        progress: Reading | None = None,
    ) -> int:
        """While the user types: embed the query and read the prompt's stable beginning (system,
        pinned notes, history) into llama.cpp's KV cache, so the turn reads only its notes and the
        new message. ``window``: the one just previewed for ``draft``, if any. Stops at the next
        chunk once ``cancel`` is set; ``progress(done, total)`` follows the reading; returns the
        prompt tokens now cached (0 if it could not)."""
        try:
            if window is None:
                window = self.context(conversation_id, draft)
            return self.model.prefill(window.tokens[: window.stable_tokens], cancel=cancel, progress=progress)
        except (GlassmindError, RuntimeError, ValueError, OSError):
            # Only a head start: the turn reports whatever really is wrong.
            log.debug("prefill skipped", exc_info=True)
            return 0

    def too_large(self, conversation_id: int | None, text: str) -> str | None:
        """Why ``text`` cannot be sent as it is (it does not fit the next window), or None: asked
        before a send, so the user can choose to send the part that fits (``fit_message``). Only a
        message longer in characters than twice the window is checked; any other problem is the
        turn's to report."""
        if len(text) <= 2 * self.model.n_ctx:
            return None
        try:
            self.context(conversation_id, text)
        except InputTooLargeError as exc:
            return str(exc)
        except GlassmindError:
            pass  # the turn itself reports it
        return None

    def fit_message(self, conversation_id: int | None, text: str) -> str:
        """The longest beginning of ``text`` that fits the next window: only when the user asks for it."""
        text = text[:MAX_MESSAGE_CHARS]
        try:
            self.context(conversation_id, text)
            return text
        except InputTooLargeError as exc:
            tokens = self.model.tokenize(text)[: max(1, exc.limit - 16)]
            return self.model.detokenize(tokens)


SHORT_MESSAGE_WORDS = 8


def retrieval_query(history: list[Message], text: str) -> str:
    """What retrieval searches for: the new message, plus the previous user message when the new
    one is a short follow-up ("and for dinner?") that means little on its own."""
    if len(text.split()) >= SHORT_MESSAGE_WORDS:
        return text
    previous = next((m.content for m in reversed(history) if m.role == "user" and not m.excluded), "")
    return f"{previous[:500]}\n{text}" if previous else text
