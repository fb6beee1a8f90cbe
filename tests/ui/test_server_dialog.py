"""Issue 24, the window's part, by clicking: Settings → Models → "Add a server…" against a real
llama-server on 127.0.0.1 (test the connection, say what leaves the computer, add; the key only in
the (stand-in) keyring), the server in the chat header's switcher, a turn through it with the Context
tab's counts; a wrong URL says why and saves nothing; Remove; the dialog fits at 1024x700."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keyring
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication

from assistant.settings import Settings
from models import servers
from models.registry import ModelRegistry
from models.servers import ServerRegistry
from models.system import MachineMemory
from tests.assistant.test_server_commands import MemoryKeyring
from tests.served_fixtures import KEY
from tests.ui.fit import misfits
from tests.ui.windows import open_window, replying
from ui.server_dialog import ServerDialog
from ui.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from models.embedder import Embedder

pytest_plugins = ("tests.served_fixtures",)  # served_url, openai_url
pytestmark = [pytest.mark.slow, pytest.mark.allow_hosts(["127.0.0.1"])]

TIMEOUT = 120_000


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    servers._asked.clear()
    yield memory
    keyring.set_keyring(previous)
    servers._asked.clear()


def _click(qtbot: QtBot, button: QAbstractButton) -> None:
    assert button.isEnabled(), f"{button.text()} is not enabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


_kept: list[SettingsDialog] = []
MEMORY = MachineMemory(total_bytes=8 * 2**30, available_bytes=4 * 2**30)


def _open(qtbot: QtBot, home: Path) -> ServerDialog:
    """Settings → Models… → "Add a server…", as the user gets there."""
    _kept.clear()
    settings = SettingsDialog(Settings(), ModelRegistry(home), memory=MEMORY, gpu_offload=False)
    qtbot.addWidget(settings)
    _kept.append(settings)  # the dialogs below are its children
    settings.show()
    _click(qtbot, settings.models_button)
    models = settings.models_dialog
    assert models is not None
    qtbot.waitUntil(models.isVisible, timeout=TIMEOUT)
    _click(qtbot, models.server_button)
    dialog = models.server_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT)  # the list is read
    return dialog


def _picker(dialog: ServerDialog) -> list[str]:
    """The model list of the Settings dialog the server dialog was opened from."""
    combo = _kept[0].model
    return [combo.itemText(n) for n in range(combo.count())]


def _no_key_on_disk(home: Path) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the key was written to {path}"


def test_a_wrong_url_says_why_and_saves_nothing(qtbot: QtBot, glassmind_home: Path, ring: MemoryKeyring) -> None:
    dialog = _open(qtbot, glassmind_home)
    assert dialog.list.item(0) is not None and dialog.list.item(0).text() == "None yet."
    qtbot.keyClicks(dialog.url_edit, "http://127.0.0.1:9")  # nothing listens there
    qtbot.keyClicks(dialog.key_edit, KEY)
    _click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: not dialog.busy and "Connecting" not in dialog.status.text(), timeout=TIMEOUT)
    said = dialog.status.text()
    assert said.endswith(".") and said.count(". ") == 0 and "127.0.0.1:9" in said, said
    assert not dialog.add_button.isEnabled() and dialog.leaves_label.text() == ""
    assert not (glassmind_home / "servers.json").exists() and ring.saved == {}

    dialog.url_edit.clear()
    qtbot.keyClicks(dialog.url_edit, "ftp://somewhere")
    _click(qtbot, dialog.test_button)
    assert dialog.status.text() and not dialog.busy
    assert not (glassmind_home / "servers.json").exists() and ring.saved == {}


def test_add_a_server_choose_it_and_chat_through_it(
    qtbot: QtBot, qapp: QApplication, glassmind_home: Path, embedder: Embedder, served_url: str, ring: MemoryKeyring
) -> None:
    dialog = _open(qtbot, glassmind_home)
    dialog.resize(1024, 700)
    qtbot.keyClicks(dialog.url_edit, served_url)
    qtbot.keyClicks(dialog.key_edit, "a-wrong-key")
    _click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: not dialog.busy and "Connecting" not in dialog.status.text(), timeout=TIMEOUT)
    assert "key" in dialog.status.text() and dialog.status.text().endswith("."), dialog.status.text()
    assert not dialog.add_button.isEnabled() and not (glassmind_home / "servers.json").exists()

    dialog.key_edit.clear()
    qtbot.keyClicks(dialog.key_edit, KEY)
    qtbot.keyClicks(dialog.name_edit, "gpu-box")
    _click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: "offers" in dialog.offer_label.text(), timeout=TIMEOUT)
    where = served_url.split("://", 1)[1].rstrip("/")
    assert "exact token counts" in dialog.offer_label.text() and "context 2,048 tokens" in dialog.offer_label.text()
    assert servers.WHAT_LEAVES.format(where=where) in dialog.leaves_label.text()
    assert not dialog.add_button.isEnabled()  # asked once: the user agrees first
    qapp.processEvents()
    assert misfits(dialog) == []

    dialog.agree.click()
    _click(qtbot, dialog.add_button)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Added"), timeout=TIMEOUT)
    assert f"gpu-box on {where}" in dialog.status.text()
    assert dialog.list.item(0) is not None and dialog.list.item(0).text().startswith(f"gpu-box on {where}")
    entry = ServerRegistry(glassmind_home).get("gpu-box")
    assert entry is not None and entry.kind == servers.LLAMA_SERVER
    assert ring.saved == {(servers.KEYRING_SERVICE, "gpu-box"): KEY}
    servers._asked.clear()  # the window must find the key in the keyring, not in this run's memory
    _no_key_on_disk(glassmind_home)
    assert KEY not in dialog.key_edit.text()
    assert f"gpu-box on {where}" in _picker(dialog)  # Settings' model list has it too
    dialog.close()

    w = open_window(qtbot, embedder, (1280, 800), timeout=TIMEOUT)
    try:
        combo = w.chat.header.model
        label = f"gpu-box on {where}"
        qtbot.waitUntil(lambda: combo.findText(label) >= 0 and combo.isEnabled(), timeout=TIMEOUT)
        # Chosen as a keyboard user does (the offscreen platform cannot show the list's popup).
        combo.setFocus()
        qtbot.wait(QApplication.keyboardInputInterval() + 50)
        qtbot.keyClick(combo, "g")
        assert combo.currentText() == label
        qtbot.waitUntil(lambda: w.model_label.text() == f"Model: gpu-box on {where}", timeout=TIMEOUT)
        qtbot.waitUntil(lambda: combo.isEnabled() and combo.currentText() == label, timeout=TIMEOUT)

        w.chat.composer.setFocus()
        qtbot.keyClicks(w.chat.composer, "Say hello.")
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.last_reply is not None and not replying(w), timeout=TIMEOUT)
        assert w.last_reply is not None and w.last_reply.reply.model == "gpu-box"
        assert w.last_reply.reply.content.strip()
        model: Any = w.panel.context_model
        qtbot.waitUntil(lambda: "tokens used" in w.panel.context.summary.text(), timeout=TIMEOUT)
        assert model.rowCount() > 0
        assert "≈" not in w.panel.context.summary.text()  # exact on llama-server
        _no_key_on_disk(glassmind_home)
    finally:
        w.close()

    dialog = _open(qtbot, glassmind_home)
    dialog.list.setCurrentRow(0)
    _click(qtbot, dialog.remove_button)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Removed gpu-box"), timeout=TIMEOUT)
    assert ServerRegistry(glassmind_home).entries() == [] and ring.saved == {}
    assert not any(label.startswith("gpu-box") for label in _picker(dialog))


def test_an_openai_compatible_server_offers_estimated_counts(
    qtbot: QtBot, glassmind_home: Path, openai_url: str, ring: MemoryKeyring
) -> None:
    dialog = _open(qtbot, glassmind_home)
    qtbot.keyClicks(dialog.url_edit, openai_url)
    _click(qtbot, dialog.test_button)
    qtbot.waitUntil(lambda: "offers" in dialog.offer_label.text(), timeout=TIMEOUT)
    assert "estimated token counts (≈)" in dialog.offer_label.text()
    assert dialog.model_box.count() >= 1 and dialog.model_box.currentText()
    dialog.agree.click()
    _click(qtbot, dialog.add_button)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Added"), timeout=TIMEOUT)
    entry = ServerRegistry(glassmind_home).get(dialog.model_box.currentText())
    assert entry is not None and entry.kind == servers.OPENAI and entry.model_id == dialog.model_box.currentText()
    assert ring.saved == {}  # no key typed, none kept
