"""Facts about the machine that decide whether a model fits."""

from __future__ import annotations

from pathlib import Path


def available_memory_bytes() -> int | None:
    """Memory the system can still give to a new model, or None where unknown."""
    meminfo = Path("/proc/meminfo")
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
