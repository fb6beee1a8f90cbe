"""Real model servers on 127.0.0.1 for the served-model tests, one of each per session, serving the bundled
model: llama.cpp's ``llama-server`` (built once by tests/llama_server.py; skipped with the reason when it
cannot be) and llama-cpp-python's OpenAI-compatible server. Use with
``pytest_plugins = ("tests.served_fixtures",)``; it asserts nothing, hence PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import llama_server

KEY = "glassmind-test-key"  # the llama-server's API key (its /props stays public, /tokenize does not)
OPENAI_CTX = 1024


@pytest.fixture(scope="session")
def server_binary() -> Path:
    path, why = llama_server.find_or_build()
    if path is None:
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def served_url(server_binary: Path, bundled_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    process, url = llama_server.start(server_binary, bundled_model_path, api_key=KEY, n_ctx=2048, log=log)
    yield url
    llama_server.stop(process)


@pytest.fixture(scope="session")
def openai_url(bundled_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip("llama-cpp-python's server extras (fastapi, uvicorn) are not installed: pip install -e '.[dev]'")
    log = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    process, url = llama_server.start_openai_compatible(bundled_model_path, n_ctx=OPENAI_CTX, log=log)
    yield url
    llama_server.stop(process)
