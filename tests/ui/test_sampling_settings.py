"""Sampling beyond the temperature (issue 25, item 7): top-p, min-p and the repeat penalty are typed
in Settings, kept per model, and reach llama.cpp on the next turn; older stored settings still open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox

from assistant.settings import Settings
from models.llama import ChatModel
from models.registry import ModelRegistry
from ui.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    import pytest
    from pytestqt.qtbot import QtBot

    from assistant.app import Assistant


def _type(qtbot: QtBot, box: QAbstractSpinBox, text: str) -> None:
    box.setFocus()
    box.selectAll()
    qtbot.keyClick(box, Qt.Key.Key_Delete)
    qtbot.keyClicks(box, text)
    box.interpretText()


def test_sampling_is_typed_in_settings_and_kept_per_model(qtbot: QtBot, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    dialog = SettingsDialog(Settings(), ModelRegistry(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    _type(qtbot, dialog.top_p, "0.8")
    _type(qtbot, dialog.min_p, "0.1")
    _type(qtbot, dialog.repeat_penalty, "1.3")
    chosen = dialog.result_settings()
    assert (chosen.top_p, chosen.min_p, chosen.repeat_penalty) == (0.8, 0.1, 1.3)
    # Another model starts from the defaults; coming back gives this model's values again.
    elsewhere = chosen.for_model(str(other))
    assert (elsewhere.top_p, elsewhere.min_p, elsewhere.repeat_penalty) == (0.95, 0.05, 1.1)
    back = elsewhere.for_model(None)
    assert (back.top_p, back.min_p, back.repeat_penalty) == (0.8, 0.1, 1.3)
    # Stored and read back; settings stored before these existed open with the defaults.
    again = Settings.from_json(back.to_json())
    assert (again.top_p, again.min_p, again.repeat_penalty) == (0.8, 0.1, 1.3) and not again.problems
    old = Settings.from_json({"temperature": 0.5, "per_model": {"x": {"temperature": 0.3}}})
    assert (old.top_p, old.min_p, old.repeat_penalty) == (0.95, 0.05, 1.1) and not old.problems
    bad = Settings.from_json({"top_p": 0.0, "repeat_penalty": "high"})
    assert bad.top_p == 0.95 and bad.repeat_penalty == 1.1 and len(bad.problems) == 2


def test_a_turn_samples_with_the_settings(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    real = type(assistant.model).generate

    def generate(self: ChatModel, prompt: Any, **kwargs: Any) -> Any:  # watches the real call, changes nothing
        seen.append(kwargs)
        return real(self, prompt, **kwargs)

    monkeypatch.setattr(type(assistant.model), "generate", generate)
    assistant.settings.top_p, assistant.settings.min_p, assistant.settings.repeat_penalty = 0.5, 0.2, 1.4
    events = list(assistant.turn(None, "Say hi."))
    assert events and seen
    assert (seen[-1]["top_p"], seen[-1]["min_p"], seen[-1]["repeat_penalty"]) == (0.5, 0.2, 1.4)
