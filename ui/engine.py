"""The engine thread: one QObject, living in its own QThread, owns the Assistant (model, embedder, store).

The GUI never waits on it: requests go in by queued signals, results come
back by signals; streamed tokens are coalesced (~30 ms) so the event loop
is not flooded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from assistant import operations
from assistant.app import Assistant, ContextReady, Failed, Finished, ModelInfo, Token, TurnEvent
from assistant.context import WindowView
from assistant.operations import Curation
from assistant.settings import Settings
from models.embedder import Embedder
from models.errors import GlassmindError

log = logging.getLogger(__name__)

COALESCE_S = 0.03


def _unexpected(exc: BaseException) -> str:
    """A sentence for an error the core did not anticipate (it is logged with its traceback)."""
    log.exception("unexpected error in the engine thread", exc_info=exc)
    return f"Something went wrong: {exc}. Nothing you typed was lost; try again, or restart Glassmind."


class Engine(QObject):
    """Runs the core in a worker thread.

    Signals (out):
        status(str): a line for the status bar while something slow happens.
        loaded(ModelInfo): the model is ready: name, backend, n_ctx, gpu_layers, notice.
        failed(str): a user-facing sentence; the app keeps running.
        context_ready(int, WindowView): a request id and the window the next turn would use (or why none).
        turn_started(int, WindowView): the conversation id and the window of a turn that began.
        reading(int, int): prompt tokens read so far, of the prompt (before the first token).
        warming(int, int): the warm-up (the open conversation read ahead into the model's cache
            while nothing else waits) so far, of its length; (0, 0) when it ended, stopped or paused.
        tokens(str): coalesced pieces of the streaming reply.
        turn_finished(int, Finished): the conversation id, the stored reply and its figures (Usage).
        turn_failed(int, str): the conversation id and why the reply failed (the message is kept).
        too_large(str, str): a message that cannot fit, untouched and not stored, and why.
        not_sent(str, str): a message that could not be stored (a full disk, say), to give back, and why.
        changed(str): data changed ("memories", "conversations", "messages").
    """

    status = Signal(str)
    loaded = Signal(ModelInfo)
    failed = Signal(str)
    context_ready = Signal(int, WindowView)
    turn_started = Signal(int, WindowView)
    reading = Signal(int, int)
    warming = Signal(int, int)
    tokens = Signal(str)
    turn_finished = Signal(int, Finished)
    turn_failed = Signal(int, str)
    too_large = Signal(str, str)
    not_sent = Signal(str, str)
    changed = Signal(str)
    suggestions_ready = Signal(list)  # the pending suggestions (list of assistant.suggestions.Suggestion)

    # Requests (in), queued into the engine thread.
    start_requested = Signal()
    context_requested = Signal(int, object, str)
    turn_requested = Signal(object, str)
    fitted_turn_requested = Signal(object, str)
    regenerate_requested = Signal(int)
    continue_requested = Signal(int)
    edit_resend_requested = Signal(int, str)
    operation_requested = Signal(Curation)
    settings_requested = Signal(Settings)
    shutdown_requested = Signal()

    def __init__(self, embedder: Embedder | None = None) -> None:
        super().__init__()
        self._embedder = embedder  # an already loaded embedder to share (tests, benchmarks); None: load one
        self.cancel = threading.Event()
        # Set from the GUI thread the moment a send (or shutdown) is asked for, so a prefill running
        # here stops at its next chunk; cleared when that send starts.
        self.prefill_cancel = threading.Event()
        # The warm-up gives way to everything the user does: a send (above), a newer preview (the
        # user typed, or switched conversation) and pause_warm_up(). Guarded by _warm_lock, as the
        # GUI thread sets them while this thread reads them.
        self._warm_lock = threading.Lock()
        self._warm_stop = threading.Event()  # the running warm-up's
        self._latest_preview = 0
        self._warm_paused = False
        self.closing = threading.Event()  # the window is closing: start no suggestion run
        # Set from the GUI thread when the user types or sends: a suggestion run gives way at once.
        self.suggest_cancel = threading.Event()
        self.app: Assistant | None = None
        self.start_requested.connect(self._on_self_start_requested)
        self.context_requested.connect(self._on_self_context_requested)
        self.turn_requested.connect(self._on_self_turn_requested)
        self.fitted_turn_requested.connect(self._on_self_fitted_turn_requested)
        self.regenerate_requested.connect(self._on_self_regenerate_requested)
        self.continue_requested.connect(self._on_self_continue_requested)
        self.edit_resend_requested.connect(self._on_self_edit_resend_requested)
        self.operation_requested.connect(self._on_self_operation_requested)
        self.settings_requested.connect(self._on_self_settings_requested)
        self.shutdown_requested.connect(self._on_self_shutdown_requested)
        for request in (self.turn_requested, self.fitted_turn_requested, self.regenerate_requested,
                        self.edit_resend_requested, self.shutdown_requested):
            request.connect(lambda *_: self._stop_warm_up(), Qt.ConnectionType.DirectConnection)
        self.context_requested.connect(self._on_self_context_requested_now, Qt.ConnectionType.DirectConnection)

    # -- the warm-up gives way (these run in the thread that asks: the GUI's) ------------------

    def _stop_warm_up(self) -> None:
        self.prefill_cancel.set()
        with self._warm_lock:
            self._warm_stop.set()

    def pause_warm_up(self) -> None:
        """The user is typing: a warm-up running stops at its next chunk, and none starts until the
        next preview is asked for (it then goes on from where this one stopped: the cache keeps it)."""
        with self._warm_lock:
            self._warm_paused = True
            self._warm_stop.set()

    def _on_self_context_requested_now(self, request_id: int, *_: object) -> None:
        with self._warm_lock:
            self._latest_preview = max(self._latest_preview, request_id)
            self._warm_paused = False
            self._warm_stop.set()  # a newer preview: the older one's warm-up is not wanted

    # -- start-up ---------------------------------------------------------------

    @Slot()
    def _on_self_start_requested(self) -> None:
        try:
            self.status.emit("Opening the database…")
            self.app = Assistant(embedder=self._embedder)
            for notice in [*self.app.store.notices, *getattr(self.app.settings, "problems", [])]:
                self.failed.emit(notice)
            self._load()
        except GlassmindError as exc:
            self.failed.emit(str(exc))
            self.status.emit("Not ready")
        except Exception as exc:  # the app keeps running and says what happened
            self.failed.emit(_unexpected(exc))
            self.status.emit("Not ready")

    def _load(self) -> None:
        assert self.app is not None
        self.status.emit("Loading the model…")
        info = self.app.model_info()
        self.loaded.emit(info)
        if info.notice:
            self.failed.emit(info.notice)
        self.status.emit("Loading the memory index…")
        self.app.open_memory(lambda done, total: self.status.emit(f"Indexing memories {done}/{total}…"))
        self.status.emit("Ready")
        self._send_suggestions()
        self.changed.emit("memories")

    # -- requests -----------------------------------------------------------------

    def _ready(self) -> Assistant | None:
        if self.app is None:
            self.failed.emit("Glassmind is not ready: the database or the model could not be opened.")
        return self.app

    @Slot(int, object, str)
    def _on_self_context_requested(self, request_id: int, conversation_id: Any, text: str) -> None:
        with self._warm_lock:
            if request_id < self._latest_preview:
                return  # a newer preview waits behind this one: nobody would see this one
        app = self._ready()
        if app is None:
            return
        try:
            # An empty draft shows the window without a search: nothing to search for yet.
            window = app.context(conversation_id, text if text.strip() else "…", search=bool(text.strip()))
            self.context_ready.emit(request_id, window.view())
        except GlassmindError as exc:
            self.context_ready.emit(request_id, WindowView.failed(str(exc)))
            return
        except Exception as exc:  # never leave the window waiting for a reply
            self.context_ready.emit(request_id, WindowView.failed(_unexpected(exc)))
            return
        with self._warm_lock:
            if request_id < self._latest_preview or self._warm_paused or self.prefill_cancel.is_set():
                return  # the user typed, switched or sent meanwhile
            stop = self._warm_stop = threading.Event()
        try:
            app.prefill(conversation_id, text, cancel=stop, window=window, progress=self.warming.emit)
        finally:
            self.warming.emit(0, 0)

    @Slot(object, str)
    def _on_self_turn_requested(self, conversation_id: Any, text: str) -> None:
        app = self._ready()
        if app is None:
            return
        reason = app.too_large(conversation_id, text)  # then the user can choose to send what fits
        if reason is not None:
            self.too_large.emit(text, reason)
            return
        events = app.turn(conversation_id, text, cancel=self.cancel, reading=self.reading.emit)
        self._run(events, conversation_id, unsent=text)

    @Slot(object, str)
    def _on_self_fitted_turn_requested(self, conversation_id: Any, text: str) -> None:
        """Send the beginning of a message that fits: the user asked for it, after being told."""
        app = self._ready()
        if app is None:
            return
        try:
            fitted = app.fit_message(conversation_id, text)
        except GlassmindError as exc:
            self.turn_failed.emit(-1 if conversation_id is None else conversation_id, str(exc))
            return
        self._run(app.turn(conversation_id, fitted, cancel=self.cancel, reading=self.reading.emit), conversation_id)

    @Slot(int)
    def _on_self_regenerate_requested(self, conversation_id: int) -> None:
        app = self._ready()
        if app is not None:
            self._run(app.regenerate(conversation_id, cancel=self.cancel, reading=self.reading.emit), conversation_id)

    @Slot(int)
    def _on_self_continue_requested(self, conversation_id: int) -> None:
        app = self._ready()
        if app is not None:
            events = app.continue_reply(conversation_id, cancel=self.cancel, reading=self.reading.emit)
            self._run(events, conversation_id)

    @Slot(int, str)
    def _on_self_edit_resend_requested(self, message_id: int, text: str) -> None:
        app = self._ready()
        if app is None:
            return
        try:
            conv = app.store.message(message_id).conversation_id
        except GlassmindError as exc:
            self.turn_failed.emit(-1, str(exc))
            return
        self._run(app.edit_and_resend(message_id, text, cancel=self.cancel, reading=self.reading.emit), conv)

    def _fail(self, conv: int, error: str, unsent: str | None) -> None:
        if unsent is not None and unsent.strip():
            self.not_sent.emit(unsent, error)
        else:
            self.turn_failed.emit(conv, error)

    def _run(self, events: Iterable[TurnEvent], conversation_id: Any, *, unsent: str | None = None) -> None:
        """Forward a turn's events. ``unsent``: the typed text, given back (``not_sent``) if the turn
        fails before the message is stored."""
        self.cancel.clear()
        self.prefill_cancel.clear()
        finished = False
        pending: list[str] = []
        last = time.monotonic()
        conv = conversation_id if conversation_id is not None else -1
        try:
            for event in events:
                if isinstance(event, ContextReady):
                    unsent = None  # stored
                    conv = event.user_message.conversation_id
                    self.changed.emit("conversations")
                    self.turn_started.emit(conv, event.window.view())
                elif isinstance(event, Token):
                    pending.append(event.text)
                    now = time.monotonic()
                    if now - last >= COALESCE_S:
                        self.tokens.emit("".join(pending))
                        pending.clear()
                        last = now
                elif isinstance(event, Finished):
                    if pending:
                        self.tokens.emit("".join(pending))
                        pending.clear()
                    self.turn_finished.emit(conv, event)
                    finished = event.usage.stop_reason != "cancelled"
                elif isinstance(event, Failed):
                    if event.user_message is not None:
                        conv = event.user_message.conversation_id
                        unsent = None
                    self._fail(conv, event.error, unsent)
        except GlassmindError as exc:
            self._fail(conv, str(exc), unsent)
        except Exception as exc:
            self._fail(conv, _unexpected(exc), unsent)
        finally:
            self.changed.emit("messages")
            self.changed.emit("memories")
        if finished and conv >= 0:
            self._after_turn(conv)

    def _after_turn(self, conversation_id: int) -> None:
        """After a reply, the core's step after a turn (Assistant.after_turn): the model proposes notes
        from the user's message (issue 11). It runs only when nothing waits: typing or sending sets
        ``suggest_cancel`` and it gives way at once. This only shows what it found."""
        app = self.app
        if app is None:
            return
        self.suggest_cancel.clear()
        if self.closing.is_set():  # checked after the clear: a close from now on cancels the run
            return
        try:
            after = app.after_turn(conversation_id, cancel=self.suggest_cancel)
        except Exception:  # a suggestion must never break the chat
            log.exception("suggestions failed")
            return
        if after.error is not None:
            log.warning("suggestions failed: %s", after.error)
        for notice in after.notices:
            self.failed.emit(notice)
        if after.suggestions:
            self._send_suggestions()
            if after.notes_added:
                self.changed.emit("memories")

    def _send_suggestions(self) -> None:
        if self.app is not None:
            try:
                self.suggestions_ready.emit(self.app.suggestions.rows())
            except GlassmindError as exc:
                self.failed.emit(str(exc))

    @Slot(Curation)
    def _on_self_operation_requested(self, command: Curation) -> None:
        """Curation: Pin, Exclude, EditMemory, Forget, AddNote, Remember, ExcludeMessage, ..."""
        app = self._ready()
        if app is None:
            return
        changed: frozenset[str] = frozenset({"memories", "messages"})
        try:
            changed = operations.run(app, command)
        except GlassmindError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            self.failed.emit(_unexpected(exc))
        for notice in app.take_notices():
            self.failed.emit(notice)
        for what in ("conversations", "memories", "messages"):
            if what in changed:
                self.changed.emit(what)
        if "suggestions" in changed:
            self._send_suggestions()

    @Slot(Settings)
    def _on_self_settings_requested(self, settings: Settings) -> None:
        app = self._ready()
        if app is None:
            return
        previous = app.settings
        try:
            app.save_settings(settings)
            if not app.model_loaded:
                self._load()
            else:
                self.status.emit("Ready")  # nothing to reload: "Applying settings…" must not stay
        except GlassmindError as exc:
            self.failed.emit(f"{exc} Glassmind keeps the previous settings.")
            try:
                app.save_settings(previous)
                if not app.model_loaded:
                    self._load()
            except GlassmindError as again:
                self.failed.emit(str(again))
        self.changed.emit("memories")

    @Slot()
    def _on_self_shutdown_requested(self) -> None:
        if self.app is not None:
            self.app.close()
            self.app = None
        QThread.currentThread().quit()


class EngineThread:
    """Starts the engine in its own thread and stops it without losing anything."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.thread = QThread()
        self.thread.setObjectName("glassmind-engine")
        self.engine = Engine(embedder)
        self.engine.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel a running reply (or suggestion, or prefill), close the core in its own thread,
        and wait for it."""
        self.engine.cancel.set()
        self.engine.closing.set()
        self.engine.suggest_cancel.set()  # closing must not wait for the model to propose notes
        self.engine.shutdown_requested.emit()  # stops a warm-up from this thread at once
        # Nothing the engine says from here on has a window to go to.
        self.engine.blockSignals(True)
        if self.thread.wait(timeout_ms):
            return True
        # Still busy (a model load, or one chunk of a long prompt on a slow CPU): cancel is set,
        # so it ends soon. Destroying a running QThread aborts the whole app: wait for it.
        log.warning("the engine is still busy after %d ms; waiting for it to stop", timeout_ms)
        return self.thread.wait()
