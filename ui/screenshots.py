"""Screenshots of the real app for docs/: `xvfb-run -s "-screen 0 1920x1080x24" python -m ui.screenshots docs`.

Seeds a fresh data dir with a real conversation on the bundled model, then
captures the main window with each panel tab, in a light and a dark palette.
Then, on screens of 1024x700, 1280x800 and 1920x1080 (each its own Xvfb
server, when Xvfb is installed), the app opens as a user's first window
does, and a long message is sent: the shot shows its prompt being read,
with progress, in the reply, and the Retrieved tab's detail with its reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget


def _wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _until(predicate: Callable[[], object], timeout_s: float = 120) -> None:
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
    from assistant.opening import open_store

    store = open_store(paths.database_path())
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


SCREENS = ((1024, 700), (1280, 800), (1920, 1080))
# The message sent on each screen: long enough (~5,000 tokens) that its prompt takes a while to read.
LONG_MESSAGE = (
    "Here are my notes from the balcony this season; which herbs should I water today?\n\n"
    + "\n".join(
        f"Day {n}: the basil looked dry in the afternoon sun, the mint spread into the thyme pot, "
        f"and I watered the basil at {7 + n % 5} in the morning."
        for n in range(1, 161)
    )
)


def _shoot(window: QWidget, path: Path, *, screen: bool = False) -> None:
    """The window (``screen``: the whole screen it is on, so anything off-screen would show)."""
    _wait(350)
    shot = window.screen().grabWindow(0) if screen else window.grab()
    if screen and shot.isNull():
        shot = window.grab()
    shot.save(str(path))
    print(f"wrote {path}")


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number between :90 and :199")


def _on_screens(out: Path, home: Path) -> None:
    """One process per screen size, each on its own Xvfb server and a copy of the seeded data (each
    sends its message to the same conversation); without Xvfb, this process resizes its window."""
    xvfb = shutil.which("Xvfb")
    for width, height in SCREENS:
        copy = Path(tempfile.mkdtemp(prefix="glassmind-shots-")) / "home"
        shutil.copytree(home, copy)
        (copy / "window.ini").unlink(missing_ok=True)  # a first window, not the one the shots above left
        env = {**os.environ, "GLASSMIND_HOME": str(copy)}
        server = None
        if xvfb is not None:
            display = _free_display()
            server = subprocess.Popen([xvfb, f":{display}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"])
            _until_file(Path(f"/tmp/.X11-unix/X{display}"))
            env.update(DISPLAY=f":{display}", QT_QPA_PLATFORM="xcb")
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
        try:
            subprocess.run([sys.executable, "-m", "ui.screenshots", str(out), "--screen", f"{width}x{height}"],
                           env=env, check=True)
        finally:
            if server is not None:
                server.terminate()
                server.wait()


def _until_file(path: Path, timeout_s: float = 20) -> None:
    end = time.time() + timeout_s
    while not path.exists() and time.time() < end:
        time.sleep(0.05)


def screen_shot(out: Path, width: int, height: int) -> int:
    """In a process of its own: the app as it first opens on this screen, a long message being read."""
    qt = QApplication([])
    qt.setApplicationName("Glassmind")
    from ui.main_window import MainWindow
    from ui.theme import apply_theme

    apply_theme(qt, dark=False)
    window = MainWindow()
    window.show()
    # The window fills the screen, as a user on that screen would have it (the first window is
    # at most the screen's size, test_everyday's test_first_window_fits_the_screen checks).
    if qt.platformName() == "offscreen":
        window.resize(width, height)  # no real screen of that size: the window stands in for it
    else:
        window.setGeometry(window.screen().availableGeometry())
    window.fit_columns()
    _until(lambda: bool(window._model_info) and window.statusBar().currentMessage() in ("Ready", ""))
    conv = window.conversations
    _until(lambda: conv.rowCount() > 0)
    row = next(r for r in range(conv.rowCount()) if "Watering" in str(conv.index(r).data()))
    view = window.conversation_view
    view.setCurrentIndex(conv.index(row))  # as a click does: the conversation opens
    _until(lambda: any(c.message is not None for c in window.chat.message_cards()))
    _wait(500)
    window.chat.composer.setPlainText(LONG_MESSAGE)
    window.chat.send_button.click()
    def reading() -> bool:
        card = window.chat._streaming
        return card is not None and card.reading.isVisible() and card.reading_bar.value() > 0

    _until(reading, 180)
    panel = window.panel
    panel.setCurrentIndex(panel.indexOf(panel.retrieved))
    _until(lambda: panel.retrieved_model.rowCount() > 0, 10)
    if panel.retrieved_model.rowCount():
        panel.retrieved_view.selectRow(0)
    window.chat.scroll_area.verticalScrollBar().setValue(window.chat.scroll_area.verticalScrollBar().maximum())
    _shoot(window, out / f"screenshot-{width}x{height}.png", screen=True)
    window.chat.stop_button.click()
    _until(lambda: not window._busy, 120)
    window.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv and not argv[0].startswith("--") else "docs")
    out.mkdir(parents=True, exist_ok=True)
    if "--screen" in argv:
        width, height = (int(x) for x in argv[argv.index("--screen") + 1].split("x"))
        return screen_shot(out, width, height)
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

    window.close()
    # The screens: a long code block, an excluded reply, and a long message whose prompt is read.
    seed_layout()
    _with_room_for_a_long_message()
    _on_screens(out.resolve(), Path(os.environ["GLASSMIND_HOME"]))
    return 0


def _with_room_for_a_long_message() -> None:
    import dataclasses

    from assistant.app import Assistant

    app = Assistant()
    app.save_settings(dataclasses.replace(app.settings, n_ctx=8192, memory_budget=512))
    app.close()


if __name__ == "__main__":
    raise SystemExit(main())
