"""Shared fixtures: every test gets its own data dir; the real model and embedder are loaded once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from assistant.app import Assistant
    from models.embedder import Embedder
    from models.llama import ChatModel

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def session_load_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's record of which llama.cpp load options work here (models/load_check.py)."""
    return tmp_path_factory.mktemp("load-check") / "llama-load-checks.json"


@pytest.fixture(autouse=True)
def glassmind_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, session_load_record: Path
) -> Iterator[Path]:
    """A fresh data folder per test. It starts with the load-check record of the session's first check, as
    a user's second start does: the check (a child process that loads the model and reads a prompt, ~2-6 s)
    runs once per session, not per window. Tests marked ``load_check`` start without it
    (tests/models/test_load_check.py, tests/ui/test_load_crash.py test the check itself)."""
    from assistant import paths

    home = tmp_path / "glassmind-home"
    home.mkdir()
    monkeypatch.setenv("GLASSMIND_HOME", str(home))
    fresh = request.node.get_closest_marker("load_check") is not None
    record = paths.load_check_record(home)
    if not fresh and session_load_record.exists():
        shutil.copyfile(session_load_record, record)
    yield home
    if not fresh and not session_load_record.exists() and record.exists():
        shutil.copyfile(record, session_load_record)


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    from models.registry import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def chat_model(bundled_model_path: Path) -> Iterator[ChatModel]:
    """The real bundled SmolLM2 model, loaded once (small context keeps tests quick)."""
    from models.llama import ChatModel

    model = ChatModel(bundled_model_path, n_ctx=2048)
    yield model
    model.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 embedder, loaded once."""
    from models.embedder import Embedder

    e = Embedder()
    e.load()
    return e


@pytest.fixture
def assistant(glassmind_home: Path, chat_model: ChatModel, embedder: Embedder) -> Iterator[Assistant]:
    """An Assistant on a fresh data dir, sharing the session's model and embedder."""
    from assistant.app import Assistant

    app = Assistant(glassmind_home, embedder=embedder, model=chat_model)
    app.settings.temperature = 0.0
    app.settings.max_tokens = 48
    yield app
    app._model = None  # the session owns the model
    app.close()
