"""Retrieval ranking on real SQLite, FAISS and the real embedder: passages, periods, speakers."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import paths
from assistant.memory import Memory, MemoryStore
from assistant.opening import open_store
from assistant.retrieval import Retriever


@pytest.fixture
def mem(glassmind_home: Path, embedder) -> MemoryStore:
    store = open_store(paths.database_path(glassmind_home))
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


def test_periods_named_in_a_query() -> None:
    import datetime as dt

    from assistant.periods import period_of, periods_in

    def spans(query: str) -> list[tuple[str, str, bool]]:
        return [(str(p.start), str(p.end), p.any_year) for p in periods_in(query)]

    assert spans("What movie did Joanna watch on 1 May, 2022?") == [("2022-05-01", "2022-05-01", False)]
    assert spans("Where did she travel to in July 2022?") == [("2022-07-01", "2022-07-31", False)]
    assert spans("Where was John between August 11 and August 15 2023?") == [
        ("2023-08-15", "2023-08-15", False),
        ("2000-08-11", "2000-08-11", True),
    ]
    assert spans("Which country was Tim visiting in the second week of November?") == [
        ("2000-11-01", "2000-11-30", True)
    ]
    assert spans("What did I do in 2021?") == [("2021-01-01", "2021-12-31", False)]
    assert spans("May I ask what you did?") == [] and spans("How is the garden doing?") == []
    now = dt.datetime(2024, 3, 20, tzinfo=dt.UTC)
    assert [(str(p.start), str(p.end)) for p in periods_in("what did we talk about last month?", now)] == [
        ("2024-02-01", "2024-02-29")
    ]
    # A message tells of the days before it, and of plans a few days ahead.
    july = periods_in("in July 2022")
    assert period_of("2022-08-05T10:00:00+00:00", july) is not None
    assert period_of("2022-06-29T10:00:00+00:00", july) is not None
    assert period_of("2022-09-01T10:00:00+00:00", july) is None and period_of("not a date", july) is None
    november = periods_in("in November")
    assert period_of("2019-11-20T10:00:00+00:00", november) and period_of("2023-12-02T10:00:00+00:00", november)
    assert period_of("2023-10-01T10:00:00+00:00", november) is None


def test_memories_from_the_period_asked_about_rank_first(mem: MemoryStore) -> None:
    cooked = [
        ("Ana", "I cooked a big pot of lentil soup today.", "2023-03-10T18:00:00+00:00"),
        ("Ana", "I cooked paella for my friends tonight.", "2023-07-14T19:00:00+00:00"),
        ("Ana", "I cooked a curry with too much chilli.", "2023-11-02T19:00:00+00:00"),
    ]
    for turn in cooked:
        chat(mem, [turn, *[("Ana", f, turn[2]) for f in FILLER]], title=turn[1][:12])
    hits = Retriever(mem, words).retrieve("What did Ana cook in July 2023?", budget=60).hits
    assert "paella" in hits[0].memory.text
    assert hits[0].period == "July 2023" and "from the time asked about ('July 2023')" in hits[0].reason
    assert all((h.period == "July 2023") == h.memory.created.startswith("2023-07") for h in hits)
    # Off, the date plays no part (here the curry's words match best).
    plain = Retriever(mem, words, period_boost=1.0).retrieve("What did Ana cook in July 2023?", budget=60).hits
    assert all(h.period == "" for h in plain) and "paella" not in plain[0].memory.text
