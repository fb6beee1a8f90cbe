"""The relevance floor (issue 22), on the real model, embedder, SQLite and FAISS: a memory enters the
window only when it is likely to help with the message; greetings, small talk and new topics get none,
the candidates left out are listed with their reason, and pinned notes and the conversation's own
history are not subject to it."""

from __future__ import annotations

import json
from typing import Any

from assistant.app import Assistant
from assistant.context import MEMORY_HEADER, ContextWindow
from assistant.retrieval import BELOW_FLOOR

STAMP = "2026-11-20T10:00:00+00:00"

STORY = (
    "Once upon a time, on the rocky coast near Alexandria, there stood an old lighthouse kept by a man named "
    "Hamid. Every night for forty years he climbed the steps of the tower, trimmed the wick and polished the "
    "great lens. One winter a storm came that was worse than any he had seen; he lit the lamp three times and "
    "stayed beside it all night. At dawn a fishing boat limped into the harbour, its crew alive, and the "
    "fishermen brought him bread, oranges and a small brass bell. His granddaughter Yasmin keeps the light today."
)
CHAT = [
    ("user", "Hey! How was your weekend?"),
    ("assistant", "Hi! It was lovely, thanks for asking. How about yours?"),
    ("user", "Good! I went hiking with my brother near the lake and we saw two herons."),
    ("assistant", "Herons by the lake sound wonderful."),
    ("user", "My dentist appointment is on 14 March with Dr. Okafor."),
    ("assistant", "Noted: the dentist on 14 March."),
    ("user", "I've been learning to bake sourdough bread; my starter is called Bubbles."),
    ("assistant", "Bubbles is a great name for a starter!"),
]
NO_MEMORY = [
    "Hi!", "ok", "Hello there", "مرحبا، كيف حالك؟", "你好！", "What is 17 times 23?", "Tell me a joke.",
    "Write a haiku about autumn leaves.", "My sister Ines lives in Porto.", "Who wrote Pride and Prejudice?",
]


def _conversation(app: Assistant, rows: list[tuple[str, str]], title: str) -> int:
    conv = app.new_conversation(title)
    app.store.import_messages(conv, [{"role": r, "content": c, "created": STAMP} for r, c in rows])
    app.open_memory()
    app.memories.index_orphan_messages()
    app.memories.embed_pending()
    return conv


def _store(app: Assistant) -> None:
    _conversation(app, [("user", "Tell me a story about a lighthouse."), ("assistant", STORY)], "Story")
    _conversation(app, CHAT, "Weekend")
    app.memories.add("Lina, my daughter, is allergic to peanuts and cashews.")
    app.memories.add("The Wi-Fi password at the cabin is bluefinch-482.")


def _memories(window: ContextWindow) -> list[Any]:
    return [i for i in window.items if i.kind == "memory" and i.included]


def test_messages_that_need_no_memory_get_none(assistant: Assistant) -> None:
    _store(assistant)
    for text in NO_MEMORY:
        window = assistant.context(None, text)
        assert not _memories(window), (text, [i.text[:60] for i in _memories(window)])
        assert MEMORY_HEADER not in window.prompt
        assert STORY[:40] not in window.prompt
        assert sum(i.tokens for i in window.items if i.included) == window.prompt_tokens


def test_messages_that_need_memory_still_get_it(assistant: Assistant) -> None:
    _store(assistant)
    for text, fact in [
        ("When is my dentist appointment?", "dentist appointment is on 14 March"),
        ("What is Lina allergic to?", "allergic to peanuts"),
        ("What's the Wi-Fi password at the cabin?", "bluefinch-482"),
        ("What was my sourdough starter called?", "Bubbles"),
        ("What did the fishermen give the lighthouse keeper in your story?", "brass bell"),
    ]:
        window = assistant.context(None, text)
        assert any(fact in i.text for i in _memories(window)), (text, [i.text[:60] for i in _memories(window)])
        assert fact in window.prompt


def test_candidates_below_the_floor_are_listed_with_their_reason(assistant: Assistant) -> None:
    _store(assistant)
    window = assistant.context(None, "Good morning! How are you today?")
    left = [i for i in window.items if i.state == "below_floor"]
    assert left and not _memories(window)
    assert all(i.kind == "memory" and i.reason.startswith(BELOW_FLOOR) for i in left)
    data = json.loads(json.dumps(window.to_json()))
    states = {i["state"] for i in data["items"] if i["kind"] == "memory"}
    assert states == {"below_floor"}
    assert window.by_category()["memory"] == 0


def test_pinned_notes_and_the_conversations_history_are_not_subject_to_the_floor(assistant: Assistant) -> None:
    _store(assistant)
    note = assistant.memories.add("Always answer in short sentences.", pinned=True)
    conv = _conversation(assistant, [("user", "My favourite colour is teal."), ("assistant", "Teal is lovely.")], "Now")
    window = assistant.context(conv, "ok")
    assert any(i.kind == "pinned" and i.included and i.source == f"memory:{note.id}" for i in window.items)
    history = [i.text for i in window.items if i.kind == "history" and i.included]
    assert history == ["My favourite colour is teal.", "Teal is lovely."]
    assert not _memories(window)


def test_the_assistants_words_need_more_evidence_than_the_users(assistant: Assistant) -> None:
    """A long reply shares words with many messages; one shared word is no evidence of relevance."""
    _store(assistant)
    for text in (
        "Tell me about the harbour.", "I bought oranges and bread today.", "My granddaughter loves oranges.",
        "A storm is coming tonight, close the shutters.",
    ):
        window = assistant.context(None, text)
        assert STORY[:40] not in window.prompt, text
