"""Settings: model, context size, GPU layers, temperature, reply length, system prompt, memory budget."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from assistant.settings import Settings
from models.errors import GlassmindError
from models.registry import ModelRegistry

ADD_ITEM = "Add GGUF file…"


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, registry: ModelRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._registry = registry
        self._settings = settings
        form = QFormLayout(self)
        self.model = QComboBox()
        self._fill_models(settings.model)
        self.model.activated.connect(self._on_model_activated)
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(0, 1_048_576)
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setSpecialValueText("Automatic (trained size, at most 8,192)")
        self.n_ctx.setValue(settings.n_ctx or 0)
        self.gpu = QSpinBox()
        self.gpu.setRange(-1, 999)
        self.gpu.setSpecialValueText("All layers (when the build has a GPU)")
        self.gpu.setValue(-1 if settings.gpu_layers is None else settings.gpu_layers)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(settings.temperature)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(16, 32768)
        self.max_tokens.setValue(settings.max_tokens)
        self.memory_budget = QSpinBox()
        self.memory_budget.setRange(0, 65536)
        self.memory_budget.setSingleStep(128)
        self.memory_budget.setSpecialValueText("Off (no retrieval)")
        self.memory_budget.setValue(settings.memory_budget)
        self.system_prompt = QPlainTextEdit(settings.system_prompt)
        self.system_prompt.setFixedHeight(96)
        form.addRow("Model", self.model)
        form.addRow("Context size", self.n_ctx)
        form.addRow("GPU layers", self.gpu)
        form.addRow("Temperature", self.temperature)
        form.addRow("Max reply tokens", self.max_tokens)
        form.addRow("Memory budget (tokens)", self.memory_budget)
        form.addRow("System prompt", self.system_prompt)
        note = QLabel("GPU layers: 0 runs on the CPU. Changing the model, context or GPU layers reloads the model.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _fill_models(self, current: str | None) -> None:
        self.model.clear()
        for e in self._registry.entries():
            label = f"{e.name}  ({e.parameters / 1e6:.0f}M, {e.quantization}, {e.size_bytes / 2**20:.0f} MiB)"
            if e.error:
                label += "  — unusable"
            self.model.addItem(label, None if e.default else e.path)
            if (current is None and e.default) or current in (e.path, e.name):
                self.model.setCurrentIndex(self.model.count() - 1)
        self.model.addItem(ADD_ITEM, ADD_ITEM)

    def _on_model_activated(self, index: int) -> None:
        if self.model.itemData(index) != ADD_ITEM:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", "", "GGUF models (*.gguf)")
        if not path:
            self.model.setCurrentIndex(0)
            return
        try:
            entry = self._registry.add(path)
        except GlassmindError as exc:
            QMessageBox.warning(self, "Cannot use this file", str(exc))
            self.model.setCurrentIndex(0)
            return
        self._fill_models(entry.path)

    def _on_buttons_accepted(self) -> None:
        try:
            self.result_settings().validate()
        except GlassmindError as exc:
            QMessageBox.warning(self, "Settings", str(exc))
            return
        self.accept()

    def result_settings(self) -> Settings:
        return dataclasses.replace(
            self._settings,
            model=self.model.currentData(),
            n_ctx=self.n_ctx.value() or None,
            gpu_layers=None if self.gpu.value() < 0 else self.gpu.value(),
            temperature=round(self.temperature.value(), 2),
            max_tokens=self.max_tokens.value(),
            memory_budget=self.memory_budget.value(),
            retrieval=self.memory_budget.value() > 0,
            system_prompt=self.system_prompt.toPlainText().strip() or self._settings.system_prompt,
        )
