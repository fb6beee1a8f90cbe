"""The `glassmind` entry point: no arguments opens the desktop app, anything else is the CLI."""

from __future__ import annotations

import os
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if argv and argv[0] not in ("--app",):
        from assistant.cli import main as cli_main

        return cli_main(argv)
    from ui.app import run

    return run(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
