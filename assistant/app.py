"""The headless assistant: store, memory, retrieval, model and the turn pipeline, for CLI, UI and benches.

One turn: store the user message at once -> retrieve -> assemble the window
-> generate (streamed, cancellable) -> store the reply with its figures ->
embed and index both -> record the window for that turn. Every write goes through
assistant/repository.py, in a transaction opened here; no SQL is written in this module.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant import erasure, paths, repository
from assistant.after_turn import AfterReply, AfterTurn
from assistant.context import ContextWindow, WindowBuilder
from assistant.curation import Curation
from assistant.drafts import PREVIEW_REUSE_S, SHORT_MESSAGE_WORDS, Drafts, _Preview, retrieval_query
from assistant.events import ContextReady, Failed, Finished, ModelInfo, Reading, Token, TurnEvent
from assistant.loading import Loading
from assistant.memory import MemoryStore, message_item
from assistant.opening import open_store
from assistant.retrieval import Retriever
from assistant.settings import Settings
from assistant.store import Message, conversation_title, now_iso
from assistant.suggestions import SuggestionBook
from assistant.text import clean_input, is_blank
from assistant.turns import MIN_CONTINUE_TOKENS, Rewrites
from models.embedder import Embedder
from models.errors import GlassmindError, InputTooLargeError, InvalidInputError
from models.registry import ModelRegistry
from models.runtime import ChatRuntime, ReadAhead

# The turn's values and the window's helpers, for callers that import them from here.
__all__ = [
    "MIN_CONTINUE_TOKENS", "PREVIEW_REUSE_S", "SHORT_MESSAGE_WORDS", "AfterTurn", "Assistant", "ContextReady", "Failed",
    "Finished", "ModelInfo", "Reading", "Token", "TurnEvent", "retrieval_query",
]

log = logging.getLogger(__name__)


class Assistant(Loading, Drafts, Rewrites, Curation, AfterReply):
    """Everything but the window: owns one store connection, the memory, and (lazily) the models.

    This module is the turn itself; the rest of the Assistant is written beside it, one part a
    module: loading.py (models, settings), drafts.py (the window for a draft), turns.py (regenerate,
    answers, edit & resend, continue), curation.py (messages and conversations), after_turn.py
    (what follows a reply: suggested notes, notices)."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        embedder: Embedder | None = None,
        model: ChatRuntime | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else paths.data_dir()
        self.store = open_store(paths.database_path(self.data_dir))
        self.settings = Settings.from_json(self.store.get_setting("settings"))
        self.registry = ModelRegistry(self.data_dir)
        self.embedder = embedder or Embedder()
        self.memories = MemoryStore(self.store, self.embedder, paths.index_dir(self.data_dir))
        self._model = model
        self._builder: WindowBuilder | None = WindowBuilder(model) if model else None
        self._retriever: Retriever | None = None
        self._preview: _Preview | None = None
        # A send without a preview reads the prompt up to its new text while the query is embedded
        # and the window assembled (ChatModel.read_ahead). None: when the model runs on a GPU, where
        # the embedding costs as much as reading the whole prompt and the CPU is otherwise idle; on
        # the CPU the three would share its cores for nothing (bench/RESULTS.md, 2026-11-23).
        self.read_ahead: bool | None = None
        self.suggestions = SuggestionBook(self.store, self.memories)

    def close(self) -> None:
        try:
            self.memories.flush()
        except GlassmindError as exc:  # a full disk: the sentence says the data is safe, no traceback
            log.warning("glassmind: %s", exc)
        except Exception:  # closing must not lose the database over a cache write
            log.exception("could not save the vector index")
        if self._model is not None:
            self._model.close()
            self._model = None
        self.embedder.close()
        self.store.close()

    # -- turns -----------------------------------------------------------------------

    def new_conversation(self, title: str | None = None) -> int:
        return self.store.create_conversation(title or "New conversation", model=self.settings.model).id

    def turn(
        self,
        conversation_id: int | None,
        text: str,
        *,
        cancel: threading.Event | None = None,
        reading: Reading | None = None,
    ) -> Iterator[TurnEvent]:
        """Run one turn; the user's message is stored before anything can fail.

        ``reading(done, total)`` follows llama.cpp reading the prompt (long prompts take minutes
        on a slow CPU); ``cancel`` stops the reading as well as the reply.
        """
        text = clean_input(text)
        if is_blank(text):  # zero-width characters alone are empty too
            yield Failed("The message is empty: type something to send.", None, exception=InvalidInputError("empty"))
            return
        version = self.store.version()
        # The window previewed while the draft was typed, when nothing changed since: the send then
        # redoes neither the query's embedding, nor the search, nor the window.
        preview = self._take_preview(conversation_id, text, version)
        if preview is None:
            self._start_query(None, text)  # a message that is its own query: before reading anything
        history = self.store.messages(conversation_id) if conversation_id is not None else []
        if preview is None:
            self._start_query(history, text)  # a short follow-up's query brings the previous question
        user = self._store_user_message(conversation_id, text)
        yield from self._respond(user.conversation_id, history, user, cancel, reading, preview=preview)

    def _store_user_message(self, conversation_id: int | None, text: str) -> Message:
        """The message, its memory row (searchable by keyword at once) and the conversation's
        title, in one transaction: a kill at any moment keeps the message whole or not at all."""
        stamp = now_iso()
        if conversation_id is not None:
            conv = self.store.conversation(conversation_id)
        with self.store.write() as db:
            if conversation_id is None:
                conversation_id = repository.add_conversation(
                    db, title="New conversation", created=stamp, model=self.settings.model
                )
                fresh = True
            else:
                fresh = conv.title == "New conversation" and not repository.has_messages(db, conversation_id)
            mid = self._insert_message(db, conversation_id, "user", text, stamp)
            if fresh:
                repository.title_conversation(db, conversation_id, conversation_title(text), mid)
        return self.store.message(mid)

    def _insert_message(
        self, db: repository.Transaction, conversation_id: int, role: str, text: str, stamp: str, **fields: Any
    ) -> int:
        """A message, its memory row, and its conversation's date, in the caller's transaction."""
        row = {"conversation_id": conversation_id, "role": role, "content": text, "created": stamp, **fields}
        mid = repository.add_message(db, row, touch=True)
        if text.strip():
            self.memories.insert_rows(db, [message_item({**row, "id": mid})])
        return mid

    def _respond(
        self,
        conversation_id: int,
        history: list[Message],
        user: Message,
        cancel: threading.Event | None,
        reading: Reading | None = None,
        resume: Message | None = None,
        preview: ContextWindow | None = None,
    ) -> Iterator[TurnEvent]:
        partial: Message | None = None
        pieces: list[str] = []
        stored = False
        answered: tuple[list[Message], ContextWindow] | None = None  # for _after_turn
        # The message's own token count and model: written with whatever the turn writes next (the
        # reply, a partial reply, a failure), not in a commit of its own before the prompt is read.
        counted: dict[str, Any] = {}
        ahead: ReadAhead | None = None

        def read_ahead(stable: list[int]) -> None:
            # The prompt up to this turn's notes and message is known before the search: the model
            # reads it while the query is embedded and the window assembled (a preview's prefill
            # already did, so a send after one has nothing to start).
            nonlocal ahead
            ahead = self.model.read_ahead(stable, cancel=cancel, progress=reading)

        try:
            if preview is not None:
                window = preview.sent_as(f"message:{user.id}")
            else:
                # Not for Continue: its prompt goes on past the new text, with the reply so far.
                ahead_on = resume is None and (
                    self.read_ahead if self.read_ahead is not None else self.model.gpu_layers > 0
                )
                window = self._window(
                    history, user.content, own_id=user.id, on_stable=read_ahead if ahead_on else None,
                    conversation_id=conversation_id,
                )
            model = self.model
            counted.update(token_count=model.count_tokens(user.content), model=model.name)
            tokens = list(window.tokens)
            max_tokens = window.reserve
            if resume is not None:
                # The reply so far is plain text after the template's reply header: never markers.
                tokens += model.tokenize(resume.content)
                max_tokens = min(window.reserve, window.n_ctx - len(tokens))
                if max_tokens < min(MIN_CONTINUE_TOKENS, window.reserve):
                    self._count_message(user, counted)
                    yield Failed(
                        "The reply already fills the context window, so it cannot go on. Ask a follow-up "
                        "question instead (\"go on\"), or raise the context size in Settings.",
                        user,
                        exception=InputTooLargeError("no room to continue", tokens=len(tokens), limit=window.n_ctx),
                    )
                    return
            yield ContextReady(window, user)
            if ahead is not None:
                ahead.follow()  # it holds the model now: generate reads only what follows it
            gen = model.generate(
                tokens,
                max_tokens=max_tokens,
                temperature=self.settings.temperature,
                top_p=self.settings.top_p,
                min_p=self.settings.min_p,
                repeat_penalty=self.settings.repeat_penalty,
                cancel=cancel,
                progress=reading,
                messages=window.messages,  # for a runtime that takes messages, not tokens (OpenAI API)
            )
            for piece in gen:
                pieces.append(piece)
                yield Token(piece)
            usage = gen.usage
            assert usage is not None
            reply_text = "".join(pieces).strip()
            if resume is not None:
                reply_text = (resume.content + "".join(pieces)).rstrip()
                if not pieces:
                    self._count_message(user, counted)
                    yield Failed("The model had nothing to add to this reply.", user)
                    return
            if not reply_text and usage.stop_reason != "cancelled":
                # Say so rather than store an empty reply: the message stays, ready for Regenerate.
                self._count_message(user, counted)
                self._index()
                yield Failed(
                    "The model ended its reply without writing anything (this happens with a very long or "
                    "repetitive message): regenerate, or rephrase the message. Your message is saved.",
                    user,
                    exception=InvalidInputError("empty reply"),
                )
                return
            fields = dict(
                token_count=usage.completion_tokens,
                model=model.name,
                status={"cancelled": "partial", "length": "length"}.get(usage.stop_reason, "ok"),
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                ttft_s=round(usage.ttft_s, 4),
                decode_tps=round(usage.decode_tps, 2),
            )
            if resume is not None:
                fields["completion_tokens"] = (resume.completion_tokens or 0) + usage.completion_tokens
                fields["token_count"] = fields["completion_tokens"]
            with self.store.write() as db:
                # Reply, its memory row and the record of the window: all or nothing.
                self._count_message(user, counted, db)
                if resume is None:
                    reply_id = self._insert_message(
                        db, conversation_id, "assistant", reply_text, now_iso(), **fields
                    )
                else:
                    reply_id = resume.id
                    repository.extend_message(db, resume.id, reply_text, fields)
                # A forget that ran during the turn must not live on in its record.
                items = [i.to_json() for i in window.items]
                parts = [list(p) for p in window.parts]
                prompt = erasure.redact_gone(db.conn, items, parts) or window.prompt
                turn_id = repository.record_turn(
                    db, conversation_id=conversation_id, user_message_id=user.id, reply_message_id=reply_id,
                    model=model.name, n_ctx=window.n_ctx, reserve=window.reserve,
                    prompt_tokens=window.prompt_tokens, prompt=prompt, prompt_parts=parts, items=items,
                )
            stored = True
            counted.clear()
            reply = self.store.message(reply_id)
            self._index()
            yield Finished(reply, usage, turn_id)
            answered = ([user, reply], window)
        except (GlassmindError, OSError, RuntimeError, ValueError) as exc:
            if pieces and not stored:
                with self.store.write() as db:
                    self._count_message(user, counted, db)
                    pid = self._insert_message(
                        db, conversation_id, "assistant", "".join(pieces).strip(), now_iso(),
                        status="partial", model=self.settings.model,
                    )
                counted.clear()
                partial = self.store.message(pid)
            try:
                self._index()
            except GlassmindError:
                log.exception("could not index the messages of a failed turn")
            message = (
                str(exc) if isinstance(exc, GlassmindError) else f"The reply failed: {exc}. Your message is saved."
            )
            yield Failed(message, user, partial, exception=exc)
        finally:
            if ahead is not None:
                ahead.abandon()  # a turn that failed before its reply: stop reading at the next chunk
            if counted:  # a failure before anything else was written, or the turn was abandoned
                with contextlib.suppress(GlassmindError):
                    self._count_message(user, counted)
        if answered is not None:
            self._after_turn(*answered)

    def _after_turn(self, messages: list[Message], window: ContextWindow) -> None:
        """After the reply, while the user reads it, what the next send would otherwise do before its
        prompt is read: checkpoint the WAL, count the tokens of the turn's messages as the next window
        uses them (a turn of the history; a quoted note once out of the window), and render the chat
        template's own text for the next window's roles."""
        if self._model is None:
            return
        try:
            self.store.checkpoint(passive=True)
            for message in messages:
                self._model.count_tokens(message.content)
                memory = self.memories.for_message(message.id)
                if memory is not None:
                    self.retriever.tokens_of(memory)
            if self._builder is not None:
                # The template's text for the next window's roles: this one's, plus the reply and
                # the next message (unless the cut-off moves or a message is excluded).
                self._builder.skeleton((*(m["role"] for m in window.messages), "assistant", "user"))
        except Exception:  # only a head start (a strict template may refuse the roles)
            log.debug("could not prepare the next turn", exc_info=True)

    def _count_message(
        self, message: Message, counted: dict[str, Any], db: repository.Transaction | None = None
    ) -> None:
        """Record a sent message's token count and model (``counted``; nothing when it is empty),
        in ``db``'s open transaction (the caller clears ``counted`` once it is committed) or in one
        of its own."""
        if not counted:
            return
        if db is None:
            with self.store.write() as own:
                self._count_message(message, counted, own)
            counted.clear()
            return
        repository.count_message(db, message.id, token_count=counted["token_count"], model=counted["model"])

    def _index(self) -> None:
        """Embed what the turn stored (the slow part; rows were written with the messages)."""
        self.open_memory()
        self.memories.embed_pending()
