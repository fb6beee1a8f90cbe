"""The headless assistant: store, memory, retrieval, model and the turn pipeline, for CLI, UI and benches.

One turn: store the user message at once -> retrieve -> assemble the window
-> generate (streamed, cancellable) -> store the reply with its figures ->
embed and index both -> record the window for that turn.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import erasure, paths
from assistant.context import MAX_MESSAGE_CHARS, OWN_PROMPT, SETTINGS_PROMPT, ContextWindow, WindowBuilder
from assistant.memory import ALTERNATIVE, CHAT, Memory, MemoryStore, message_item
from assistant.retrieval import RetrievalResult, Retriever
from assistant.settings import Settings
from assistant.store import Message, Store, conversation_title, now_iso
from assistant.suggestions import Suggestion, SuggestionBook, suggest
from assistant.text import clean_input, is_blank
from models.embedder import Embedder
from models.errors import GlassmindError, InputTooLargeError, InvalidInputError, ModelFileError
from models.llama import ChatModel, ReadAhead, Usage
from models.registry import ModelEntry, ModelRegistry
from models.templates import fallback_template

log = logging.getLogger(__name__)


@dataclass
class ContextReady:
    window: ContextWindow
    user_message: Message


@dataclass
class Token:
    text: str


@dataclass(frozen=True)
class Finished:
    """The reply is stored: it, the figures of its generation, and its turn record."""

    reply: Message
    usage: Usage
    turn_id: int


@dataclass(frozen=True)
class ModelInfo:
    """The loaded chat model as the status bar shows it."""

    name: str
    backend: str  # "CUDA", "Metal", "CPU", ...
    n_ctx: int
    gpu_layers: int
    notice: str = ""  # a sentence when loading had to fall back (e.g. to the CPU)


@dataclass
class Failed:
    error: str
    user_message: Message | None
    partial: Message | None = None
    exception: BaseException | None = field(default=None, repr=False)


TurnEvent = ContextReady | Token | Finished | Failed
Reading = Callable[[int, int], None]  # (prompt tokens read, prompt tokens)
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


class Assistant:
    """Everything but the window: owns one store connection, the memory, and (lazily) the models."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        embedder: Embedder | None = None,
        model: ChatModel | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else paths.data_dir()
        self.store = Store(paths.database_path(self.data_dir))
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

    # -- set-up ----------------------------------------------------------------

    def save_settings(self, settings: Settings) -> None:
        settings.validate()
        loading = ("model", "n_ctx", "gpu_layers", "chat_template", "threads", "flash_attn")
        reload = any(getattr(settings, k) != getattr(self.settings, k) for k in loading)
        self.store.set_setting("settings", settings.to_json())
        self.settings = settings
        if reload and self._model is not None:
            self.unload_model()

    def model_entry(self) -> ModelEntry:
        return self.registry.resolve(self.settings.model)

    def model_info(self) -> ModelInfo:
        """Name, backend and size of the loaded model (loading it first if needed)."""
        model = self.load_model()
        return ModelInfo(
            name=self.model_entry().name,
            backend=model.backend,
            n_ctx=model.n_ctx,
            gpu_layers=model.gpu_layers,
            notice=model.notice or "",
        )

    def load_model(self) -> ChatModel:
        """Load the chat model named in the settings (the bundled default when none)."""
        if self._model is None:
            entry = self.model_entry()
            if entry.error:
                raise ModelFileError(entry.error)
            s = self.settings
            template = fallback_template(s.chat_template) if s.chat_template else None
            self._model = ChatModel(
                entry.path, n_ctx=s.n_ctx, n_gpu_layers=s.gpu_layers, n_threads=s.threads or None,
                flash_attn=s.flash_attn, chat_template=template, load_record=paths.load_check_record(self.data_dir),
            )
            self._builder = WindowBuilder(self._model)
            self._retriever = None
        return self._model

    def unload_model(self) -> None:
        if self._model is not None:
            self._model.close()
        self._model = None
        self._builder = None
        self._retriever = None
        self._preview = None

    @property
    def model(self) -> ChatModel:
        return self.load_model()

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.memories, self.model.count_tokens)
        return self._retriever

    def open_memory(self, progress: Callable[[int, int], None] | None = None, *, embed: bool = True) -> str:
        """Load the embedder and the vector index (rebuilt from SQLite if needed). ``embed=False``:
        the index only, for erasing (the embedder takes seconds to load and is not needed)."""
        if embed:
            self.embedder.load()
        return self.memories.open_index(progress, embed=embed)

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

    # -- the window ---------------------------------------------------------------

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

    def fit_message(self, conversation_id: int | None, text: str) -> str:
        """The longest beginning of ``text`` that fits the next window: only when the user asks for it."""
        text = text[:MAX_MESSAGE_CHARS]
        try:
            self.context(conversation_id, text)
            return text
        except InputTooLargeError as exc:
            tokens = self.model.tokenize(text)[: max(1, exc.limit - 16)]
            return self.model.detokenize(tokens)

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
                conversation_id = Store.insert(
                    db, "conversations",
                    {"title": "New conversation", "created": stamp, "updated": stamp, "model": self.settings.model},
                )
                fresh = True
            else:
                fresh = conv.title == "New conversation" and not db.execute(
                    "SELECT 1 FROM messages WHERE conversation_id = ? LIMIT 1", [conversation_id]
                ).fetchone()
            mid = self._insert_message(db, conversation_id, "user", text, stamp)
            if fresh:
                db.execute(
                    "UPDATE conversations SET title = ?, title_message_id = ? WHERE id = ?",
                    [conversation_title(text), mid, conversation_id],
                )
        return self.store.message(mid)

    def _insert_message(self, db: Any, conversation_id: int, role: str, text: str, stamp: str, **fields: Any) -> int:
        row = {"conversation_id": conversation_id, "role": role, "content": text, "created": stamp, **fields}
        mid = Store.insert(db, "messages", row)
        db.execute("UPDATE conversations SET updated = ? WHERE id = ?", [stamp, conversation_id])
        if text.strip():
            self.memories.insert_rows(db, [message_item({**row, "id": mid})])
        return mid

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
    def _place(db: Any, message_ids: list[int], *, answering: int | None) -> None:
        """Set replies aside as earlier answers to question ``answering`` (None: back into the
        conversation). Set aside, they leave the conversation and retrieval but stay stored,
        searchable and forgettable: the memory keeps its text and vector, only its source follows."""
        source = CHAT if answering is None else ALTERNATIVE
        for mid in message_ids:
            db.execute("UPDATE messages SET alternative_of = ? WHERE id = ?", [answering, mid])
            db.execute("UPDATE memories SET source = ? WHERE message_id = ? AND kind = 'message'", [source, mid])

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
            counted.update(token_count=model.count_tokens(user.content), model=model.path.name)
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
                model=model.path.name,
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
                    self._extend_message(db, resume, reply_text, fields)
                # A forget that ran during the turn must not live on in its record.
                items = [i.to_json() for i in window.items]
                parts = [list(p) for p in window.parts]
                prompt = erasure.redact_gone(db.conn, items, parts) or window.prompt
                turn_id = Store.insert(db, "turns", {
                    "conversation_id": conversation_id,
                    "user_message_id": user.id,
                    "reply_message_id": reply_id,
                    "created": now_iso(),
                    "model": model.path.name,
                    "n_ctx": window.n_ctx,
                    "reserve": window.reserve,
                    "prompt_tokens": window.prompt_tokens,
                    "prompt": prompt,
                    "prompt_parts": json.dumps(parts),
                    "items": json.dumps(items),
                })
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

    def _count_message(self, message: Message, counted: dict[str, Any], db: Any = None) -> None:
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
        db.execute(
            "UPDATE messages SET token_count = ?, model = ? WHERE id = ?",
            [counted["token_count"], counted["model"], message.id],
        )

    def _extend_message(self, db: Any, message: Message, text: str, fields: dict[str, Any]) -> None:
        """A continued reply: the same message with more text; its memory follows (re-embedded)."""
        db.table("messages").update(message.id, {"content": text, **fields})
        row = db.execute("SELECT id FROM memories WHERE message_id = ?", [message.id]).fetchone()
        if row is not None:
            db.execute("UPDATE memories SET text = ?, updated = ? WHERE id = ?", [text, now_iso(), row[0]])
            db.execute("DELETE FROM memory_vectors WHERE memory_id = ?", [row[0]])
            db.execute("INSERT INTO vector_changes (memory_id, op) VALUES (?, 'del')", [row[0]])

    def _index(self) -> None:
        """Embed what the turn stored (the slow part; rows were written with the messages)."""
        self.open_memory()
        self.memories.embed_pending()

    # -- curation ------------------------------------------------------------------

    def set_message_excluded(self, message_id: int, excluded: bool) -> None:
        """Keep a message stored but out of (or back in) the context window."""
        self.store.update_message(message_id, excluded=int(excluded))
        memory = self.memories.for_message(message_id)
        if memory is not None:
            self.memories.set_excluded([memory.id], excluded)

    def remember(self, message_id: int, text: str | None = None) -> Memory:
        """Save a message (or an edited version of it) as a note."""
        msg = self.store.message(message_id)
        self.open_memory()
        return self.memories.add(
            text or msg.content, kind="note", source="remember", conversation_id=msg.conversation_id
        )

    def suggest(self, conversation_id: int, *, cancel: threading.Event | None = None) -> list[Suggestion] | None:
        """Notes the model suggests from the conversation's last user message, stored as pending (as
        notes at once with auto-approve on, except flagged ones). Call it after the reply is stored, when
        nothing waits for the model; ``cancel`` abandons it (None then) and the message is read again next time.
        Nothing (an empty list) when the user switched suggestions off."""
        if not self.settings.suggest_notes:
            return []
        self.embedder.load()
        made = suggest(
            self.suggestions, self.model, self.embedder.encode, self.store.messages(conversation_id), cancel=cancel
        )
        if made and self.settings.auto_approve:
            for s in made:
                if s.flag is None:  # an instruction, or words from the reply, waits for the user
                    self.suggestions.approve(s.id)
            made = [self.suggestions.get(s.id) for s in made]
        return made

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation and its messages for good (their memories, records and backups included)."""
        self.store.conversation(conversation_id)
        self.store.ledger.record({"conversations": [conversation_id]})  # a restore deletes it again
        ids = self.store.message_ids(conversation_id)
        if ids:
            self.memories.forget(message_ids=ids)
        with self.store.write() as db:
            db.execute("DELETE FROM turns WHERE conversation_id = ?", [conversation_id])
            db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])
        erasure.purge_now(self.store)
        # The backups too: the conversation's row (its title, its own system prompt) and records.
        self.store.backups.rewrite(lambda conn: erasure.erase_conversations(conn, [conversation_id]))


SHORT_MESSAGE_WORDS = 8
MIN_CONTINUE_TOKENS = 16


def retrieval_query(history: list[Message], text: str) -> str:
    """What retrieval searches for: the new message, plus the previous user message when the new
    one is a short follow-up ("and for dinner?") that means little on its own."""
    if len(text.split()) >= SHORT_MESSAGE_WORDS:
        return text
    previous = next((m.content for m in reversed(history) if m.role == "user" and not m.excluded), "")
    return f"{previous[:500]}\n{text}" if previous else text
