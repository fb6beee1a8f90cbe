"""Prefill while typing: the prompt's stable beginning is read into the KV cache before the send,
the turn then reads only the rest, and a set cancel stops the prefill."""

from __future__ import annotations

import threading

from assistant.app import Assistant, ContextReady, Finished


def _conversation(assistant: Assistant) -> int:
    assistant.memories.add("The balcony faces north and gets little sun.")
    first = list(assistant.turn(None, "Hi, I'm Sam. I grow herbs on my balcony."))[-1]
    assert isinstance(first, Finished)
    return first.reply.conversation_id


def test_stable_prefix_is_the_start_of_the_prompt(assistant: Assistant) -> None:
    conv = _conversation(assistant)
    window = assistant.context(conv, "Which way does my balcony face?")
    assert 0 < window.stable_tokens < window.prompt_tokens
    stable = window.tokens[: window.stable_tokens]
    # Everything before the new message (system prompt, history) and nothing of it or its notes.
    assert assistant.model.detokenize(stable, special=True).rstrip().endswith("user")
    assert "Which way" not in assistant.model.detokenize(stable, special=True)
    assert "I grow herbs" in assistant.model.detokenize(stable, special=True)


def test_turn_after_prefill_reads_only_what_is_new(assistant: Assistant) -> None:
    conv = _conversation(assistant)
    text = "Which way does my balcony face?"
    assistant.model.reset_cache()
    cached = assistant.prefill(conv, text)
    window = assistant.context(conv, text)
    assert cached == window.stable_tokens > 0
    assert assistant.prefill(conv, text) == cached  # already there: nothing read again
    events = list(assistant.turn(conv, text))
    ready = next(e for e in events if isinstance(e, ContextReady))
    done = events[-1]
    assert isinstance(done, Finished)
    assert ready.window.stable_tokens == cached
    assert done.usage.reused_tokens >= cached
    assert done.usage.evaluated_tokens == done.usage.prompt_tokens - done.usage.reused_tokens


def test_cancelled_prefill_reads_nothing_and_the_turn_still_answers(assistant: Assistant) -> None:
    conv = _conversation(assistant)
    assistant.model.reset_cache()
    cancel = threading.Event()
    cancel.set()
    assert assistant.prefill(conv, "And the soil?", cancel=cancel) == 0
    done = list(assistant.turn(conv, "And the soil?"))[-1]
    assert isinstance(done, Finished) and done.usage.reused_tokens == 0 and done.reply.content
