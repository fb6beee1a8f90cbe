"""The chat's header: the model that writes the replies (a switcher) and the conversation's system prompt.

``ChatHeader`` is the widget; ``HeaderFlow`` connects it to the reader (the model list, the prompts)
and the engine (loading a model goes the way Settings does: the same request, the same progress
and failure messages, the previous model kept when the new one cannot load).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QFrame, QHBoxLayout, QPushButton, QSizePolicy, QWidget

from assistant.app import ModelInfo
from assistant.reading import SettingsView, SystemPromptView
from models.registry import ModelEntry
from models.servers import ServerEntry
from ui.engine import Engine, PromptSaved
from ui.reader import Reads
from ui.server_dialog import server_label
from ui.system_prompt_dialog import SystemPromptDialog

PROMPT_DEFAULT = "System prompt…"
PROMPT_OWN = "System prompt (own)…"


def model_key(entry: ModelEntry) -> str | None:
    """How the settings name a model: None for the bundled default, else its path (as Settings does)."""
    return None if entry.default else entry.path


class ChatHeader(QFrame):
    """A compact model switcher and the "System prompt…" button, above the messages.

    Signals:
        model_chosen(object): the user picked another model (its key: None for the bundled default,
            else its path).
        system_prompt_clicked(): the user asked for the conversation's system prompt.
    """

    model_chosen = Signal(object)
    system_prompt_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatHeader")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(18, 8, 18, 4)
        lay.setSpacing(8)
        self.model = QComboBox()
        self.model.setToolTip("The model that writes the replies: pick another to load it")
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(14)
        self.model.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model.setMaximumWidth(320)
        self.model.setEnabled(False)  # until the list is read
        self.prompt_button = QPushButton(PROMPT_DEFAULT)
        self.prompt_button.setToolTip("This conversation's system prompt: what the model reads first")
        lay.addWidget(self.model, 1)
        lay.addStretch(0)
        lay.addWidget(self.prompt_button)
        self._current: str | None = None
        self._filling = False
        self.model.activated.connect(self._on_model_activated)
        self.prompt_button.clicked.connect(self.system_prompt_clicked)

    def set_models(
        self, entries: Sequence[ModelEntry], current: str | None, servers: Sequence[ServerEntry] = ()
    ) -> None:
        """List ``entries`` and then ``servers`` ("name on host:port", chosen by name) with ``current``
        (a settings' model: None, a name or a path) selected."""
        self._filling = True
        try:
            self.model.clear()
            self._current = None
            for e in entries:
                key = model_key(e)
                self.model.addItem(e.name + ("  — unusable" if e.error else ""), key)
                n = self.model.count() - 1
                self.model.setItemData(n, e.error or f"{e.name}: {e.path}", Qt.ItemDataRole.ToolTipRole)
                if (current is None and e.default) or current in (e.path, e.name):
                    self.model.setCurrentIndex(n)
                    self._current = key
            for server in servers:
                self.model.addItem(server_label(server), server.name)
                n = self.model.count() - 1
                self.model.setItemData(n, f"{server.name}: served at {server.url}", Qt.ItemDataRole.ToolTipRole)
                if current == server.name:
                    self.model.setCurrentIndex(n)
                    self._current = server.name
        finally:
            self._filling = False
        self.model.setEnabled(self.model.count() > 1)
        self.model.setToolTip(
            "The model that writes the replies: pick another to load it" if self.model.count() > 1 else
            "The only model installed: add or download others in Settings (Ctrl+,)"
        )

    def current_key(self) -> str | None:
        return self._current

    def set_switching(self, switching: bool) -> None:
        """While a model loads (or a reply streams) the switcher waits."""
        self.model.setEnabled(not switching and self.model.count() > 1)

    def set_own_prompt(self, own: bool) -> None:
        self.prompt_button.setText(PROMPT_OWN if own else PROMPT_DEFAULT)

    def _on_model_activated(self, index: int) -> None:
        key = self.model.itemData(index)
        if self._filling or key == self._current:
            return
        self.model_chosen.emit(key)


class HeaderFlow(QObject):
    """What the header's two controls do, between the window, the reader and the engine.

    ``conversation()`` gives the open conversation (None: a new one, not stored yet); ``saved(id)``
    follows a prompt saved for a conversation (one the engine made for it, when it was set before
    the first message: the window opens it); ``notice(text)`` shows a line where the eye is (empty: take it away).
    """

    def __init__(
        self,
        header: ChatHeader,
        reads: Reads,
        engine: Engine,
        *,
        window: QWidget,
        conversation: Callable[[], int | None],
        saved: Callable[[int], None],
        notice: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self.header = header
        self._reads = reads
        self._engine = engine
        self._window = window
        self._conversation = conversation
        self._saved = saved
        self._notice = notice
        self._switching = False
        self._busy = False
        self._asked = False  # one dialog at a time
        header.model_chosen.connect(self._on_header_model_chosen)
        header.system_prompt_clicked.connect(self._on_header_system_prompt_clicked)
        engine.loaded.connect(self._on_engine_loaded)
        engine.failed.connect(self._on_engine_failed)
        engine.system_prompt_saved.connect(self._on_engine_system_prompt_saved)

    def set_busy(self, busy: bool) -> None:
        """A reply streams: no switch meanwhile (the engine would only get to it afterwards)."""
        self._busy = busy
        self.header.set_switching(busy or self._switching)

    def show_conversation_prompt(self, own: str | None) -> None:
        self.header.set_own_prompt(bool(own))

    # -- the model ------------------------------------------------------------------------

    def refresh_models(self) -> None:
        self._reads.settings(self._on_reads_models)

    def _on_reads_models(self, view: SettingsView) -> None:
        self.header.set_models(view.models, view.settings.model, view.servers)
        self.header.set_switching(self._busy or self._switching)

    def _on_header_model_chosen(self, key: str | None) -> None:
        self._switching = True
        self.header.set_switching(True)
        name = self.header.model.currentText()
        self._notice(f"Loading {name}… the model you had stays until this one is ready.")
        # The settings as stored now (not as read when the list was filled): only the model changes,
        # with the values it had last time, exactly as picking it in Settings does.
        self._reads.settings(lambda view: self._engine.settings_requested.emit(view.settings.for_model(key)))

    def _on_engine_loaded(self, _info: ModelInfo) -> None:
        if self._switching:
            self._switching = False
            self._notice("")
        self.refresh_models()

    def _on_engine_failed(self, _text: str) -> None:
        if self._switching:  # the engine goes back to the previous model; the banner says why
            self._switching = False
            self._notice("")
            self.refresh_models()

    # -- the system prompt ----------------------------------------------------------------

    def _on_header_system_prompt_clicked(self) -> None:
        if not self._asked:
            self._asked = True
            self._reads.system_prompt(self._conversation(), self._on_reads_system_prompt)

    def _on_reads_system_prompt(self, view: SystemPromptView, *, error: str = "", text: str | None = None) -> None:
        dialog = SystemPromptDialog(view, self._window, error=error, text=text)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self._asked = False
        if accepted:
            self._engine.system_prompt_requested.emit(view.conversation_id, dialog.result_prompt())

    def _on_engine_system_prompt_saved(self, saved: PromptSaved) -> None:
        if saved.error:
            # Nothing typed is lost: the dialog comes back with the text and why it was not saved.
            cid = saved.conversation_id

            def reopen(view: SystemPromptView) -> None:
                self._on_reads_system_prompt(view, error=saved.error, text=saved.text)

            self._reads.system_prompt(cid, reopen)
            return
        assert saved.conversation_id is not None
        self._saved(saved.conversation_id)
        if saved.conversation_id == self._conversation():
            self.header.set_own_prompt(saved.text is not None)
