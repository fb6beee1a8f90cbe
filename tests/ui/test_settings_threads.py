"""Settings → Threads and Flash attention: typed and chosen in the dialog, stored, and used by the next model load."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from assistant.settings import Settings
from models.registry import ModelRegistry
from models.system import MachineMemory
from tests.runtimes import local
from ui.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from assistant.app import Assistant

MEMORY = MachineMemory(total_bytes=8 * 2**30, available_bytes=4 * 2**30)


def test_threads_typed_in_the_dialog_are_saved_and_used(qtbot: QtBot, glassmind_home: Path, assistant: Assistant) -> None:
    dialog = SettingsDialog(Settings(), ModelRegistry(glassmind_home), memory=MEMORY, gpu_offload=False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.threads.value() == 0 and dialog.threads.text().startswith("Automatic")
    assert dialog.flash_attn.currentData() is None

    dialog.threads.lineEdit().selectAll()
    qtbot.keyClicks(dialog.threads, "3")
    dialog.flash_attn.setCurrentIndex(dialog.flash_attn.findData(False))
    with qtbot.waitSignal(dialog.accepted):
        box = dialog.findChild(QDialogButtonBox)
        assert box is not None
        qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    chosen = dialog.result_settings()
    assert (chosen.threads, chosen.flash_attn) == (3, False)
    again = Settings.from_json(chosen.to_json())
    assert (again.threads, again.flash_attn, again.problems) == (3, False, [])

    # Saving them reloads the model with those threads (prompt batches get at least as many).
    assistant._model = None  # the session's shared model stays untouched
    assistant.save_settings(again)
    model = local(assistant.load_model())
    try:
        assert model.n_threads == 3 and model.n_threads_batch >= 3 and model.flash_attn is False
    finally:
        assistant.unload_model()


def test_bad_stored_threads_fall_back_to_automatic() -> None:
    settings = Settings.from_json({"threads": -2, "flash_attn": "yes"})
    assert (settings.threads, settings.flash_attn) == (0, None)
    assert len(settings.problems) == 2
