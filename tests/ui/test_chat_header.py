"""Issue 25, item 7, by clicking: the chat header's model switcher (the real bundled model and a
second GGUF; a file that cannot load says so in one sentence and the previous model stays) and a
conversation's own system prompt (set, shown in the next turn's window with whose it is, sent,
reset to the default; unicode, several lines, and a typed template marker that stays text)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QComboBox, QWidget

from assistant import paths
from assistant.context import OWN_PROMPT, SETTINGS_PROMPT
from assistant.opening import open_store
from models.registry import ModelRegistry
from models.templates import CHATML
from tests.gguf_files import write_header_only_gguf
from tests.tiny_gguf import write_tiny_gguf
from tests.ui.clicks import answer_dialog
from tests.ui.windows import open_window, replying
from ui.chat_header import PROMPT_DEFAULT, PROMPT_OWN
from ui.main_window import MainWindow
from ui.system_prompt_dialog import SystemPromptDialog

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from models.embedder import Embedder

TIMEOUT = 120_000
BUNDLED = "SmolLM2-135M-Instruct.Q4_1"
LINE_1 = "Réponds comme un pirate poli — Ñandú, 東京. <|im_start|>system"
LINE_2 = "Keep it to one sentence."
TYPED = f"{LINE_1}\n{LINE_2}"


@pytest.fixture
def window(qtbot: QtBot, glassmind_home: Path, embedder: Embedder) -> Iterator[MainWindow]:
    w = open_window(qtbot, embedder, (1280, 800), timeout=TIMEOUT)
    yield w
    w.close()


def _system_row(w: MainWindow) -> tuple[str, str]:
    """The context tab's system row as the user reads it: its tokens and its text column."""
    model = w.panel.context_model
    for row in range(model.rowCount()):
        if model.data(model.index(row, 0)) == "System":
            return str(model.data(model.index(row, 1))), str(model.data(model.index(row, 3)))
    return "", ""


def _type(qtbot: QtBot, box: QWidget, text: str) -> None:
    """Type ``text`` as a keyboard (and an input method, for what QTest's keys do not spell) would."""
    for ch in text:
        if ch.isascii():
            qtbot.keyClicks(box, ch)
        else:
            for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                QApplication.sendEvent(box, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, ch))


def _type_prompt(qtbot: QtBot) -> Callable[[QWidget], None]:
    def fill(dialog: QWidget) -> None:
        assert isinstance(dialog, SystemPromptDialog)
        editor = dialog.editor
        editor.setFocus()
        editor.selectAll()
        qtbot.keyClick(editor, Qt.Key.Key_Delete)
        _type(qtbot, editor, LINE_1)
        qtbot.keyClick(editor, Qt.Key.Key_Return)
        qtbot.keyClicks(editor, LINE_2)
    return fill


def test_a_conversation_gets_its_own_system_prompt_by_clicking(qtbot: QtBot, window: MainWindow) -> None:
    w = window
    header = w.chat.header
    qtbot.waitUntil(lambda: _system_row(w)[1].startswith(SETTINGS_PROMPT), timeout=TIMEOUT)
    assert header.prompt_button.text() == PROMPT_DEFAULT and w.conversation_id is None

    # Before the first message: saving makes the conversation, which the window then has open.
    seen: list[str] = []
    answer_dialog(qtbot, click="Save", fill=_type_prompt(qtbot), seen=seen)
    qtbot.mouseClick(header.prompt_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: header.prompt_button.text() == PROMPT_OWN, timeout=TIMEOUT)
    assert "the default, from Settings" in seen[0]
    assert w.conversation_id is not None
    qtbot.waitUntil(lambda: _system_row(w)[1].startswith(OWN_PROMPT), timeout=TIMEOUT)
    tokens, text = _system_row(w)
    assert text == f"{OWN_PROMPT}: {' '.join(TYPED.split())}"  # the row shows it on one line
    shown = w.panel.window_shown
    item = next(i for i in shown.items if i.kind == "system")
    assert item.text == TYPED and tokens == f"{item.tokens:,}"
    # The Prompt tab: the typed marker is text, outside every span of the template's own markers.
    prompt = w.panel.prompt.toPlainText()
    at = prompt.index(LINE_1)
    typed = at + LINE_1.index("<|im_start|>")
    assert not any(start <= typed < end for start, end in shown.template_spans)
    assert any(prompt[start:end].startswith("<|im_start|>") for start, end in shown.template_spans)

    # The turn sends it; the conversation keeps it.
    w.chat.composer.setFocus()
    qtbot.keyClicks(w.chat.composer, "Who are you?")
    qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not replying(w), timeout=TIMEOUT)
    store = open_store(paths.database_path())
    try:
        conv = store.conversation(w.conversation_id)
        assert conv.system_prompt == TYPED
        reply = store.messages(conv.id)[-1]
        record = store.turn_for_message(reply.id)
        assert record is not None and TYPED in record.prompt
    finally:
        store.close()

    # A new conversation uses the default; going back shows the own one again.
    w.sidebar.new_requested.emit()
    qtbot.waitUntil(lambda: header.prompt_button.text() == PROMPT_DEFAULT, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _system_row(w)[1].startswith(SETTINGS_PROMPT), timeout=TIMEOUT)
    w.sidebar.chosen.emit(conv.id)
    qtbot.waitUntil(lambda: header.prompt_button.text() == PROMPT_OWN, timeout=TIMEOUT)

    # Reset to the default: the dialog shows the default beside the own prompt.
    seen.clear()
    answer_dialog(qtbot, click="Use the default", seen=seen)
    qtbot.mouseClick(header.prompt_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: header.prompt_button.text() == PROMPT_DEFAULT, timeout=TIMEOUT)
    assert "has its own system prompt" in seen[0]
    qtbot.waitUntil(lambda: _system_row(w)[1].startswith(SETTINGS_PROMPT), timeout=TIMEOUT)


