"""A send asked for while the engine prefills stops the prefill at once: the flag is set in the
sender's thread, not queued behind the prefill."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ui.engine import Engine

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot


def test_send_requests_stop_a_running_prefill_from_the_sending_thread(qtbot: QtBot) -> None:
    engine = Engine()  # never started: no core, so requests are refused after the flag is set
    failed: list[str] = []
    engine.failed.connect(failed.append)
    for emit in (
        lambda: engine.turn_requested.emit(None, "hi"),
        lambda: engine.fitted_turn_requested.emit(None, "hi"),
        lambda: engine.regenerate_requested.emit(1),
        lambda: engine.edit_resend_requested.emit(1, "hi"),
    ):
        engine.prefill_cancel.clear()
        emit()  # type: ignore[no-untyped-call]  # (a PySide6 signal's emit is untyped)
        assert engine.prefill_cancel.is_set()
    assert failed  # the requests themselves still reached the engine
    engine.prefill_cancel.clear()
    engine.context_requested.emit(1, None, "typing")  # a preview is not a send
    assert not engine.prefill_cancel.is_set()
