"""The main window: conversations | chat | memory panel, a status bar, and the threads behind them.

The GUI thread never opens or queries the database: the engine thread (ui/engine.py) runs the model
and every change; the reader thread (ui/reader.py) answers the reads for display. Both send back
frozen values, and the window shows them when they arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QSplitter, QToolButton

from assistant import paths
from assistant.app import Finished, ModelInfo
from assistant.context import WindowView
from assistant.operations import (
    ChooseAlternative,
    Curation,
    DeleteConversation,
    ExcludeMessage,
    Remember,
    RenameConversation,
)
from assistant.reading import ConversationView, MessagePage, PastTurn, SettingsView
from assistant.store import Conversation, Message
from models.embedder import Embedder
from models.errors import GlassmindError
from ui.chat_header import HeaderFlow
from ui.chat_view import BATCH, ChatView
from ui.conversations import ConversationsPane
from ui.dialogs import ask_text
from ui.engine import EngineThread
from ui.memory_panel import MemoryPanel
from ui.reader import Reads
from ui.settings_dialog import SettingsDialog
from ui.window_state import CHAT_MIN, PANEL_MIN, SIDEBAR_MIN, PlacedWindow

PREVIEW_DELAY_MS = 400
WARM_UP_SHOWN = 1000  # tokens: a shorter warm-up is over before a line about it could be read
DEFAULT_SIZE = QSize(1280, 800)  # the first window, on a screen with room for it
THEMES = (("System", "system"), ("Light", "light"), ("Dark", "dark"))


class MainWindow(PlacedWindow):
    """Wires the views to the engine (model, changes) and the reader (reads for display)."""

    def __init__(self, *, embedder: Embedder | None = None) -> None:
        """``embedder``: an already loaded one to share (tests and benchmarks); by default the engine loads its own."""
        super().__init__()
        self.setWindowTitle("Glassmind")
        self.resize(DEFAULT_SIZE)  # until the window knows its screen (_fit_to_screen)
        self.conversation_id: int | None = None
        self._request_id = 0
        self._busy = False
        self._reload_on_start = False  # regenerate / edit: the stored messages change under the view
        self._continuing = False  # Continue: the reply streams into the last card
        # The user opened a new conversation while a reply was being written: it goes on, stored in
        # its own conversation, out of view.
        self._reply_elsewhere = False
        self._last_reading = (0, 0)  # the reply's prompt reading, for a reply shown once reloaded
        self._past_turn_shown = False  # a clicked message's turn is on the panel until the user leaves it
        self._model_info: ModelInfo | None = None
        self.shown_request = 0  # id of the preview the panel shows
        self.last_reply: Finished | None = None  # the last finished reply and its figures
        self._startup_error = ""
        # Answers that come back from the reader: only the newest request of each kind is shown.
        self._view_request = 0
        self._list_request = 0
        self._restore_id: int | None = None  # the conversation open when the app last closed
        # Regenerate / edit / Continue: the stored messages change under the view, so the reply
        # streams in once they are shown again; its first tokens wait here until then.
        self._held_tokens: list[str] | None = None
        self._settings_asked = False
        self.reads = Reads(self)

        self.sidebar = ConversationsPane()
        self.conversations = self.sidebar.model
        self.conversation_view = self.sidebar.view

        self.chat = ChatView()
        self.panel = MemoryPanel(self.reads)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.sidebar)
        split.addWidget(self.chat)
        split.addWidget(self.panel)
        # Only the chat takes up (or gives back) width when the window changes size; the panel
        # keeps the width the user dragged it to. Fixed minimums stop content (a 40,000-character
        # paste, a long memory) from pushing the columns around.
        for n, (widget, minimum) in enumerate(
            ((self.sidebar, SIDEBAR_MIN), (self.chat, CHAT_MIN), (self.panel, PANEL_MIN))
        ):
            widget.setMinimumWidth(minimum)
            split.setStretchFactor(n, 1 if widget is self.chat else 0)
        split.setChildrenCollapsible(False)
        split.setHandleWidth(5)
        self.split = split
        self._sized = False
        self._shown_once = False
        self.setCentralWidget(split)
        try:
            self.ui_state = QSettings(str(paths.data_dir() / "window.ini"), QSettings.Format.IniFormat)
        except GlassmindError:
            self.ui_state = QSettings()  # the reader says what is wrong with the data folder

        self.model_label = QLabel("Starting…")
        self.backend_label = QLabel("")
        self.speed_label = QLabel("")
        self.context_label = QLabel("")
        for w in (self.model_label, self.backend_label, self.speed_label, self.context_label):
            w.setObjectName("statusField")
            self.statusBar().addPermanentWidget(w)
        self.panel_button = QToolButton()
        self.panel_button.setObjectName("panelToggle")
        self.panel_button.setText("Memory panel")
        self.panel_button.setCheckable(True)
        self.panel_button.setChecked(True)
        self.panel_button.setToolTip("Show or hide the memory panel (Ctrl+Shift+M)")
        self.statusBar().addPermanentWidget(self.panel_button)
        self.statusBar().showMessage("Loading the model in the background…")

        settings_action = QAction("Settings…", self)
        # Linux desktops define no Preferences key: Ctrl+, everywhere, as the README promises.
        settings_action.setShortcuts(
            [k for k in QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences) if not k.isEmpty()]
            + [QKeySequence("Ctrl+,")]
        )
        self.stop_action = QAction("Stop the reply", self)
        self.stop_action.setShortcuts([QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+.")])
        self.stop_action.setEnabled(False)
        self.addAction(self.stop_action)
        new_action = QAction("New conversation", self)
        new_action.setShortcut(QKeySequence.StandardKey.New)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        menu = self.menuBar().addMenu("&Glassmind")
        for a in (new_action, settings_action, self.stop_action, quit_action):
            menu.addAction(a)
        view = self.menuBar().addMenu("&View")
        self.panel_action = QAction("Memory panel", self, checkable=True, checked=True)
        self.panel_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        view.addAction(self.panel_action)
        self.addAction(self.panel_action)
        theme_menu = view.addMenu("Theme")
        self.theme_actions = QActionGroup(self)
        for label, key in THEMES:
            action = QAction(label, self, checkable=True)
            action.setData(key)
            self.theme_actions.addAction(action)
            theme_menu.addAction(action)

        self.engine_thread = EngineThread(embedder)
        self.engine = self.engine_thread.engine
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self.header_flow = HeaderFlow(
            self.chat.header, self.reads, self.engine, window=self, conversation=lambda: self.conversation_id,
            saved=self._on_header_prompt_saved, notice=self.chat.show_notice,
        )

        self.engine.status.connect(self._on_engine_status)
        self.engine.loaded.connect(self._on_engine_loaded)
        self.engine.failed.connect(self._on_engine_failed)
        self.engine.context_ready.connect(self._on_engine_context_ready)
        self.engine.turn_started.connect(self._on_engine_turn_started)
        self.engine.tokens.connect(self._on_engine_tokens)
        self.engine.reading.connect(self._on_engine_reading)
        self.engine.warming.connect(self._on_engine_warming)
        self.engine.turn_finished.connect(self._on_engine_turn_finished)
        self.engine.turn_failed.connect(self._on_engine_turn_failed)
        self.engine.too_large.connect(self._on_engine_too_large)
        self.engine.not_sent.connect(self._on_engine_not_sent)
        self.engine.changed.connect(self._on_engine_changed)
        self.reads.opened.connect(self._on_reads_opened)
        self.reads.failed.connect(self._on_reads_failed)
        self.chat.older_requested.connect(self._on_chat_older_requested)
        self.chat.send.connect(self._on_chat_send)
        self.chat.stop.connect(self._on_chat_stop)
        self.chat.message_action.connect(self._on_chat_message_action)
        self.chat.draft_changed.connect(self._on_chat_draft_changed)
        self.chat.message_selected.connect(self._on_chat_message_selected)
        self.panel.operation.connect(self._on_panel_operation)
        self.panel.back_to_next_turn.connect(self._on_panel_back_to_next_turn)
        self.panel.show_message.connect(self._on_panel_show_message)
        self.engine.suggestions_ready.connect(self._on_engine_suggestions_ready)
        self._preview_timer.timeout.connect(self._on_preview_timer_timeout)
        self.sidebar.new_requested.connect(self._on_new_clicked)
        new_action.triggered.connect(self._on_new_clicked)
        settings_action.triggered.connect(self._on_settings_triggered)
        quit_action.triggered.connect(self.close)
        self.stop_action.triggered.connect(self._on_chat_stop)
        self.sidebar.rename_requested.connect(self._on_sidebar_rename_requested)
        self.sidebar.delete_requested.connect(self._on_sidebar_delete_requested)
        self.sidebar.search_changed.connect(self._on_sidebar_search_changed)
        self.sidebar.chosen.connect(self._on_sidebar_chosen)
        self.panel_action.toggled.connect(self._on_panel_action_toggled)
        self.panel_button.toggled.connect(self._on_panel_action_toggled)
        self.theme_actions.triggered.connect(self._on_theme_triggered)

        self._restore_state()
        self.reads.open()  # then the engine starts (_on_reads_opened): the database is opened once at a time

    # -- reading (answers from the reader thread) ------------------------------------------

    def _on_reads_opened(self, error: str) -> None:
        if error:
            self._startup_error = error
            self.chat.show_error(error)
            self.chat.composer.setEnabled(False)
            self.model_label.setText("Not ready")
            return
        self._reload_conversations()
        self.header_flow.refresh_models()  # also when the model then fails to load: another can be picked
        if self._restore_id is not None:
            self.reads.conversation_view(self._restore_id, BATCH, self._on_reads_restored)
        self.engine.start_requested.emit()

    def _on_reads_restored(self, view: ConversationView | None) -> None:
        if view is None or self.conversation_id is not None or self._busy:
            return  # gone since, or the user has moved on already
        self.conversation_id = view.conversation.id
        self.sidebar.select(self.conversation_id)
        self._show_view(view)
        if self._model_info is not None:
            self._request_preview()

    def _on_reads_failed(self, error: str) -> None:
        self.chat.show_error(error)

    def _reload_conversations(self) -> None:
        self._list_request += 1
        wanted = self._list_request
        self.reads.conversations(self.sidebar.search_text() or None,
                                 lambda rows: self._on_reads_conversations(wanted, rows))

    def _on_reads_conversations(self, wanted: int, rows: list[Conversation]) -> None:
        if wanted == self._list_request:
            self.sidebar.show_conversations(rows, self.conversation_id)

    def _load_messages(self, then: Callable[[], None] | None = None) -> None:
        """Show the current conversation's newest messages once they are read; ``then`` runs after."""
        self._view_request += 1
        wanted, cid = self._view_request, self.conversation_id
        if cid is None:
            self.chat.set_messages([], has_older=False)
            if then is not None:
                then()
            return
        self.reads.conversation_view(cid, BATCH, lambda view: self._on_reads_view(wanted, cid, view, then))

    def _drop_pending_views(self) -> None:
        """The chat changes now (a send, a new conversation): a view read before must not replace it."""
        self._view_request += 1

    def _on_reads_view(
        self, wanted: int, cid: int, view: ConversationView | None, then: Callable[[], None] | None
    ) -> None:
        if wanted != self._view_request or cid != self.conversation_id:
            return
        if view is None:  # deleted meanwhile (another window, the CLI)
            self.conversation_id = None
            self.chat.set_messages([], has_older=False)
            self._reload_conversations()
            return
        self._show_view(view)
        if then is not None:
            then()

    def _show_view(self, view: ConversationView) -> None:
        self.chat.set_messages(view.messages, has_older=view.has_older)
        self.header_flow.show_conversation_prompt(view.conversation.system_prompt)
        cards = self.chat.message_cards()
        last = cards[-1].message if cards else None
        if last is not None and last.role == "assistant":
            answers = view.answers
            cards[-1].set_answers(answers if answers is not None and answers.reply_id == last.id else None)

    def _on_chat_older_requested(self, before_id: int) -> None:
        cid = self.conversation_id
        if cid is not None:
            self.reads.older(cid, before_id, BATCH, lambda page: self._on_reads_older(cid, before_id, page))

    def _on_reads_older(self, cid: int, before_id: int, page: MessagePage) -> None:
        if cid == self.conversation_id:
            self.chat.add_older(before_id, page.messages, page.has_older)

    def _request_preview(self, *, leave_past_turn: bool = False) -> None:
        """Ask for the next turn's window; ``leave_past_turn``: the user did something (typed, went
        back, switched) that ends the reading of a past turn's record."""
        if leave_past_turn:
            self._past_turn_shown = False
        self._request_id += 1
        self.engine.context_requested.emit(self._request_id, self.conversation_id, self.chat.composer.toPlainText())

    # -- engine signals ------------------------------------------------------------------

    def _on_engine_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 4000 if text == "Ready" else 0)

    def _on_engine_loaded(self, info: ModelInfo) -> None:
        self._model_info = info
        where = f" on {info.location}" if info.location != "local" else ""
        self.model_label.setText(f"Model: {info.name}{where}" + ("" if info.exact_counts else " (≈ counts)"))
        layers = f", {info.gpu_layers} layers on GPU" if info.gpu_layers else ""
        self.backend_label.setText(f"Backend: {info.backend}{layers}")
        self.context_label.setText(f"Context: – / {info.n_ctx:,}")
        self._request_preview()

    def _on_engine_failed(self, text: str) -> None:
        if self.statusBar().currentMessage().startswith("Applying settings"):
            self.statusBar().clearMessage()
        self.chat.show_error(text)

    def _on_engine_context_ready(self, request_id: int, window: WindowView) -> None:
        if request_id != self._request_id or self._busy:
            return
        self.shown_request = request_id
        if self._past_turn_shown:
            return  # the user is reading a past turn: a preview that arrives late must not replace it
        self.chat.clear_selection()
        self.panel.show_window(window, title="Next turn")
        self._show_context_use(window)

    def _show_context_use(self, window: WindowView) -> None:
        if not window.error:
            self.context_label.setText(f"Context: {window.prompt_tokens:,} / {window.n_ctx:,}")

    def _on_engine_turn_started(self, conversation_id: int, window: WindowView) -> None:
        if self._reply_elsewhere:
            self._reload_conversations()
            return
        if self.conversation_id is None:
            self.conversation_id = conversation_id
            self._reload_conversations()
        if self._reload_on_start and conversation_id == self.conversation_id:
            # Regenerate and edit-and-resend replaced stored messages: show the store, then stream
            # (the tokens that come first wait for it).
            self._reload_on_start = False
            self._held_tokens = []
            self._load_messages(then=self._start_held_stream)
        self.panel.show_window(window, title="This turn")
        self._show_context_use(window)

    def _start_held_stream(self) -> None:
        if self._held_tokens is None:
            return
        self.chat.start_streaming(into_last=self._continuing)
        held, self._held_tokens = "".join(self._held_tokens), None
        self.chat.show_reading(*self._last_reading)
        if held:
            self.chat.append_tokens(held)

    def _on_engine_tokens(self, text: str) -> None:
        if not self._reply_shown():
            return  # the user went to another conversation: the reply is stored all the same
        if self._held_tokens is not None:
            self._held_tokens.append(text)
            return
        self.chat.append_tokens(text)

    def _on_engine_reading(self, done: int, total: int) -> None:
        # In the reply being written, with its numbers and Stop: a slow CPU reads ~50-500 tokens a
        # second, so a long prompt takes minutes before the first token.
        self._last_reading = (done, total)
        if self._held_tokens is None and self._reply_shown():
            self.chat.show_reading(done, total)

    def _on_engine_warming(self, done: int, total: int) -> None:
        # Only worth a word when it takes a while (a short conversation is read in one chunk).
        self.chat.show_warm_up(done, total if total >= WARM_UP_SHOWN else 0)

    def _on_engine_turn_finished(self, conversation_id: int, finished: Finished) -> None:
        self.last_reply = finished
        usage = finished.usage
        shown = self._reply_shown()
        self.chat.finish_streaming()
        self._set_busy(False)
        self.speed_label.setText(f"{usage.decode_tps:.0f} tokens/s · first token {usage.ttft_s:.2f} s")
        if shown:  # else the user is elsewhere: the reply's conversation is stored and listed
            # The turn's window (its retrieved memories) stays on the panel until the user starts
            # the next message; the next turn's preview is one click away.
            self._past_turn_shown = True
            self.panel.offer_next_turn()
            if usage.stop_reason == "cancelled":
                self.chat.show_notice("Stopped; the partial reply is saved.", 5000)
            elif usage.stop_reason == "length":
                self.chat.show_notice("The reply reached its length limit: Continue lets it go on.", 8000)
        if conversation_id == self.conversation_id:
            self._load_messages()
        self._reload_conversations()
        self._request_preview()

    def _on_engine_turn_failed(self, conversation_id: int, error: str) -> None:
        shown = self._reply_shown()
        self._set_busy(False)
        self.chat.show_error(error + " Your message is saved.")
        if shown and self.conversation_id is None and conversation_id >= 0:
            self.conversation_id = conversation_id
        self._reload_conversations()
        self._load_messages()

    def _on_engine_not_sent(self, text: str, error: str) -> None:
        """The message could not be stored (a full disk, say): it goes back in the box, unsent."""
        self._set_busy(False)
        self._load_messages()
        typed_since = self.chat.composer.toPlainText()
        self.chat.composer.setPlainText(text + ("\n\n" + typed_since if typed_since.strip() else ""))
        self.chat.show_error(error + " Your message was not sent: it is back in the message box.")

    def _on_engine_too_large(self, text: str, why: str) -> None:
        """Nothing was stored: give the text back and offer to send the part that fits."""
        self._set_busy(False)
        self._load_messages()
        self.chat.composer.setPlainText(text)
        answer = QMessageBox.question(
            self,
            "Message too long",
            f"{why}\n\nSend the beginning that fits? The full text stays in the message box either way.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._set_busy(True)
            self.chat.begin_reply("(the beginning of your message that fits)")
            self.engine.fitted_turn_requested.emit(self.conversation_id, text)

    def _on_engine_changed(self, what: str) -> None:
        if what == "conversations":
            self._reload_conversations()
        elif what == "memories":
            self.panel.refresh_memories()
            if not self._busy:
                self._request_preview()
        elif what == "messages" and not self._busy:
            self._load_messages()

    # -- user actions ----------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        if not busy:
            self._reload_on_start = False
            self._continuing = False
            self._reply_elsewhere = False
            self._held_tokens = None  # the reply is over: the stored messages show it
        self._last_reading = (0, 0)
        self.chat.set_busy(busy)
        self.header_flow.set_busy(busy)
        self.stop_action.setEnabled(busy)
        self.conversation_view.setEnabled(not busy)

    @property
    def preview_is_latest(self) -> bool:
        """The newest preview the window asked for has come back. Read-only, for tests: nothing on
        screen changes when the panel keeps showing a turn while the preview arrives."""
        return self.shown_request == self._request_id and not self._preview_timer.isActive()

    def _reply_shown(self) -> bool:
        """The reply being written belongs to the conversation on screen."""
        return not self._reply_elsewhere

    def _on_chat_send(self, text: str) -> None:
        if self._busy:
            # The message stays in the box; say why it did not go (it used to be silently ignored).
            self.chat.show_notice(
                "A reply is still being written: your message stays in the box until it is done (Esc stops it).",
                6000,
            )
            return
        self.engine.suggest_cancel.set()
        self._set_busy(True)
        self._past_turn_shown = False
        self._preview_timer.stop()
        self.chat.show_error("")
        self.chat.composer.clear()
        self._drop_pending_views()
        self.chat.begin_reply(text)
        self.engine.turn_requested.emit(self.conversation_id, text)

    def _on_chat_stop(self) -> None:
        self.engine.cancel.set()

    def _on_chat_draft_changed(self, _text: str) -> None:
        self.engine.suggest_cancel.set()  # typing: a suggestion run gives way
        self.engine.pause_warm_up()  # and so does reading ahead: the preview must not wait
        if not self._busy:
            self._past_turn_shown = False  # the next message begins: its preview replaces the last turn's
            self._preview_timer.start()

    def _on_preview_timer_timeout(self) -> None:
        if not self._busy:
            self._request_preview(leave_past_turn=True)

    def _on_chat_message_selected(self, message_id: int) -> None:
        self.reads.past_turn(message_id, self._on_reads_past_turn)

    def _on_reads_past_turn(self, turn: PastTurn | None) -> None:
        if turn is None:
            self.chat.show_notice("No context window was recorded for that message.", 4000)
            return
        self._past_turn_shown = True
        self.panel.show_window(turn.window, title=f"Turn of {turn.created[:16].replace('T', ' ')}", live=False)

    def _on_chat_message_action(self, action: str, message_id: int) -> None:
        if action == "copy":
            self.chat.show_notice("Copied.", 2000)
        elif action == "remember":
            self.engine.operation_requested.emit(Remember(message_id))
            self.chat.show_notice("Saved as a memory.", 3000)
        elif action in ("exclude", "include"):
            self.engine.operation_requested.emit(ExcludeMessage(message_id, excluded=action == "exclude"))
        elif action == "alternative" and not self._busy:
            self.engine.operation_requested.emit(ChooseAlternative(message_id))  # the answer to show
        elif action == "copied_code":
            self.chat.show_notice("Code copied.", 2000)
        elif action in ("regenerate", "continue") and not self._busy and self.conversation_id is not None:
            self._set_busy(True)
            self._reload_on_start = True
            self._continuing = action == "continue"
            if action == "regenerate":
                self.engine.regenerate_requested.emit(self.conversation_id)
            else:
                self.engine.continue_requested.emit(self.conversation_id)
        elif action == "edit" and not self._busy:
            self.reads.message(message_id, self._on_reads_message_to_edit)

    def _on_reads_message_to_edit(self, message: Message | None) -> None:
        if message is None:
            self.chat.show_notice("That message is gone (forgotten or deleted).", 4000)
            return
        if self._busy:
            return
        text, ok = ask_text(
            self, "Edit and resend",
            "Your message. This message and every message after it are replaced, and erased for good; "
            "the model answers the new text.",
            message.content,
        )
        if ok and text.strip() and not self._busy:
            self._set_busy(True)
            self._reload_on_start = True
            self.engine.edit_resend_requested.emit(message.id, text.strip())

    def _on_panel_operation(self, command: Curation) -> None:
        self.engine.operation_requested.emit(command)

    def _on_engine_suggestions_ready(self, rows: list[Any]) -> None:
        self.panel.show_suggestions(rows)

    def _on_panel_show_message(self, message_id: int) -> None:
        """A suggestion's source: open its conversation and mark the message."""
        if not self._busy:
            self.reads.message(message_id, self._on_reads_source_message)

    def _on_reads_source_message(self, message: Message | None) -> None:
        if message is None:
            self.chat.show_notice("That message is gone (forgotten or deleted).", 4000)
            return
        if self._busy:
            return
        if message.conversation_id == self.conversation_id:
            self._mark_message(message.id)
            return
        self.conversation_id = message.conversation_id
        self._reload_conversations()
        self._load_messages(then=lambda: self._mark_message(message.id))
        self._request_preview(leave_past_turn=True)

    def _mark_message(self, message_id: int) -> None:
        if not self.chat.show_message(message_id):
            self.chat.show_notice("The message is further up: scroll up to load it.", 4000)

    def _on_panel_back_to_next_turn(self) -> None:
        self._request_preview(leave_past_turn=True)

    def _on_new_clicked(self) -> None:
        if self._busy:
            # The reply goes on, stored in its conversation; the chat shows the new, empty one.
            self._reply_elsewhere = True
            self._held_tokens = None
        self.conversation_id = None
        self.sidebar.select(None)
        self._drop_pending_views()
        self.chat.set_messages([], has_older=False)
        self.header_flow.show_conversation_prompt(None)
        self.chat.composer.setFocus()
        self._request_preview(leave_past_turn=True)

    def _on_header_prompt_saved(self, conversation_id: int) -> None:
        """A system prompt was saved: a conversation made for it (set before the first message) is
        the open one now; the next turn's window shows the prompt."""
        if self.conversation_id is None and not self._busy:
            self.conversation_id = conversation_id
            self._reload_conversations()
        if conversation_id == self.conversation_id:
            self._request_preview(leave_past_turn=True)

    def _on_sidebar_search_changed(self, _text: str) -> None:
        self._reload_conversations()

    def _on_sidebar_chosen(self, cid: int) -> None:
        if cid == self.conversation_id or self._busy:
            return
        self.conversation_id = cid
        self._load_messages()
        self._request_preview(leave_past_turn=True)

    def _on_sidebar_rename_requested(self, cid: int) -> None:
        self.reads.conversation(cid, self._on_reads_conversation_to_rename)

    def _on_reads_conversation_to_rename(self, conversation: Conversation | None) -> None:
        if conversation is None:
            self._reload_conversations()  # deleted meanwhile: the list catches up
            return
        title, ok = ask_text(self, "Rename conversation", "Title:", conversation.title, single_line=True)
        if ok and title.strip():
            self.engine.operation_requested.emit(RenameConversation(conversation.id, title.strip()))

    def _on_sidebar_delete_requested(self, cid: int) -> None:
        if not self._busy:
            self.reads.conversation(cid, self._on_reads_conversation_to_delete)

    def _on_reads_conversation_to_delete(self, conversation: Conversation | None) -> None:
        if conversation is None:
            self._reload_conversations()
            return
        if self._busy:
            return
        answer = QMessageBox.question(
            self,
            "Delete conversation?",
            f"Delete “{conversation.title}” and erase its messages from memory for good? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes and not self._busy:
            if conversation.id == self.conversation_id:
                self._on_new_clicked()
            self.engine.operation_requested.emit(DeleteConversation(conversation.id))

    def _on_settings_triggered(self) -> None:
        if not self._startup_error and not self._settings_asked:
            self._settings_asked = True  # one dialog, however often the shortcut is pressed
            self.reads.settings(self._on_reads_settings)

    def _on_reads_settings(self, view: SettingsView) -> None:
        from models.registry import ModelRegistry

        self._settings_asked = False
        dialog = SettingsDialog(view.settings, ModelRegistry(paths.data_dir()), self, models=view.models,
                                servers=view.servers)
        accepted = dialog.exec()
        self.header_flow.refresh_models()  # a server added or removed there joins or leaves the switcher
        if accepted:
            self.statusBar().showMessage("Applying settings…")
            self.engine.settings_requested.emit(dialog.result_settings())

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop a running reply (the core keeps it as a partial reply) and close the core cleanly."""
        if not self._startup_error:
            self._save_state()
        self.hide()  # the window goes at once; the engine may still finish loading a model
        self._preview_timer.stop()
        if not self.engine_thread.stop():
            # Still inside a slow step (loading the embedder): waiting is better than a thread torn
            # down mid-write, which would lose data or abort the process.
            self.engine_thread.thread.wait()
        self.reads.stop()
        # Engine and reader signals already queued for this window have nothing to go to.
        QCoreApplication.removePostedEvents(self)
        QCoreApplication.removePostedEvents(self.reads)
        event.accept()
