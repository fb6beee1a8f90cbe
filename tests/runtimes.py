"""The local runtime behind an Assistant, for tests that read what only a local model has (its file, threads)."""

from __future__ import annotations

from models.llama import ChatModel
from models.runtime import ChatRuntime


def local(model: ChatRuntime) -> ChatModel:
    """``model`` as the local llama.cpp runtime it is in these tests (fails the test when it is served)."""
    assert isinstance(model, ChatModel), f"expected the local model, got {type(model).__name__}"
    return model
