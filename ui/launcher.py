"""The `glassmind` entry point: no arguments opens the desktop app, `bench` the benchmarks, anything else the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from models.load_check import CHILD_FLAG


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if argv and argv[0] == CHILD_FLAG:
        # The bundle's way to start the load check's child (models/load_check.py): its own executable.
        from models.load_check import child_main

        return child_main(argv[1:])
    if argv and argv[0] == "--check-window":
        return _check_window()
    if argv and argv[0] == "bench":
        # Benchmarks sit above every layer (`bench ui` drives the window): the entry point
        # dispatches them, so the core never imports bench/.
        from bench import main as bench_main

        return bench_main(argv[1:])
    if argv and argv[0] not in ("--app",):
        from assistant.cli import main as cli_main

        return cli_main(argv)
    from ui import platform_check

    missing = platform_check.problem()  # before any Qt library loads: Qt would abort instead
    if missing:
        print(f"glassmind: {missing}", file=sys.stderr)
        return 1
    from ui.app import run

    return run(argv[1:])


def _check_window() -> int:
    """`glassmind --check-window`: whether the X11 window's system libraries load (the bundle's smoke test)."""
    from ui import platform_check

    if not sys.platform.startswith("linux"):
        print("Nothing to check: the window needs no extra system libraries on this platform.")
        return 0
    missing = platform_check.problem({"QT_QPA_PLATFORM": "xcb"})
    if missing:
        print(f"glassmind: {missing}", file=sys.stderr)
        return 1
    print(f"All {len(platform_check.XCB_LIBRARIES)} system libraries of the X11 window load.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
