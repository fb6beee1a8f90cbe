"""tests/ui/clicks.py: a dialog that opens is answered; one that never opens fails the test, loudly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PySide6.QtWidgets import QInputDialog, QWidget

from tests.ui.clicks import answer_dialog, check_answered

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot


def test_the_dialog_is_answered_with_what_was_typed(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    answer = answer_dialog(qtbot, click="OK", text="Rocket")
    text, ok = QInputDialog.getText(parent, "Name", "The bicycle's name:")
    assert ok and text == "Rocket"
    answer.wait()
    check_answered()


def test_a_dialog_that_never_opens_fails_the_test(qtbot: QtBot) -> None:
    answer = answer_dialog(qtbot, click="Forget")
    with pytest.raises(pytest.fail.Exception, match="'Forget' never appeared"):
        answer.wait(timeout_s=0.3)
    answer_dialog(qtbot, click="Cancel")
    with pytest.raises(pytest.fail.Exception, match="'Cancel' never appeared"):
        check_answered()  # what the end of every window test runs (tests/ui/conftest.py)
