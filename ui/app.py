"""Start the desktop app: the window first, the model and embedder in the background."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from ui.theme import apply_theme

ICON = Path(__file__).resolve().parent / "resources" / "glassmind.png"


def _no_display() -> bool:
    return (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    )


def run(argv: Sequence[str] = ()) -> int:
    started = time.perf_counter()
    if _no_display():
        # Qt would abort with a core dump; say what to do instead.
        print(
            "glassmind: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset). "
            "Run it inside a desktop session, or use the terminal chat: glassmind chat",
            file=sys.stderr,
        )
        return 1
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *argv])
    app.setApplicationName("Glassmind")
    app.setOrganizationName("Glassmind")
    app.setApplicationDisplayName("Glassmind")
    app.setDesktopFileName("io.github.glassmind.Glassmind")
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    apply_theme(app)
    from ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    shown_after = time.perf_counter() - started
    smoke_ms = os.environ.get("GLASSMIND_SMOKE_EXIT_AFTER_MS")
    if smoke_ms:
        # Packaging smoke test and `bench ui`: say when the window is up, then quit by ourselves.
        print(f"window shown after {shown_after:.3f} s", flush=True)
        print("window shown", flush=True)
        QTimer.singleShot(int(smoke_ms), window.close)
    return int(app.exec())
