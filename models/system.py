"""Facts about the machine that decide whether a model fits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from models.errors import ModelFileError


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


def package_dir(package: str, missing: str) -> Path:
    """The folder of an installed package, found without importing it; ``missing`` says what to do if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(missing)
    return Path(list(spec.submodule_search_locations)[0])
