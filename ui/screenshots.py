"""Screenshots of the real app for docs/: `python -m ui.screenshots docs` (offscreen or under Xvfb).

Seeds a fresh data dir with a real conversation on the bundled model, then
captures the main window with each panel tab, in a light and a dark palette.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def _wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _until(predicate, timeout_s: float = 120) -> None:  # noqa: ANN001
    end = time.time() + timeout_s
    while not predicate() and time.time() < end:
        _wait(50)


def seed() -> int:
    """A conversation with a pinned note and older memories, made by the real model."""
    from assistant.app import Assistant

    app = Assistant()
    app.settings.temperature = 0.3
    app.settings.max_tokens = 160
    app.open_memory()
    app.memories.add("I'm allergic to peanuts.", pinned=True)
    app.memories.add("My partner Sam is vegetarian; we cook together on Fridays.")
    old = app.new_conversation("Balcony herbs")
    for text in ("I have a north-facing balcony and want to grow basil and mint.", "My cat Pixel chews plants."):
        list(app.turn(old, text))
    conv = app.new_conversation("Dinner ideas")
    list(app.turn(conv, "Suggest a quick dinner for two on Friday, with herbs from my balcony."))
    app.close()
    return conv


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "docs")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GLASSMIND_HOME", tempfile.mkdtemp(prefix="glassmind-shots-"))
    conv = seed()
    qt = QApplication.instance() or QApplication([])
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    apply_theme(qt, dark=False)
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    _until(lambda: bool(window._model_info))
    window.conversation_id = conv
    window._reload_conversations()
    window._load_messages()
    window.chat.composer.setPlainText("What could Sam and I cook with the basil?")
    window._request_preview()
    _until(lambda: window.panel.retrieved_model.rowCount() > 0, 30)
    _wait(800)
    shots = [("context", 0), ("retrieved", 1), ("memories", 2), ("prompt", 3)]
    for name, tab in shots:
        window.panel.setCurrentIndex(tab)
        if name == "memories":
            window.panel.reload_memories(window._reader.count() if window._reader else None)
        _wait(300)
        window.grab().save(str(out / f"screenshot-{name}.png"))
    apply_theme(qt, dark=True)
    window.panel.setCurrentIndex(0)
    _wait(400)
    window.grab().save(str(out / "screenshot-dark.png"))
    window.close()
    print(f"screenshots written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
