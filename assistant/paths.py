"""Where Glassmind keeps its data: platformdirs, overridden by GLASSMIND_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from models.errors import StoreError

APP_NAME = "Glassmind"
_ELSEWHERE = " or set GLASSMIND_HOME to another folder"


def data_dir() -> Path:
    """The user data dir (created if missing); GLASSMIND_HOME wins when set."""
    home = os.environ.get("GLASSMIND_HOME")
    if home is not None and not home.strip():
        raise StoreError("GLASSMIND_HOME is set but empty: set it to a folder, or unset it.")
    path = Path(home).expanduser() if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return _folder(path, "data folder", _ELSEWHERE)


def database_path(base: Path | None = None) -> Path:
    return (base or data_dir()) / "glassmind.db"


def load_check_record(base: Path | None = None) -> Path:
    """Which llama.cpp load options worked on this computer, per model type (models/load_check.py)."""
    return (base or data_dir()) / "llama-load-checks.json"


def index_dir(base: Path | None = None) -> Path:
    return _folder((base or data_dir()) / "index", "index folder")


def _folder(path: Path, what: str, elsewhere: str = "") -> Path:
    """``path`` as an existing folder this user can write in, or a StoreError that says what to do."""
    try:
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
        if blocker == path:
            raise StoreError(f"The {what} {path} is a file, not a folder: move that file aside{elsewhere}.")
        if blocker is not None:
            raise StoreError(
                f"Cannot create the {what} {path} because {blocker} is a file: move that file aside{elsewhere}."
            )
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create the {what} {path}: {exc.strerror or exc}. Check its permissions{elsewhere}."
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(f"The {what} {path} is not writable: give your user write permission on it{elsewhere}.")
    return path
