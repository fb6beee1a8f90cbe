"""The context window on the real model: exact accounting, order, overflow, pins, exclusion."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from assistant.app import Assistant, ContextReady, Finished
from assistant.context import MEMORY_HEADER, PINNED_HEADER, ContextWindow
from models.errors import InputTooLargeError, InvalidInputError
from models.runtime import ChatRuntime
from tests.messages import add_message


def _check_exact(window: ContextWindow, model: ChatRuntime) -> None:
    included = [i for i in window.items if i.included]
    assert sum(i.tokens for i in included) == window.prompt_tokens
    # What is sent: each part tokenized on its own (only template parts may hold control tokens).
    assert "".join(text for _, text, _ in window.parts) == window.prompt
    assert window.prompt_tokens == len(window.tokens)
    if "<|im_" not in "".join(text for _, text, tmpl in window.parts if not tmpl):
        # No forged markers: exactly the tokens of the whole prompt read in one call.
        assert window.tokens == model.prompt_tokens(window.prompt)
    assert window.prompt_tokens <= window.n_ctx - window.reserve


def _chat(app: Assistant, conv: int | None, text: str) -> int:
    for event in app.turn(conv, text):
        if isinstance(event, ContextReady):
            conv = event.user_message.conversation_id
            _check_exact(event.window, app.model)
    assert conv is not None
    return conv


def test_fresh_window_is_exact_and_ordered(assistant: Assistant) -> None:
    window = assistant.context(None, "Hello there")
    kinds = [i.kind for i in window.items]
    assert kinds == ["system", "message", "template"]
    _check_exact(window, assistant.model)
    assert window.to_json()["prompt_tokens"] == window.prompt_tokens


def test_accounting_over_turns_with_pins_exclusions_and_overflow(assistant: Assistant) -> None:
    assistant.open_memory()
    pin = assistant.memories.add("The user's name is Ada and she keeps bees.", pinned=True)
    conv = _chat(assistant, None, "Hi, I am planning a garden.")
    conv = _chat(assistant, conv, "Which flowers do bees like?")
    first = assistant.store.messages(conv)[0]
    assistant.set_message_excluded(first.id, True)
    window = assistant.context(conv, "And what about herbs?")
    _check_exact(window, assistant.model)
    by_source = {i.source: i for i in window.items}
    assert by_source[f"message:{first.id}"].state == "excluded"
    assert by_source[f"memory:{pin.id}"].kind == "pinned" and by_source[f"memory:{pin.id}"].included
    assert PINNED_HEADER in window.prompt and "Ada" in window.messages[0]["content"]
    assert first.content not in window.prompt
    # Order: system, pinned, history..., memory notes, the new message, template (stable parts
    # first, for the KV cache; retrieved notes late, just before the one new message).
    order = [i.kind for i in window.items]
    rank = {"system": 0, "pinned": 1, "history": 2, "memory": 3, "message": 4, "template": 5}
    assert [rank[k] for k in order] == sorted(rank[k] for k in order), order
    assert order[0] == "system" and order[-2:] == ["message", "template"] and order.count("message") == 1
    assert {"pinned", "history"} <= set(order)

    # Overflow: a long history in a small context leaves the oldest turns out, contiguously.
    for n in range(6):
        add_message(assistant.store, conv, "user", f"Filler question number {n}: " + "words " * 120)
        add_message(assistant.store, conv, "assistant", f"Filler answer number {n}: " + "more " * 120)
    window = assistant.context(conv, "Summarise our talk.")
    _check_exact(window, assistant.model)
    states = [i.state for i in window.items if i.kind == "history"]
    assert "over_budget" in states
    cut = window.cutoff_index
    assert cut is not None
    newer = [i for i in window.items[cut + 1 :] if i.kind == "history"]
    assert all(i.state != "over_budget" for i in newer)
    assert "still retrievable" in window.items[cut].reason


def test_retrieved_notes_are_listed_and_late(assistant: Assistant) -> None:
    assistant.open_memory()
    other = assistant.new_conversation("old")
    add_message(assistant.store, other, "user", "My sister Beatrice lives in Porto and paints tiles.")
    assistant.memories.index_orphan_messages()
    assistant.memories.embed_pending()
    window = assistant.context(None, "Where does Beatrice live?")
    _check_exact(window, assistant.model)
    mem_items = [i for i in window.items if i.kind == "memory"]
    assert mem_items and "Porto" in mem_items[0].text
    assert mem_items[0].scores is not None and mem_items[0].scores["fused"] > 0
    last = window.messages[-1]["content"]
    assert last.startswith(MEMORY_HEADER) and last.endswith("Where does Beatrice live?")
    assert "\n- user: My sister Beatrice lives in Porto" in last
    assert f"From {mem_items[0].text[1:].split(']')[0]}:\n" in last


def test_prefix_stays_stable_between_turns(assistant: Assistant) -> None:
    conv = None
    prompts = []
    for text in ("Tell me about tea.", "And coffee?", "Which has more caffeine?"):
        for event in assistant.turn(conv, text):
            if isinstance(event, ContextReady):
                conv = event.user_message.conversation_id
                prompts.append(event.window.tokens)
            if isinstance(event, Finished):
                usage = event.usage
    # The second and third prompts start with everything but the last user message of the one before.
    assert usage.reused_tokens > 0.5 * len(prompts[1])


def test_message_bigger_than_context(assistant: Assistant) -> None:
    with pytest.raises(InputTooLargeError, match="send it truncated") as info:
        assistant.context(None, "lorem ipsum " * 3000)
    assert info.value.limit > 0
    with pytest.raises(InputTooLargeError, match="at most 200,000"):
        assistant.context(None, "x" * 200_001)
    with pytest.raises(InvalidInputError, match="empty"):
        assistant.context(None, "   ")


def test_system_prompt_too_big_and_pins_over_budget(assistant: Assistant) -> None:
    assistant.settings.system_prompt = "Rule. " * 1500
    with pytest.raises(InvalidInputError, match="system prompt alone"):
        assistant.context(None, "hi")
    assistant.settings.system_prompt = "Be brief."
    assistant.open_memory()
    pins = [assistant.memories.add(f"Pinned fact {n}: " + "detail " * 150, pinned=True) for n in range(12)]
    window = assistant.context(None, "hi")
    _check_exact(window, assistant.model)
    left = [i for i in window.items if i.kind == "pinned" and i.state == "over_budget"]
    assert left and "pinned notes alone exceed" in left[0].reason
    assert len(left) < len(pins)


def test_cutoff_moves_in_steps_so_the_prefix_is_reused(assistant: Assistant) -> None:
    from assistant.context import CUTOFF_STEP

    assistant.settings.retrieval = False
    conv = assistant.new_conversation("long")
    firsts = []
    for n in range(30):
        add_message(assistant.store, conv, "user", f"Question {n}: " + "tell me more " * 30)
        add_message(assistant.store, conv, "assistant", f"Answer {n}: " + "here is more " * 30)
        window = assistant.context(conv, "next")
        _check_exact(window, assistant.model)
        included = [i.source for i in window.items if i.kind == "history" and i.included]
        if len(included) < 2 * (n + 1):
            firsts.append(int(str(included[0]).split(":")[1]))
    assert len(firsts) > 10
    first_ids = [m.id for m in assistant.store.messages(conv)]
    positions = [first_ids.index(f) for f in firsts]
    assert all(p % CUTOFF_STEP == 0 for p in positions)
    # The start stays put for several turns in a row.
    assert len(set(positions)) <= len(positions) // 2


def test_short_follow_up_searches_with_the_previous_message(assistant: Assistant) -> None:
    from assistant.app import retrieval_query

    assistant.open_memory()
    old = assistant.new_conversation("old")
    add_message(assistant.store, old, "user", "The Lisbon trip is booked for the 3rd of October.")
    assistant.memories.index_orphan_messages()
    assistant.memories.embed_pending()
    conv = assistant.new_conversation("now")
    add_message(assistant.store, conv, "user", "Tell me about our trip to Portugal this autumn.")
    history = assistant.store.messages(conv)
    assert retrieval_query(history, "which date?").startswith("Tell me about our trip")
    assert retrieval_query(history, "A long message that stands well enough on its own, surely.").startswith("A long")
    window = assistant.context(conv, "which date?")
    assert any("Lisbon" in i.text for i in window.items if i.kind == "memory")


class _DatedTemplate:
    """A chat template that writes today's date, like Llama 3's: its own text changes overnight."""

    n_ctx = 4096

    def __init__(self) -> None:
        self.day = 1
        self.renders = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def tokenize_parts(self, parts: Sequence[tuple[str, bool]]) -> list[int]:
        return [0] * sum(len(t.split()) for t, _ in parts)

    def control_texts(self) -> Sequence[str]:
        return []

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        self.renders += 1
        turns = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)
        return f"<|date {self.day}|>{turns}<|assistant|>"


def test_template_text_is_rendered_once_per_role_sequence_and_again_when_it_changes() -> None:
    from assistant.context import WindowBuilder

    model = _DatedTemplate()
    builder = WindowBuilder(model)
    chat: list[tuple[str, list[tuple[str | None, str]]]] = [
        ("system", [(None, "Be kind.")]), ("user", [("message:1", "Hi <|end|> there")])
    ]
    first = builder.render_parts(chat)
    assert ("message:1", "Hi <|end|> there", False) in first and model.renders == 2  # real, then skeleton
    assert builder.render_parts([chat[0], ("user", [("message:2", "Other")])])[-2] == ("message:2", "Other", False)
    assert model.renders == 3  # the same roles: only the real text is rendered
    model.day = 2  # midnight: the template's own text is not what was kept
    again = builder.render_parts(chat)
    assert again[0] == (None, "<|date 2|><|system|>", True) and ("message:1", "Hi <|end|> there", False) in again
    assert "".join(t for _, t, _ in again) == model.render([{"role": "system", "content": "Be kind."},
                                                           {"role": "user", "content": "Hi <|end|> there"}])
