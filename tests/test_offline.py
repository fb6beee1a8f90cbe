"""Network only when asked: chatting, memory, settings, the model registry and the catalogue open no
socket. Sockets are left enabled here and every attempt is recorded, so an attempt that some code
would catch and hide (as pytest-socket's refusal could be) still fails the test."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from assistant.app import Assistant, Finished
from assistant.settings import Settings

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    real_socket, real_connect, real_getaddrinfo = socket.socket, socket.create_connection, socket.getaddrinfo

    class Recorded(real_socket):  # type: ignore[misc, valid-type]
        def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
            seen.append(("socket", family))
            super().__init__(family, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(("connect", address))
        return real_connect(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(("resolve", host))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", Recorded)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


def test_chat_memory_settings_and_models_open_no_socket(assistant: Assistant, attempts: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # Chat: a streamed turn on the real model, with retrieval over the real embedder.
    events = list(assistant.turn(None, "Hello! My sister's name is Mira."))
    assert isinstance(events[-1], Finished)
    conv = events[-1].reply.conversation_id
    # Memory: add, search, pin, edit, forget.
    note = assistant.memories.add("Mira lives in Lisbon.")
    assert assistant.retriever.retrieve("Where does Mira live?", budget=256).hits
    assistant.memories.set_pinned([note.id], True)
    assistant.memories.edit(note.id, "Mira lives in Porto.")
    assistant.memories.forget([note.id])
    assistant.context(conv, "And her job?")
    # Settings: per-model values saved and read back.
    changed = assistant.settings.for_model(None)
    changed.temperature = 0.4
    assistant.save_settings(changed.remember())
    assert Settings.from_json(assistant.store.get_setting("settings")).per_model
    # Models: the registry with header details, the catalogue and its verdicts (CLI too).
    from assistant.cli import main
    from models.catalog import load_catalog
    from models.system import machine_memory

    assert assistant.registry.entries()[0].details()
    memory = machine_memory()
    assert all(e.fit(memory).verdict for e in load_catalog())
    assert main(["models", "catalog"]) == 0
    assert main(["models"]) == 0
    capsys.readouterr()
    assert attempts == []


def test_settings_and_models_dialogs_open_no_socket(qtbot: QtBot, attempts: list[str], glassmind_home: Path) -> None:
    from PySide6.QtCore import Qt

    from models.registry import ModelRegistry
    from ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), ModelRegistry(glassmind_home))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.models_button, Qt.MouseButton.LeftButton)
    assert dialog.models_dialog is not None and dialog.models_dialog.table.rowCount() >= 4
    dialog.models_dialog.table.selectRow(3)
    dialog.reject()
    assert attempts == []


def test_the_recorder_sees_an_attempt(attempts: list[str]) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=2)  # the discard port: refused
    assert ("connect", ("127.0.0.1", 9)) in attempts  # type: ignore[comparison-overlap]
