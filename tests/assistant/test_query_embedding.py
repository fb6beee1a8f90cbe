"""A send without a preview starts its query's embedding on the embedder's thread, then stores the
message and builds the window meanwhile: the query is embedded once, it is the same query as
before (a short follow-up still brings the previous question), and a failure there fails the turn
with the message saved, as a failure in the turn's own thread would."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from assistant.app import Assistant, ContextReady, Failed, Finished, retrieval_query

QUESTION = "Which way does my balcony face, and what grows there?"


def _setup(assistant: Assistant) -> tuple[int, int]:
    assistant.settings.max_tokens = 8
    assistant.open_memory()
    note = assistant.memories.add("The balcony faces north and gets little sun; mint grows there.")
    first = list(assistant.turn(None, "Hi, I'm Sam. I grow herbs on my balcony."))[-1]
    assert isinstance(first, Finished)
    return first.reply.conversation_id, note.id


def _spy(embedder: Any, monkeypatch: pytest.MonkeyPatch, fail: str | None = None) -> list[tuple[str, list[str]]]:
    """Record (thread name, texts) of every embedding from here on; ``fail``: raise for that text."""
    calls: list[tuple[str, list[str]]] = []
    real_one, real_many = embedder.encode_one, embedder.encode

    def one(text: str) -> np.ndarray:
        calls.append((threading.current_thread().name, [text]))
        if text == fail:
            raise RuntimeError("the embedder broke")
        vector: np.ndarray = real_one(text)
        return vector

    def many(texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        calls.append((threading.current_thread().name, list(texts)))
        vectors: np.ndarray = real_many(texts, **kwargs)
        return vectors

    monkeypatch.setattr(embedder, "encode_one", one)
    monkeypatch.setattr(embedder, "encode", many)
    return calls


def _send(assistant: Assistant, conv: int, text: str) -> tuple[ContextReady | None, Any]:
    events = list(assistant.turn(conv, text))
    ready = next((e for e in events if isinstance(e, ContextReady)), None)
    return ready, events[-1]


def test_the_query_is_embedded_once_on_the_embedders_thread(
    assistant: Assistant, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv, note = _setup(assistant)
    calls = _spy(embedder, monkeypatch)
    ready, done = _send(assistant, conv, QUESTION)
    assert isinstance(done, Finished) and ready is not None
    queries = [thread for thread, texts in calls if texts == [QUESTION]]
    assert len(queries) == 1 and queries[0].startswith("glassmind-embed")
    window = ready.window
    assert any(i.source == f"memory:{note}" and i.included for i in window.items)
    assert window.retrieval is not None and window.retrieval.embed_s > 0


def test_a_short_follow_up_still_searches_with_the_previous_question(
    assistant: Assistant, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv, _ = _setup(assistant)
    ready, done = _send(assistant, conv, QUESTION)
    assert isinstance(done, Finished)
    calls = _spy(embedder, monkeypatch)
    ready, done = _send(assistant, conv, "And in winter?")
    assert isinstance(done, Finished) and ready is not None
    history = assistant.store.messages(conv, before_id=ready.user_message.id)
    query = retrieval_query(history, "And in winter?")
    assert query.startswith(QUESTION)  # the short message alone means little
    assert [thread for thread, texts in calls if texts == [query]] == [
        next(t for t, _ in calls if t.startswith("glassmind-embed"))
    ]


def test_an_embedding_that_fails_on_its_thread_fails_the_turn_and_keeps_the_message(
    assistant: Assistant, embedder: Any
) -> None:
    conv, _ = _setup(assistant)
    with pytest.MonkeyPatch.context() as patch:
        _spy(embedder, patch, fail=QUESTION)
        _, done = _send(assistant, conv, QUESTION)
    assert isinstance(done, Failed) and "the embedder broke" in done.error
    assert "saved" in done.error
    assert assistant.store.messages(conv)[-1].content == QUESTION
    # Nothing is left half-done: the next send (its own embedding) works.
    _, done = _send(assistant, conv, "Then what grows on a north balcony in spring, do you think?")
    assert isinstance(done, Finished) and done.reply.content.strip()
