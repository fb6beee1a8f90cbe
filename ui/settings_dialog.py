"""Settings: model (with its details and a Models… catalogue), chat format, context size, GPU layers, threads,
flash attention, temperature, reply length, system prompt, memory budget.

Context size, GPU layers, temperature and chat format belong to the model: choosing another model
shows the values it had last time (Settings.for_model), and OK remembers them (Settings.remember).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from assistant.settings import Settings
from models.catalog import DEFAULT_N_CTX, judge
from models.errors import GlassmindError
from models.registry import ModelEntry, ModelRegistry
from models.servers import ServerEntry
from models.system import MachineMemory, machine_memory
from models.templates import LABELS, suggest
from ui.server_dialog import server_label

if TYPE_CHECKING:
    from ui.models_dialog import ModelsDialog

ADD_ITEM = "Add GGUF file…"
OWN_TEMPLATE = "The model's own chat template"


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        parent: QWidget | None = None,
        *,
        memory: MachineMemory | None = None,
        gpu_offload: bool | None = None,
        models: Sequence[ModelEntry] | None = None,
        servers: Sequence[ServerEntry] = (),
    ) -> None:
        """``models``: the registry's entries, already read (the main window reads them on its reader
        thread: listing parses each GGUF file's header); None: listed here."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self._registry = registry
        self._settings = settings
        self._entries: dict[str | None, ModelEntry] = {}
        self._filling = False
        self._gpu = gpu_offload
        self._memory = memory
        self.models_dialog: ModelsDialog | None = None
        # The fields scroll, the buttons stay: on a small screen (1024x700) nothing is drawn over
        # anything else, and OK is always in reach.
        self.body = QWidget()
        form = QFormLayout(self.body)
        self.model = QComboBox()
        self.models_button = QPushButton("Models…")
        self.models_button.setToolTip("Download a better model from a curated catalogue, or from any .gguf URL")
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.models_button)
        self.details = QLabel()
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        self.chat_format = QComboBox()
        self._formats = QStandardItemModel(self.chat_format)
        self.chat_format.setModel(self._formats)
        self.chat_format.addItem(OWN_TEMPLATE, None)
        for name, label in LABELS.items():
            self.chat_format.addItem(label, name)
        self.template_note = QLabel()
        self.template_note.setWordWrap(True)
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(0, 1_048_576)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setSpecialValueText("Automatic (trained size, at most 8,192)")
        self.gpu = QSpinBox()
        self.gpu.setRange(-1, 999)
        self.gpu.setSpecialValueText("All layers (when the build has a GPU)")
        self.threads = QSpinBox()
        self.threads.setRange(0, 1024)
        self.threads.setSpecialValueText("Automatic (physical cores; one on a 2-core machine)")
        self.threads.setValue(settings.threads)
        self.flash_attn = QComboBox()
        for label, value in (("Automatic (on with a GPU)", None), ("On", True), ("Off", False)):
            self.flash_attn.addItem(label, value)
        self.flash_attn.setCurrentIndex(self.flash_attn.findData(settings.flash_attn))
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        # Sampling beyond the temperature, kept per model like it (what LM Studio and Jan offer).
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setToolTip("Top-p: pick among the likeliest tokens that together hold this much probability")
        self.min_p = QDoubleSpinBox()
        self.min_p.setRange(0.0, 0.99)
        self.min_p.setSingleStep(0.01)
        self.min_p.setToolTip("Min-p: leave out tokens less likely than this share of the likeliest one (0: off)")
        self.repeat_penalty = QDoubleSpinBox()
        self.repeat_penalty.setRange(1.0, 2.0)
        self.repeat_penalty.setSingleStep(0.05)
        self.repeat_penalty.setToolTip("Repeat penalty: how much less likely a token already used becomes (1: off)")
        sampling_row = QHBoxLayout()
        for label, box in (("Top-p", self.top_p), ("Min-p", self.min_p), ("Repeat penalty", self.repeat_penalty)):
            sampling_row.addWidget(QLabel(label))
            sampling_row.addWidget(box)
        sampling_row.addStretch(1)
        self.fit = QLabel()
        self.fit.setObjectName("muted")
        self.fit.setWordWrap(True)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(16, 32768)
        self.max_tokens.setValue(settings.max_tokens)
        self.memory_budget = QSpinBox()
        self.memory_budget.setRange(0, 65536)
        self.memory_budget.setSingleStep(128)
        self.memory_budget.setSpecialValueText("Off (no retrieval)")
        self.memory_budget.setValue(settings.memory_budget)
        self.suggest_notes = QCheckBox("Suggest notes after each reply")
        self.suggest_notes.setToolTip("Off: the model is never asked to propose notes (no work after a reply)")
        self.suggest_notes.setChecked(bool(getattr(settings, "suggest_notes", True)))
        self.auto_approve = QCheckBox("Keep suggested notes without asking")
        self.auto_approve.setToolTip("Off: suggested notes wait in the Suggested tab for you to approve or reject")
        self.auto_approve.setChecked(bool(getattr(settings, "auto_approve", False)))
        self.system_prompt = QPlainTextEdit(settings.system_prompt)
        self.system_prompt.setFixedHeight(96)
        form.addRow("Model", model_row)
        form.addRow("", self.details)
        form.addRow("Chat format", self.chat_format)
        form.addRow("", self.template_note)
        form.addRow("Context size", self.n_ctx)
        form.addRow("GPU layers", self.gpu)
        form.addRow("", self.fit)
        form.addRow("Threads", self.threads)
        form.addRow("Flash attention", self.flash_attn)
        form.addRow("Temperature", self.temperature)
        form.addRow("Sampling", sampling_row)
        form.addRow("Max reply tokens", self.max_tokens)
        form.addRow("Memory budget (tokens)", self.memory_budget)
        form.addRow("Suggested notes", self.suggest_notes)
        form.addRow("", self.auto_approve)
        form.addRow("System prompt", self.system_prompt)
        note = QLabel(
            "Context size, GPU layers, temperature, sampling and chat format are kept per model. GPU layers: 0 runs on "
            "the CPU. Changing the model, context, GPU layers, chat format, threads or flash attention reloads "
            "the model."
        )
        note.setObjectName("muted")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.fields_area = QScrollArea()
        self.fields_area.setWidgetResizable(True)
        self.fields_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.fields_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.fields_area.setWidget(self.body)
        outer = QVBoxLayout(self)
        outer.addWidget(self.fields_area, 1)
        outer.addWidget(buttons)

        # The models listed: read once (listing parses each GGUF file's header); a file added or
        # downloaded here joins the list with the entry read for it.
        self._models: list[ModelEntry] = list(registry.entries() if models is None else models)
        self._servers: dict[str, ServerEntry] = {e.name: e for e in servers}  # model servers, by name
        self._fill_models(settings.model)
        self._show_model_values(settings)
        self.model.activated.connect(self._on_model_activated)
        self.model.currentIndexChanged.connect(self._on_model_current_index_changed)
        self.models_button.clicked.connect(self._on_models_button_clicked)
        self.chat_format.currentIndexChanged.connect(self._on_chat_format_current_index_changed)
        self.n_ctx.valueChanged.connect(self._on_n_ctx_value_changed)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        self._fit_to_screen(buttons.sizeHint().height())

    def _fit_to_screen(self, buttons_height: int) -> None:
        """As tall as the fields need, at most the screen's free height (the rest scrolls)."""
        parent = self.parentWidget()
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        # Polished now, not at show: the app's style sheet pads buttons and fields, and a size taken
        # from unpolished hints leaves them sticking out at the sides on a 1024 px screen.
        for widget in (self, *self.findChildren(QWidget)):
            widget.ensurePolished()
        self.body.layout().activate()  # type: ignore[union-attr]
        hint = self.body.sizeHint().expandedTo(self.body.minimumSizeHint())
        layout = self.layout()
        assert layout is not None
        margins = layout.contentsMargins()
        width = max(self.minimumWidth(), hint.width() + margins.left() + margins.right() + 24)
        height = hint.height() + buttons_height + margins.top() + margins.bottom() + 12
        if screen is not None:
            area = screen.availableGeometry()
            width = min(width, area.width() - 40)
            height = min(height, area.height() - 60)  # room for the title bar
        self.resize(width, height)

    # -- the model picker ------------------------------------------------------------------

    def _fill_models(self, current: str | None) -> None:
        self._filling = True
        try:
            self.model.clear()
            self._entries.clear()
            for e in self._models:
                label = f"{e.name}  ({e.parameters / 1e6:,.0f}M, {e.quantization}, {e.size_bytes / 2**20:,.0f} MiB)"
                if e.error:
                    label += "  — unusable"
                elif not e.has_chat_template:
                    label += "  — no chat template"
                key = None if e.default else e.path
                self._entries[key] = e
                self.model.addItem(label, key)
                if (current is None and e.default) or current in (e.path, e.name):
                    self.model.setCurrentIndex(self.model.count() - 1)
            for server in self._servers.values():
                self.model.addItem(server_label(server), server.name)
                if current == server.name:
                    self.model.setCurrentIndex(self.model.count() - 1)
            self.model.addItem(ADD_ITEM, ADD_ITEM)
        finally:
            self._filling = False

    def _entry(self) -> ModelEntry | None:
        return self._entries.get(self.model.currentData())

    def _show_model_values(self, settings: Settings) -> None:
        """Put a model's own values (context, GPU layers, temperature, chat format) in the fields."""
        self.n_ctx.setValue(settings.n_ctx or 0)
        self.gpu.setValue(-1 if settings.gpu_layers is None else settings.gpu_layers)
        self.temperature.setValue(settings.temperature)
        self.top_p.setValue(settings.top_p)
        self.min_p.setValue(settings.min_p)
        self.repeat_penalty.setValue(settings.repeat_penalty)
        entry = self._entry()
        chosen = settings.chat_template
        if chosen is None and entry is not None and not entry.has_chat_template and not entry.error:
            chosen = suggest(entry.architecture)  # a file without a template needs one: propose the likeliest
        self.chat_format.setCurrentIndex(max(0, self.chat_format.findData(chosen)))
        self._show_details()

    def _show_details(self) -> None:
        entry = self._entry()
        own = self._formats.item(0)
        server = self._servers.get(self.model.currentData() or "")
        if entry is None:
            self.details.setText(
                f"Served at {server.url}: the context window is sent there on every turn." if server else ""
            )
            self.template_note.setText("")
            own.setEnabled(True)
            return
        self.details.setText(entry.details())
        own.setEnabled(entry.has_chat_template)
        if not entry.has_chat_template and not entry.error:
            self.template_note.setText(
                f"{entry.name} has no chat template of its own: choose the format it was trained with "
                "(ChatML if unsure)."
            )
        elif self.chat_format.currentData() is not None:
            self.template_note.setText("A chat format replaces the model's own template (use it if that one fails).")
        else:
            self.template_note.setText("")
        self._show_fit()

    def _show_fit(self) -> None:
        entry = self._entry()
        if entry is None or entry.error or not entry.kv_bytes_per_token:
            self.fit.setText("")
            return
        if self._memory is None:
            if self._gpu is None:
                from models.llama import (
                    gpu_offload_supported,  # already loaded by the engine thread
                )

                self._gpu = gpu_offload_supported()
            self._memory = machine_memory(with_gpu=self._gpu)
        n_ctx = self.n_ctx.value() or min(entry.context_length or DEFAULT_N_CTX, DEFAULT_N_CTX)
        verdict = judge(entry.size_bytes, entry.kv_cache_bytes(n_ctx), n_ctx, self._memory, gpu_offload=bool(self._gpu))
        self.fit.setText(f"This machine: {verdict.describe()}.")

    def _collect(self) -> Settings:
        """The settings the fields show, for the model they show."""
        return dataclasses.replace(
            self._settings,
            model=self.model.currentData() if self.model.currentData() != ADD_ITEM else self._settings.model,
            n_ctx=self.n_ctx.value() or None,
            gpu_layers=None if self.gpu.value() < 0 else self.gpu.value(),
            temperature=round(self.temperature.value(), 2),
            top_p=round(self.top_p.value(), 2),
            min_p=round(self.min_p.value(), 2),
            repeat_penalty=round(self.repeat_penalty.value(), 2),
            chat_template=self.chat_format.currentData(),
            max_tokens=self.max_tokens.value(),
            memory_budget=self.memory_budget.value(),
            retrieval=self.memory_budget.value() > 0,
            system_prompt=self.system_prompt.toPlainText().strip() or self._settings.system_prompt,
            threads=self.threads.value(),
            auto_approve=self.auto_approve.isChecked(),
            suggest_notes=self.suggest_notes.isChecked(),
            flash_attn=self.flash_attn.currentData(),
        )

    def _on_model_current_index_changed(self, _index: int) -> None:
        if self._filling or self.model.currentData() == ADD_ITEM:
            return
        # Note the values of the model the fields showed, then show the newly chosen one's.
        shown = self._settings
        self._settings = dataclasses.replace(self._collect(), model=shown.model).for_model(self.model.currentData())
        self._show_model_values(self._settings)

    def _on_model_activated(self, index: int) -> None:
        if self.model.itemData(index) != ADD_ITEM:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", "", "GGUF models (*.gguf)")
        if not path:
            self._select(self._settings.model)
            return
        try:
            entry = self._registry.add(path)
        except GlassmindError as exc:
            QMessageBox.warning(self, "Cannot use this file", str(exc))
            self._select(self._settings.model)
            return
        self._add_entry(entry)
        self._fill_models(self._settings.model)
        self._select(entry.path)

    def _add_entry(self, entry: ModelEntry) -> None:
        """List a newly added or downloaded model (in place of an older entry for the same file)."""
        known = [e.path for e in self._models]
        if entry.path in known:
            self._models[known.index(entry.path)] = entry
        elif entry.source == "models_dir":
            # Where a fresh listing puts it: among the models folder's files, by name.
            at = next((n for n, e in enumerate(self._models) if e.source == "added"
                       or (e.source == "models_dir" and e.path > entry.path)), len(self._models))
            self._models.insert(at, entry)
        else:
            self._models.append(entry)

    def _select(self, model: str | None) -> None:
        index = self.model.findData(model)
        self.model.setCurrentIndex(max(index, 0))

    def _on_models_button_clicked(self) -> None:
        from ui.models_dialog import ModelsDialog

        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(
                self._registry, memory=self._memory, gpu_offload=self._gpu, n_ctx=self.n_ctx.value() or None,
                parent=self,
            )
            self.models_dialog.installed.connect(self._on_models_dialog_installed)
            self.models_dialog.servers_changed.connect(self._on_models_dialog_servers_changed)
        self.models_dialog.open()

    def _on_models_dialog_installed(self, entry: ModelEntry) -> None:
        """A new model is in the registry: list it and choose it (OK applies it)."""
        current = self.model.currentData()
        self._add_entry(entry)
        self._fill_models(current)
        self._select(entry.path)

    def _on_models_dialog_servers_changed(self, entries: list[ServerEntry]) -> None:
        """A server was added or removed: list the servers there are now (the choice stays if it can)."""
        current = self.model.currentData()
        self._servers = {e.name: e for e in entries}
        self._fill_models(current)
        self._select(current)

    def _on_chat_format_current_index_changed(self, _index: int) -> None:
        self._show_details()

    def _on_n_ctx_value_changed(self, _value: int) -> None:
        self._show_fit()

    def _on_buttons_accepted(self) -> None:
        try:
            self.result_settings().validate()
        except GlassmindError as exc:
            QMessageBox.warning(self, "Settings", str(exc))
            return
        self.accept()

    def done(self, result: int) -> None:
        if self.models_dialog is not None:
            self.models_dialog.stop()
        super().done(result)

    def result_settings(self) -> Settings:
        return self._collect().remember()
