"""Benchmarks (not tests): each module has ``main(argv) -> int`` and prints figures, or JSON with --json.

`glassmind bench NAME ...` reaches ``main`` below through the entry point (ui/launcher.py), so the
core (assistant/, models/) never imports a benchmark.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

BENCHMARKS = ("locomo", "retrieval", "speed", "ui", "crash", "suggestions", "noise", "buffers")


def main(argv: Sequence[str]) -> int:
    """Run one benchmark: ``argv`` is its name and its own arguments."""
    argv = list(argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(f"glassmind: name a benchmark: {', '.join(BENCHMARKS)}.", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{argv[0]}")
    return int(module.main(argv[1:]) or 0)
