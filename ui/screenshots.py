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
    """Real content made by the bundled model: two conversations, a pinned note, older memories.

    A small context (512 tokens) keeps the budget bar readable and puts a
    history cut-off into the window the screenshots show.
    """
    import dataclasses

    from assistant.app import Assistant

    app = Assistant()
    app.save_settings(
        dataclasses.replace(app.settings, n_ctx=512, max_tokens=128, memory_budget=160, temperature=0.0)
    )
    app.open_memory()
    # The dinner talk comes first, so its replies were written without the notes added after it.
    conv = app.new_conversation("Dinner ideas")
    for text in (
        "Suggest a quick vegetarian pasta dinner for two.",
        "Write the recipe as a short list of steps.",
        "What side dish goes well with it?",
        "And a simple dessert without nuts?",
    ):
        list(app.turn(conv, text))
    old = app.new_conversation("Balcony herbs")
    for text in ("I have a north-facing balcony and want to grow basil and mint.", "My cat Pixel chews plants."):
        list(app.turn(old, text))
    app.memories.add("I'm allergic to peanuts.", pinned=True)
    app.memories.add("My partner Sam is vegetarian; we cook together on Fridays.")
    app.close()
    return conv


CODE_REPLY = (
    "Here is a small script that lists the herbs to water, with a long line to show wrapping:\n\n"
    "```python\n"
    "HERBS = {\"basil\": 2, \"mint\": 1, \"thyme\": 4}  # days between waterings, measured on a north-facing balcony\n"
    "def due(today: int, last_watered: dict[str, int]) -> list[str]:\n"
    "    return [name for name, every in HERBS.items() if today - last_watered.get(name, 0) >= every]\n"
    "print(due(10, {\"basil\": 7, \"mint\": 9}))\n"
    "```\n\n"
    "Run it once a day."
)


def seed_layout() -> int:
    """A conversation for the size screenshots: a long code block, and an excluded reply with an
    earlier answer set aside."""
    from assistant import paths
    from assistant.store import Store

    store = Store(paths.database_path())
    conv = store.create_conversation("Watering script").id
    ids = store.import_messages(conv, [
        {"role": "user", "content": "Write a script that tells me which herbs to water.",
         "created": "2026-11-23T09:00:00+00:00"},
        {"role": "assistant", "content": CODE_REPLY, "created": "2026-11-23T09:00:05+00:00"},
        {"role": "user", "content": "Is Ines a place?", "created": "2026-11-23T09:01:00+00:00"},
        {"role": "assistant", "content": "Ines is a person, not a place.", "created": "2026-11-23T09:01:03+00:00"},
    ])
    store.update_message(ids[3], excluded=1, status="partial")
    # An earlier answer that Regenerate set aside: the last reply shows ‹ 2/2 ›.
    store.import_messages(conv, [{"role": "assistant", "content": "Ines is a town in Portugal.",
                                  "created": "2026-11-23T09:01:02+00:00", "alternative_of": ids[2]}])
    store.close()
    return conv


def _shoot(window, path: Path) -> None:  # noqa: ANN001
    _wait(350)
    window.grab().save(str(path))
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "docs")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GLASSMIND_HOME", tempfile.mkdtemp(prefix="glassmind-shots-"))
    conv = seed()
    existing = QApplication.instance()
    qt = existing if isinstance(existing, QApplication) else QApplication([])
    qt.setApplicationName("Glassmind")
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    apply_theme(qt, dark=False)
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    _until(lambda: bool(window._model_info) and window.statusBar().currentMessage() in ("Ready", ""))
    window.conversation_id = conv
    window._reload_conversations()
    window._load_messages()
    _until(lambda: bool(window.chat.message_cards()))  # read on the reader thread
    window.speed_label.setText(window.chat.message_cards()[-1].meta.text().split("·")[-1].strip())
    window.chat.composer.setPlainText("Could Sam and I add basil from the balcony?")
    window._preview_timer.stop()
    window._request_preview()
    _until(lambda: window.panel.retrieved_model.rowCount() > 0, 60)
    _wait(500)
    panel = window.panel
    ctx = panel.context_model
    cut = ctx.cutoff_row
    pick = cut + 1 if cut >= 0 else next(
        r for r in range(ctx.rowCount()) if getattr(ctx.item(r), "kind", None) == "memory"
    )
    panel.context_view.selectRow(pick)
    panel.setCurrentIndex(0)
    _shoot(window, out / "screenshot-context.png")
    panel.setCurrentIndex(1)
    panel.retrieved_view.selectRow(0)
    _shoot(window, out / "screenshot-retrieved.png")
    panel.setCurrentIndex(2)
    panel.reload_memories()
    _until(lambda: panel.memory_model.rowCount() > 0)
    panel.memory_view.selectRow(0)
    _shoot(window, out / "screenshot-memories.png")
    panel.setCurrentIndex(panel.indexOf(panel.prompt_tab))
    _shoot(window, out / "screenshot-prompt.png")
    apply_theme(qt, dark=True)
    panel.setCurrentIndex(0)
    _shoot(window, out / "screenshot-dark.png")
    apply_theme(qt, dark=False)

    # The window at three sizes: a long code block, an excluded reply and a 40,000-character paste.
    layout_conv = seed_layout()
    window.conversation_id = layout_conv
    window._reload_conversations()
    window._load_messages()
    _until(lambda: any(c.message is not None and c.message.conversation_id == layout_conv
                       for c in window.chat.message_cards()))
    window.chat.composer.setPlainText(("forty thousand characters of pasted text " * 1000)[:40_000])
    for width, height in ((1024, 700), (1280, 800), (1920, 1080)):
        window.resize(width, height)
        window.fit_columns()
        _wait(1500)
        window.chat.scroll_area.verticalScrollBar().setValue(0)
        _shoot(window, out / f"screenshot-{width}x{height}.png")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