def _pick(qtbot: QtBot, combo: QComboBox, name: str) -> None:
    """Choose the model called ``name`` in the switcher as a keyboard user does: focus it, type the
    name's first letter (the offscreen platform cannot show the list's popup without warnings)."""
    qtbot.waitUntil(combo.isEnabled, timeout=TIMEOUT)  # it waits while a model loads or a reply streams
    combo.setFocus()
    qtbot.wait(QApplication.keyboardInputInterval() + 50)  # a new search, not the last letter's + this one
    qtbot.keyClick(combo, name[0])
    assert combo.currentText() == name


def test_the_model_switcher_loads_another_model_and_keeps_the_old_one_when_it_cannot(
    qtbot: QtBot, glassmind_home: Path, embedder: Embedder
) -> None:
    models = ModelRegistry(glassmind_home).models_dir
    models.mkdir(parents=True, exist_ok=True)
    write_tiny_gguf(models / "tiny-chat.gguf", chat_template=CHATML)
    write_header_only_gguf(models / "a-base-model.gguf")  # no chat template: refused
    w = open_window(qtbot, embedder, (1280, 800), timeout=TIMEOUT)
    try:
        combo = w.chat.header.model
        qtbot.waitUntil(lambda: combo.count() == 3 and combo.isEnabled(), timeout=TIMEOUT)
        assert combo.currentText() == BUNDLED
        assert [combo.itemText(n) for n in range(3)] == [BUNDLED, "a-base-model", "tiny-chat"]

        _pick(qtbot, combo, "tiny-chat")
        qtbot.waitUntil(lambda: w.model_label.text() == "Model: tiny-chat", timeout=TIMEOUT)
        qtbot.waitUntil(lambda: combo.isEnabled() and combo.currentText() == "tiny-chat", timeout=TIMEOUT)
        assert w.chat.notice_text() == ""

        # A file that cannot load: one sentence, and the model before it goes on working.
        _pick(qtbot, combo, "a-base-model")
        qtbot.waitUntil(lambda: "keeps the previous settings" in w.chat.banner.text(), timeout=TIMEOUT)
        assert "no chat template" in w.chat.banner.text()
        qtbot.waitUntil(lambda: combo.isEnabled() and combo.currentText() == "tiny-chat", timeout=TIMEOUT)
        qtbot.waitUntil(lambda: w.model_label.text() == "Model: tiny-chat", timeout=TIMEOUT)
        w.chat.composer.setFocus()
        qtbot.keyClicks(w.chat.composer, "hello")
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not replying(w), timeout=TIMEOUT)
        assert w.last_reply is not None and w.last_reply.reply.model == "tiny-chat.gguf"

        _pick(qtbot, combo, BUNDLED)
        qtbot.waitUntil(lambda: w.model_label.text() == f"Model: {BUNDLED}", timeout=TIMEOUT)
        qtbot.waitUntil(lambda: combo.isEnabled() and combo.currentText() == BUNDLED, timeout=TIMEOUT)
    finally:
        w.close()


def test_the_header_and_the_prompt_dialog_fit_at_1024x700(qtbot: QtBot, qapp: QApplication, glassmind_home: Path, embedder: Embedder) -> None:
    from tests.ui.fit import misfits
    from ui.theme import apply_theme

    palette, sheet = qapp.palette(), qapp.styleSheet()
    apply_theme(qapp, dark=False)  # the app's own style sheet pads buttons as `glassmind` does
    w = open_window(qtbot, embedder, (1024, 700), timeout=TIMEOUT)
    try:
        looked: list[str] = []

        def fill(dialog: QWidget) -> None:

            assert isinstance(dialog, SystemPromptDialog)
            dialog.resize(dialog.width(), min(dialog.height(), 620))
            QApplication.processEvents()
            if dialog.width() > 1024 or dialog.height() > 700:
                looked.append(f"the dialog is {dialog.width()}x{dialog.height()}")
            looked.extend(misfits(dialog))
            _type_prompt(qtbot)(dialog)

        answer_dialog(qtbot, click="Save", fill=fill)
        qtbot.mouseClick(w.chat.header.prompt_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.chat.header.prompt_button.text() == PROMPT_OWN, timeout=TIMEOUT)
        assert looked == []
        qtbot.wait(250)
        problems = misfits(w)
        assert not problems, "\n".join(problems)
    finally:
        w.close()
        qapp.setStyleSheet(sheet)
        qapp.setPalette(palette)


def test_a_model_that_fails_at_start_can_be_switched_away_from(qtbot: QtBot, glassmind_home: Path, embedder: Embedder) -> None:
    from assistant.settings import Settings

    models = ModelRegistry(glassmind_home).models_dir
    models.mkdir(parents=True, exist_ok=True)
    write_tiny_gguf(models / "tiny-chat.gguf", chat_template=CHATML)
    base = write_header_only_gguf(models / "a-base-model.gguf")
    store = open_store(paths.database_path())
    try:
        store.set_setting("settings", Settings(model=str(base)).to_json())  # chosen last time; cannot load
    finally:
        store.close()
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: "no chat template" in w.chat.banner.text(), timeout=TIMEOUT)
        combo = w.chat.header.model
        qtbot.waitUntil(lambda: combo.count() == 3 and combo.currentText() == "a-base-model", timeout=TIMEOUT)
        _pick(qtbot, combo, "tiny-chat")
        qtbot.waitUntil(lambda: w.model_label.text() == "Model: tiny-chat", timeout=TIMEOUT)
        qtbot.waitUntil(lambda: combo.isEnabled() and combo.currentText() == "tiny-chat", timeout=TIMEOUT)
    finally:
        w.close()
