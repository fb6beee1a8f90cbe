"""The real app window, opened as a user starts it: shown at a screen's size, its model loaded."""

from __future__ import annotations

from ui.main_window import MainWindow


def open_window(qtbot, embedder, size: tuple[int, int], *, timeout: int, ready: bool = True) -> MainWindow:
    """``ready``: also wait until the status bar says Ready (a test of what happens before it does not)."""
    w = MainWindow(embedder=embedder)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w._model_info is not None, timeout=timeout)
    if ready:
        qtbot.waitUntil(lambda: w.statusBar().currentMessage() in ("Ready", ""), timeout=timeout)
    return w
