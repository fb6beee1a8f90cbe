"""Retrieval ranking on real SQLite, FAISS and the real embedder: passages, periods, speakers."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import paths
from assistant.memory import Memory, MemoryStore
from assistant.retrieval import Retriever
from assistant.store import Store


@pytest.fixture
def mem(glassmind_home: Path, embedder) -> MemoryStore:
    store = Store(paths.database_path(glassmind_home))
    memories = MemoryStore(store, embedder, paths.index_dir(glassmind_home))
    memories.open_index()
    yield memories
    store.close()


def chat(mem: MemoryStore, turns: list[tuple[str, str, str]], title: str = "chat") -> list[Memory]:
    """Store ``(speaker, text, created)`` turns as one conversation's messages and memories."""
    conv = mem.store.create_conversation(title)
    ids = mem.store.import_messages(conv.id, [{"role": "user", "content": t, "created": c} for _, t, c in turns])
    return mem.add_many(
        [
            {"text": t, "kind": "message", "source": "test", "speaker": s, "conversation_id": conv.id, "message_id": m, "created": c}
            for (s, t, c), m in zip(turns, ids, strict=True)
        ]
    )


def words(text: str) -> int:
    return len(text.split()) + 2


FILLER = [
    "Did you watch the game last night?",
    "The weather has been grey all week.",
    "I need to buy new running shoes.",
    "My sister is visiting next month.",
    "Work has been busy with the quarterly report.",
    "I started reading a novel about pirates.",
]


def test_a_turn_among_matching_turns_outranks_a_lone_match(mem: MemoryStore) -> None:
    day = "2024-03-01T10:00:00+00:00"
    lone = chat(mem, [("Ana", "I once read an article about sourdough bread.", day)] + [("Ana", f, day) for f in FILLER])
    passage = chat(
        mem,
        [("Ben", f, day) for f in FILLER[:3]]
        + [
            ("Ben", "I have been baking at home a lot lately.", day),
            ("Ana", "What do you bake?", day),
            ("Ben", "Mostly sourdough bread, my starter is two months old.", day),
            ("Ana", "Is it hard to keep the starter alive?", day),
            ("Ben", "You feed the starter flour and water every day.", day),
        ]
        + [("Ben", f, day) for f in FILLER[3:]],
        title="baking",
    )
    hits = Retriever(mem, words).retrieve("sourdough bread", budget=200).hits
    by_id = {h.memory.id: h for h in hits}
    in_passage, alone = passage[5], lone[0]
    assert in_passage.id in by_id and alone.id in by_id
    assert by_id[in_passage.id].context > 0 and "among other matching turns" in by_id[in_passage.id].reason
    assert by_id[alone.id].context == 0  # its conversation's other turns did not match
    assert [h.memory.id for h in hits].index(in_passage.id) < [h.memory.id for h in hits].index(alone.id)
    # Off, the two compete on their own words only.
    plain = Retriever(mem, words, context_share=0.0).retrieve("sourdough bread", budget=200).hits
    assert all(h.context == 0 for h in plain)


def test_passages_stay_inside_one_conversation_and_skip_notes(mem: MemoryStore) -> None:
    day = "2024-03-01T10:00:00+00:00"
    first = chat(mem, [("Ana", "The garden needs tomato plants.", day)], title="one")
    note = mem.add("Tomato plants want full sun.")  # an id between the two conversations' turns
    second = chat(mem, [("Ben", "Tomato plants grow well in pots.", day)], title="two")
    assert note.id == first[0].id + 1 and second[0].id == note.id + 1
    hits = Retriever(mem, words).retrieve("tomato plants", budget=200).hits
    assert {h.memory.id for h in hits} >= {first[0].id, note.id, second[0].id}
    assert all(h.context == 0 for h in hits)
