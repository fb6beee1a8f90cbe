"""Read-ahead: a send without a preview has the model read the prompt up to its new text (system,
pinned notes, history) on the model's own thread while the query is embedded and the window
assembled; the turn then reads only the rest. On by default on a GPU only: here it is switched
on, on the CPU, to prove it on the real model. Stop stops it, a turn that fails abandons it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from assistant.app import Assistant, ContextReady, Failed, Finished
from models.llama import CPU_PREFILL_CHUNK

LONG_NOTE = "Sam's garden diary, kept since spring: " + "the basil on the north balcony wilted again; " * 60


def _conversation(assistant: Assistant) -> int:
    assistant.open_memory()
    assistant.memories.add("The balcony faces north and gets little sun.")
    first = list(assistant.turn(None, "Hi, I'm Sam. I grow herbs on my balcony."))[-1]
    assert isinstance(first, Finished)
    return first.reply.conversation_id


def _spy(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every prefill from here on: its tokens, thread, and what it read into the cache."""
    calls: list[dict[str, Any]] = []
    model = assistant.model
    real = model.prefill

    def prefill(tokens: Any, **kwargs: Any) -> int:
        call: dict[str, Any] = {"tokens": list(tokens), "thread": threading.current_thread().name}
        calls.append(call)
        cached = real(tokens, **kwargs)
        call["cached"] = cached
        return cached

    monkeypatch.setattr(model, "prefill", prefill)
    return calls


def test_a_send_reads_its_history_while_the_window_is_built(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = _conversation(assistant)
    assistant.read_ahead = True
    assistant.model.reset_cache()
    calls = _spy(assistant, monkeypatch)
    events = list(assistant.turn(conv, "Which way does my balcony face?"))
    ready = next(e for e in events if isinstance(e, ContextReady))
    done = events[-1]
    assert isinstance(done, Finished) and done.reply.content.strip()
    (call,) = calls
    window = ready.window
    assert call["thread"].startswith("glassmind-read-ahead")
    # Exactly the prompt's beginning up to the new message's notes, read whole before the turn's read.
    assert 0 < window.stable_tokens < window.prompt_tokens
    assert call["tokens"] == window.tokens[: window.stable_tokens] == window.tokens[: len(call["tokens"])]
    assert call["cached"] == window.stable_tokens
    assert done.usage.reused_tokens >= window.stable_tokens
    detok = assistant.model.detokenize(call["tokens"], special=True)
    assert "I grow herbs" in detok and "Which way" not in detok and "faces north" not in detok


def test_off_on_the_cpu_unless_asked(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    conv = _conversation(assistant)
    assert assistant.read_ahead is None and assistant.model.gpu_layers == 0
    calls = _spy(assistant, monkeypatch)
    assert isinstance(list(assistant.turn(conv, "Which way does my balcony face?"))[-1], Finished)
    assert calls == []


def test_stop_while_it_reads_stops_it_and_the_turn(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    conv = _conversation(assistant)
    pinned = assistant.memories.add(LONG_NOTE)  # pinned notes are read ahead: several chunks of it
    assistant.memories.set_pinned([pinned.id], True)
    assistant.read_ahead = True
    assistant.model.reset_cache()
    calls = _spy(assistant, monkeypatch)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def reading(done: int, total: int) -> None:
        seen.append((done, total))
        cancel.set()  # the user presses Stop as the first chunk is read

    events = list(assistant.turn(conv, "Which way does my balcony face?", cancel=cancel, reading=reading))
    ready = next(e for e in events if isinstance(e, ContextReady))
    (call,) = calls
    assert len(call["tokens"]) == ready.window.stable_tokens > 2 * CPU_PREFILL_CHUNK
    assert 0 < call["cached"] < len(call["tokens"])  # it stopped at a chunk, not at the end
    assert seen[0][1] == len(call["tokens"])  # the reading was shown as it went
    last = events[-1]
    assert isinstance(last, Finished | Failed)
    if isinstance(last, Finished):
        assert last.usage.stop_reason == "cancelled"
    # The model is free and whole: the next turn answers.
    done = list(assistant.turn(conv, "And what grows there?"))[-1]
    assert isinstance(done, Finished) and done.reply.content.strip()


def test_a_turn_that_fails_after_it_started_abandons_it_and_keeps_the_message(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = _conversation(assistant)
    pinned = assistant.memories.add(LONG_NOTE)
    assistant.memories.set_pinned([pinned.id], True)
    assistant.read_ahead = True
    assistant.model.reset_cache()
    calls = _spy(assistant, monkeypatch)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the search broke")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assistant.retriever, "retrieve", broken)
        events = list(assistant.turn(conv, "Which way does my balcony face?"))
    failed = events[-1]
    assert isinstance(failed, Failed) and "the search broke" in failed.error
    assert assistant.store.messages(conv)[-1].content == "Which way does my balcony face?"
    (call,) = calls
    # Abandoned: it stops at its next chunk (or never starts), and the model is free again.
    done = list(assistant.turn(conv, "So what grows on a north balcony?"))[-1]
    assert isinstance(done, Finished) and done.reply.content.strip()
    assert call["cached"] <= len(call["tokens"])
