"""UI responsiveness: launch-to-window time, and the longest event-loop stall while a reply streams.

Launch is timed in a fresh process (`glassmind` with the smoke-exit switch)
from process start to the window being shown, the model still loading.
The stall is the largest gap between ticks of a 5 ms timer in the GUI thread
while the real bundled model streams a reply into the chat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

TICK_MS = 5


def launch_time(runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="glassmind-ui-") as home:
            env = {
                **os.environ,
                "GLASSMIND_HOME": home,
                "GLASSMIND_SMOKE_EXIT_AFTER_MS": "200",
                "QT_QPA_PLATFORM": _platform(),
            }
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", "from ui.launcher import main; raise SystemExit(main([]))"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("window shown"):
                    times.append(time.perf_counter() - start)
                    break
            proc.wait(timeout=120)
    return sorted(times)[len(times) // 2]


def _platform() -> str:
    """The real display when there is one (e.g. under xvfb-run), else offscreen."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return os.environ["QT_QPA_PLATFORM"]
    return "xcb" if os.environ.get("DISPLAY") else "offscreen"


def _fix_settings(max_tokens: int) -> None:
    """A greedy reply of a known length, so that runs compare."""
    from assistant import paths
    from assistant.opening import open_store
    from assistant.settings import Settings

    store = open_store(paths.database_path())
    store.set_setting("settings", Settings(temperature=0.0, max_tokens=max_tokens).to_json())
    store.close()


def streaming_stall(prompt: str, max_tokens: int = 256) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = _platform()
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    instance = QApplication.instance()
    app = instance if isinstance(instance, QApplication) else QApplication([])
    from ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="glassmind-ui-") as home:
        os.environ["GLASSMIND_HOME"] = home
        _fix_settings(max_tokens)
        window = MainWindow()
        window.show()

        def wait_until(predicate, timeout_s: float = 120) -> None:
            end = time.time() + timeout_s
            while not predicate() and time.time() < end:
                loop = QEventLoop()
                QTimer.singleShot(20, loop.quit)
                loop.exec()

        wait_until(lambda: bool(window._model_info) and window.statusBar().currentMessage() in ("Ready", ""))
        clock = QElapsedTimer()
        gaps: list[int] = []
        last = [0]

        def tick() -> None:
            now = clock.elapsed()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(tick)
        window.chat.composer.setPlainText(prompt)
        clock.start()
        timer.start()
        window.chat.send_button.click()
        wait_until(lambda: not window._busy)
        timer.stop()
        usage = window.last_reply.usage if window.last_reply is not None else None
        window.close()
    app.processEvents()
    gaps.sort()
    return {
        "platform": app.platformName(),
        "max_stall_ms": gaps[-1] if gaps else 0,
        "p99_gap_ms": gaps[int(len(gaps) * 0.99)] if gaps else 0,
        "ticks": len(gaps),
        "reply_tokens": usage.completion_tokens if usage else None,
        "decode_tps": round(usage.decode_tps if usage else 0.0, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassmind bench ui", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--prompt", default="Write a detailed guide to caring for houseplants, with headings.")
    parser.add_argument("--max-tokens", type=int, default=256, help="reply length (greedy decoding)")
    args = parser.parse_args(argv)
    result = {"launch_to_window_s": round(launch_time(), 3), **streaming_stall(args.prompt, args.max_tokens)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"launch to window shown: {result['launch_to_window_s']:.2f} s (model still loading)")
        print(
            f"longest event-loop stall while streaming {result['reply_tokens']} tokens: {result['max_stall_ms']} ms "
            f"(p99 gap {result['p99_gap_ms']} ms, {TICK_MS} ms timer, {result['decode_tps']} tokens/s, "
            f"Qt platform {result['platform']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
