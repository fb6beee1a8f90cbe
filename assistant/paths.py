"""Where Glassmind keeps its data: platformdirs, overridden by GLASSMIND_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Glassmind"


def data_dir() -> Path:
    """The user data dir (created if missing); GLASSMIND_HOME wins when set."""
    home = os.environ.get("GLASSMIND_HOME")
    path = Path(home).expanduser() if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_path(base: Path | None = None) -> Path:
    return (base or data_dir()) / "glassmind.db"


def index_dir(base: Path | None = None) -> Path:
    path = (base or data_dir()) / "index"
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir(base: Path | None = None) -> Path:
    path = (base or data_dir()) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
