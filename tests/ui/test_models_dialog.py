"""Settings → Models: the catalogue with fit verdicts, a download from a local server with progress,
Cancel and resume, and the downloaded model in the picker; per-model settings in the dialog."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QTableWidgetItem

from assistant.settings import Settings
from models.catalog import CatalogEntry
from models.registry import ModelRegistry
from models.system import MachineMemory
from tests.file_server import SERVED, FileServer, catalog_entry, sha256_of
from ui.models_dialog import ModelsDialog
from ui.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

NAME = SERVED
MEMORY = MachineMemory(total_bytes=8 * 2**30, available_bytes=4 * 2**30)
TIMEOUT = 60_000

pytest_plugins = ("tests.file_server",)  # its fixtures: server, bundled_sha


def _catalog(server: FileServer, bundled_model_path: Path, sha: str) -> list[CatalogEntry]:
    tiny = catalog_entry(server, bundled_model_path, sha)
    huge = replace(tiny, name="huge", title="Huge 70B (test)", size_bytes=40 * 2**30, url=server.url("huge.gguf"))
    return [tiny, huge]


def _dialog(qtbot: QtBot, registry: ModelRegistry, catalog: list[CatalogEntry]) -> ModelsDialog:
    dialog = ModelsDialog(registry, catalog=catalog, memory=MEMORY, gpu_offload=False)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _cell(dialog: ModelsDialog, row: int, column: int) -> QTableWidgetItem:
    item = dialog.table.item(row, column)
    assert item is not None, f"no cell at row {row}, column {column}"
    return item


def _click(qtbot: QtBot, button: QAbstractButton) -> None:
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_catalogue_verdicts_and_a_download_that_lands_in_the_registry(
    qtbot: QtBot, server: FileServer, bundled_model_path: Path, bundled_sha: str, glassmind_home: Path
) -> None:
    registry = ModelRegistry(glassmind_home)
    dialog = _dialog(qtbot, registry, _catalog(server, bundled_model_path, bundled_sha))
    assert _cell(dialog, 0, 5).text() == "✓ fits" and _cell(dialog, 1, 5).text() == "✗ too big"
    assert "needs about" in _cell(dialog, 1, 5).toolTip()
    assert "Tiny Chat" in dialog.details.text() and bundled_sha in dialog.details.text()
    assert server.behaviour.requests == []  # nothing goes out until Download is pressed

    dialog.table.selectRow(0)
    with qtbot.waitSignal(dialog.downloaded, timeout=TIMEOUT) as done:
        _click(qtbot, dialog.download_button)
        assert dialog.cancel_button.isEnabled() and not dialog.url_button.isEnabled()
    path = Path(done.args[0])
    assert path == registry.models_dir / NAME and sha256_of(path) == bundled_sha
    assert _cell(dialog, 0, 6).text() == "Installed" and dialog.download_button.text() == "Installed"
    assert "sha256 verified" in dialog.status.text() and dialog.progress.value() == 1000
    assert not dialog.cancel_button.isEnabled()
    assert any(e.path == str(path) and e.sha256 == bundled_sha for e in registry.entries())


def test_cancel_keeps_the_part_and_download_resumes(
    qtbot: QtBot, server: FileServer, bundled_model_path: Path, bundled_sha: str, glassmind_home: Path
) -> None:
    server.behaviour.bytes_per_s = 30 * 2**20
    registry = ModelRegistry(glassmind_home)
    dialog = _dialog(qtbot, registry, _catalog(server, bundled_model_path, bundled_sha))
    dialog.table.selectRow(0)
    _click(qtbot, dialog.download_button)
    qtbot.waitUntil(lambda: dialog.progress.value() > 100, timeout=TIMEOUT)
    assert "MiB/s" in dialog.status.text() and "left" in dialog.status.text()  # speed and ETA
    _click(qtbot, dialog.cancel_button)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert "cancelled" in dialog.status.text() and "resumes" in dialog.status.text()
    assert _cell(dialog, 0, 6).text().startswith("Partly downloaded")
    kept = (registry.models_dir / (NAME + ".part")).stat().st_size

    server.behaviour.bytes_per_s = None
    with qtbot.waitSignal(dialog.downloaded, timeout=TIMEOUT):
        _click(qtbot, dialog.download_button)
    assert server.behaviour.requests[-1]["range"] == f"bytes={kept}-"
    assert sha256_of(registry.models_dir / NAME) == bundled_sha


def test_urls_that_do_not_lead_to_a_gguf(qtbot: QtBot, server: FileServer, glassmind_home: Path) -> None:
    dialog = _dialog(qtbot, ModelRegistry(glassmind_home), [])
    dialog.url_edit.setText("http://example.invalid/model.gguf")
    _click(qtbot, dialog.url_button)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert "https only" in dialog.status.text()
    assert server.behaviour.requests == []
    server.behaviour.content_type = "text/html"
    dialog.url_edit.setText(server.url("page.gguf"))
    _click(qtbot, dialog.url_button)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)
    assert "not a GGUF model file" in dialog.status.text()


def test_settings_models_button_and_the_new_model_in_the_picker(
    qtbot: QtBot, server: FileServer, bundled_model_path: Path, bundled_sha: str, glassmind_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_file = tmp_path / "catalog.json"
    entries = _catalog(server, bundled_model_path, bundled_sha)
    catalog_file.write_text(json.dumps({"models": [asdict(e) for e in entries]}))
    monkeypatch.setenv("GLASSMIND_CATALOG", str(catalog_file))
    registry = ModelRegistry(glassmind_home)
    settings = SettingsDialog(Settings(), registry, memory=MEMORY, gpu_offload=False)
    qtbot.addWidget(settings)
    settings.show()
    assert "has a chat template" in settings.details.text() and "This machine: fits" in settings.fit.text()
    _click(qtbot, settings.models_button)
    models = settings.models_dialog
    assert models is not None and models.isVisible()
    models.table.selectRow(0)
    with qtbot.waitSignal(models.downloaded, timeout=TIMEOUT):
        _click(qtbot, models.download_button)
    # The picker lists the new model and has chosen it; OK would apply it.
    assert settings.model.currentData() == str(registry.models_dir / NAME)
    assert settings.result_settings().model == str(registry.models_dir / NAME)


def test_context_gpu_layers_temperature_and_chat_format_are_kept_per_model(
    qtbot: QtBot, glassmind_home: Path
) -> None:
    from tests.tiny_gguf import write_tiny_gguf

    registry = ModelRegistry(glassmind_home)
    registry.models_dir.mkdir(parents=True)
    bare = write_tiny_gguf(registry.models_dir / "bare.gguf", chat_template=None)
    start = Settings(n_ctx=2048, gpu_layers=0, temperature=0.3)
    dialog = SettingsDialog(start, registry, memory=MEMORY, gpu_offload=False)
    qtbot.addWidget(dialog)
    dialog.show()

    dialog.model.setCurrentIndex(dialog.model.findData(str(bare)))
    # A model never used: its own defaults (the temperature carries over); no template, so a format is proposed.
    assert (dialog.n_ctx.value(), dialog.gpu.value(), dialog.temperature.value()) == (0, -1, 0.3)
    assert dialog.chat_format.currentData() == "chatml"
    assert not dialog.chat_format.model().item(0).isEnabled()  # type: ignore[attr-defined]  # a QStandardItemModel
    assert "no chat template" in dialog.template_note.text() and "no chat template" in dialog.details.text()
    dialog.n_ctx.setValue(1024)
    dialog.temperature.setValue(0.9)
    dialog.chat_format.setCurrentIndex(dialog.chat_format.findData("llama3"))

    dialog.model.setCurrentIndex(dialog.model.findData(None))  # back to the bundled model: its values again
    assert (dialog.n_ctx.value(), dialog.gpu.value(), dialog.temperature.value()) == (2048, 0, 0.3)
    assert dialog.chat_format.currentData() is None

    dialog.model.setCurrentIndex(dialog.model.findData(str(bare)))
    assert (dialog.n_ctx.value(), dialog.temperature.value(), dialog.chat_format.currentData()) == (1024, 0.9, "llama3")
    result = dialog.result_settings()
    assert result.model == str(bare) and result.n_ctx == 1024 and result.chat_template == "llama3"
    kept = {"n_ctx": 1024, "gpu_layers": None, "temperature": 0.9, "chat_template": "llama3"}
    assert {k: v for k, v in result.per_model["bare"].items() if k in kept} == kept
    # The sampling settings beside the temperature are kept per model too, with their defaults here.
    assert set(result.per_model["bare"]) == {*kept, "top_p", "min_p", "repeat_penalty"}
    assert result.per_model["SmolLM2-135M-Instruct.Q4_1"]["n_ctx"] == 2048
    # Stored and read back, then applied when that model is chosen again.
    again = Settings.from_json(result.to_json()).for_model(None)
    assert (again.n_ctx, again.gpu_layers, again.temperature) == (2048, 0, 0.3)
