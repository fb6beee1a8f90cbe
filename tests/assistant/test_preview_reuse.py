"""A send right after its preview reuses the previewed window (no second embedding, search or
assembly), and anything that could change the window between the two makes the turn build it anew:
a forget, an edit, an exclusion, a pin, another process's write, a setting, another draft."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant import app as app_module
from assistant.app import Assistant, ContextReady, Finished
from assistant.context import ContextWindow

QUESTION = "Which way does my balcony face, and what grows there?"


def _setup(assistant: Assistant) -> tuple[int, int]:
    """A conversation, and a note the question retrieves."""
    assistant.settings.max_tokens = 8  # short replies: the windows are what is compared
    assistant.open_memory()
    note = assistant.memories.add("The balcony faces north and gets little sun; mint grows there.")
    first = list(assistant.turn(None, "Hi, I'm Sam. I grow herbs."))[-1]
    assert isinstance(first, Finished)
    return first.reply.conversation_id, note.id


def _builds(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the windows the assistant builds from here on."""
    built: list[str] = []
    real: Callable[..., ContextWindow] = assistant._window

    def counting(history: Any, text: str, **kwargs: Any) -> ContextWindow:
        built.append(text)
        return real(history, text, **kwargs)

    monkeypatch.setattr(assistant, "_window", counting)
    return built


def _send(assistant: Assistant, conv: int | None, text: str) -> tuple[ContextWindow, Finished]:
    events = list(assistant.turn(conv, text))
    ready = next(e for e in events if isinstance(e, ContextReady))
    done = events[-1]
    assert isinstance(done, Finished), done
    return ready.window, done


def _sources(window: ContextWindow) -> set[str | None]:
    return {i.source for i in window.items if i.included}


def test_send_after_preview_reuses_its_window(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    conv, note = _setup(assistant)
    preview = assistant.context(conv, QUESTION)
    assert f"memory:{note}" in _sources(preview)
    built = _builds(assistant, monkeypatch)
    window, done = _send(assistant, conv, QUESTION)
    assert built == []  # neither embedded, searched nor assembled again
    assert window.tokens == preview.tokens and window.prompt == preview.prompt
    assert window.stable_tokens == preview.stable_tokens
    user = assistant.store.messages(conv)[-2]
    assert user.content == QUESTION and user.token_count
    # The sent window names the stored message, so forgetting it later finds its copy in the record.
    assert [i.source for i in window.items if i.kind == "message"] == [f"message:{user.id}"]
    record = assistant.store.turn_for_message(done.reply.id)
    assert record is not None and record.prompt_parts is not None
    assert [f"message:{user.id}", QUESTION, False] in json.loads(record.prompt_parts)
    assert window.retrieval is not None and window.retrieval.embed_s == 0.0
    # The preview is used once: the next send builds its window.
    assert assistant._preview is None


def test_reused_window_is_the_one_a_fresh_turn_builds(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    conv, _ = _setup(assistant)
    preview = assistant.context(conv, QUESTION)
    fresh: list[ContextWindow] = []
    events = assistant.turn(conv, QUESTION)
    for event in events:
        if isinstance(event, ContextReady):
            # The message is stored now: build its window the way a turn without a preview does.
            history = assistant.store.messages(conv, before_id=event.user_message.id)
            fresh.append(assistant._window(history, QUESTION, own_id=event.user_message.id))
            assert event.window.prompt == preview.prompt
    (window,) = fresh
    assert window.prompt == preview.prompt and window.tokens == preview.tokens
    # The message being answered is no candidate for itself ("already in the conversation").
    own = [i for i in window.items if i.kind == "memory" and i.text.endswith(QUESTION)]
    assert own == []


def _forget(assistant: Assistant, note: int) -> None:
    assistant.memories.forget([note])


def _edit(assistant: Assistant, note: int) -> None:
    assistant.memories.edit(note, "The balcony faces south now; basil grows there.")


def _exclude(assistant: Assistant, note: int) -> None:
    assistant.memories.set_excluded([note], True)


@pytest.mark.parametrize("change", [_forget, _edit, _exclude], ids=["forget", "edit", "exclude"])
def test_curation_between_preview_and_send_is_seen(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch, change: Callable[[Assistant, int], None]
) -> None:
    conv, note = _setup(assistant)
    preview = assistant.context(conv, QUESTION)
    assert f"memory:{note}" in _sources(preview) and "faces north" in preview.prompt
    change(assistant, note)
    built = _builds(assistant, monkeypatch)
    window, _ = _send(assistant, conv, QUESTION)
    assert built == [QUESTION]
    assert "faces north" not in window.prompt  # the stale text is not sent
    assert not any("faces north" in i.text for i in window.items)
    if change is _edit:
        assert "faces south" in window.prompt
    else:
        assert f"memory:{note}" not in _sources(window)


def test_pin_between_preview_and_send_is_seen(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    conv, _ = _setup(assistant)
    other = assistant.memories.add("Sam's cat is called Pixel.")
    assistant.context(conv, QUESTION)
    assistant.memories.set_pinned([other.id], True)
    built = _builds(assistant, monkeypatch)
    window, _ = _send(assistant, conv, QUESTION)
    assert built == [QUESTION]
    assert any(i.kind == "pinned" and i.source == f"memory:{other.id}" and i.included for i in window.items)


def test_another_process_writing_between_preview_and_send_is_seen(
    assistant: Assistant, glassmind_home: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv, note = _setup(assistant)
    assistant.context(conv, QUESTION)
    other = Assistant(glassmind_home, embedder=embedder)  # say, `glassmind memory forget` in a terminal
    try:
        other.memories.forget([note])
    finally:
        other.close()
    built = _builds(assistant, monkeypatch)
    window, _ = _send(assistant, conv, QUESTION)
    assert built == [QUESTION]
    assert "faces north" not in window.prompt and f"memory:{note}" not in _sources(window)


def _system_prompt(assistant: Assistant) -> None:
    assistant.settings.system_prompt = "You are terse."


def _memory_budget(assistant: Assistant) -> None:
    assistant.settings.memory_budget = 0


def _new_message(assistant: Assistant) -> None:
    conv = assistant.store.conversations()[0].id
    with assistant.store.write() as db:
        assistant._insert_message(db, conv, "user", "A message from elsewhere.", "2026-01-01T00:00:00+00:00")


def _stale(assistant: Assistant) -> None:
    assert assistant._preview is not None
    assistant._preview.made -= app_module.PREVIEW_REUSE_S + 1


@pytest.mark.parametrize(
    "change", [_system_prompt, _memory_budget, _new_message, _stale], ids=["system", "budget", "history", "stale"]
)
def test_other_changes_between_preview_and_send_build_anew(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch, change: Callable[[Assistant], None]
) -> None:
    conv, _ = _setup(assistant)
    assistant.context(conv, QUESTION)
    change(assistant)
    built = _builds(assistant, monkeypatch)
    window, _ = _send(assistant, conv, QUESTION)
    assert built == [QUESTION]
    if change is _system_prompt:
        assert "You are terse." in window.prompt
    if change is _new_message:
        assert "A message from elsewhere." in window.prompt


def test_a_different_draft_or_conversation_is_not_reused(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    conv, _ = _setup(assistant)
    built = _builds(assistant, monkeypatch)
    assistant.context(conv, QUESTION + " Thanks")
    _send(assistant, conv, QUESTION)
    assert built == [QUESTION + " Thanks", QUESTION]
    built.clear()
    assistant.context(conv, "Something for a new conversation.")
    _send(assistant, None, "Something for a new conversation.")
    assert built == ["Something for a new conversation."] * 2

