"""Curation as typed commands (assistant/operations.py) on the real core, and the enums of
assistant/kinds.py stored exactly as the strings they replaced."""

from __future__ import annotations

import dataclasses
import json

import pytest

from assistant import operations
from assistant.app import Assistant, ContextReady, Finished
from assistant.context import WindowView
from assistant.kinds import ItemState, MemoryKind, MemorySource
from assistant.operations import (
    AddNote,
    Changed,
    DeleteConversation,
    EditMemory,
    Exclude,
    ExcludeMessage,
    Forget,
    Pin,
    Remember,
    RenameConversation,
)
from assistant.reading import Reader
from assistant.store import TurnRecord
from models.errors import NotFoundError

STAMP = "2026-11-20T10:00:00+00:00"


def test_each_command_does_what_it_says_and_names_what_it_changed(assistant: Assistant) -> None:
    conv = assistant.store.create_conversation("Bikes").id
    (mid,) = assistant.store.import_messages(
        conv, [{"role": "user", "content": "My bicycle is called Rocket.", "created": STAMP}]
    )
    assistant.open_memory()

    assert operations.run(assistant, AddNote("The user's cat is called Miso.")) == {Changed.MEMORIES}
    (note,) = assistant.memories.browse(search="Miso")
    assert note.kind is MemoryKind.NOTE and note.source is MemorySource.USER

    assert operations.run(assistant, Pin((note.id,))) == {Changed.MEMORIES}
    assert assistant.memories.get(note.id).pinned
    operations.run(assistant, Pin((note.id,), pinned=False))
    assert not assistant.memories.get(note.id).pinned

    assert operations.run(assistant, Exclude((note.id,))) == {Changed.MEMORIES, Changed.MESSAGES}
    assert assistant.memories.get(note.id).excluded
    operations.run(assistant, Exclude((note.id,), excluded=False))
    assert not assistant.memories.get(note.id).excluded

    changed = operations.run(assistant, EditMemory(note.id, "The user's cat is called Mochi."))
    assert changed == {Changed.MEMORIES, Changed.MESSAGES, Changed.CONVERSATIONS}
    assert assistant.memories.get(note.id).text == "The user's cat is called Mochi."

    assert operations.run(assistant, ExcludeMessage(mid)) == {Changed.MEMORIES, Changed.MESSAGES}
    assert assistant.store.message(mid).excluded
    operations.run(assistant, ExcludeMessage(mid, excluded=False))
    assert not assistant.store.message(mid).excluded

    operations.run(assistant, Remember(mid))
    (kept,) = [m for m in assistant.memories.browse(search="Rocket") if m.kind is MemoryKind.NOTE]
    assert kept.source is MemorySource.REMEMBER

    assert operations.run(assistant, RenameConversation(conv, "Rocket")) == {Changed.CONVERSATIONS}
    assert assistant.store.conversation(conv).title == "Rocket"

    assert operations.run(assistant, Forget((note.id,))) == set(Changed)
    with pytest.raises(NotFoundError):
        assistant.memories.get(note.id)

    operations.run(assistant, DeleteConversation(conv))
    with pytest.raises(NotFoundError):
        assistant.store.message(mid)

    with pytest.raises(dataclasses.FrozenInstanceError):
        Pin((1,)).ids = (2,)  # type: ignore[misc]


def test_enums_are_stored_as_the_strings_they_replaced(assistant: Assistant) -> None:
    events = list(assistant.turn(None, "Say hello to Glassmind."))
    started, done = events[0], events[-1]
    assert isinstance(started, ContextReady) and isinstance(done, Finished)
    assistant.memories.add("A note by hand.")
    rows = assistant.store.query("SELECT kind, source, typeof(kind) AS t FROM memories ORDER BY id")
    assert {(r["kind"], r["source"], r["t"]) for r in rows} == {("message", "chat", "text"), ("note", "user", "text")}
    raw = assistant.store.query("SELECT items FROM turns")[0]["items"]
    assert '"state": "included"' in raw and "ItemState" not in raw

    reader = Reader(assistant.data_dir)
    try:
        turn = reader.past_turn(done.reply.id)
        assert turn is not None
        assert {type(i.state) for i in turn.window.items} == {ItemState}
        assert all(type(m.kind) is MemoryKind for m in reader.memories(None, None, "newest", 0, 10))
    finally:
        reader.close()
    # The JSON the CLI prints and the exports hold: the same text as before.
    assert json.dumps(started.window.to_json(with_prompt=False)).count('"state": "included"') >= 2


def test_a_recorded_state_this_version_does_not_know_counts_as_left_out() -> None:
    items = [{"kind": "memory", "text": "a", "tokens": 3, "state": "from_the_future"},
             {"kind": "history", "text": "b", "tokens": 2}]
    record = TurnRecord(1, 1, 1, None, STAMP, None, 100, 10, 5, "ab", items)
    first, second = WindowView.of_record(record).items
    assert first.state is ItemState.EXCLUDED and not first.included
    assert second.state is ItemState.INCLUDED and second.included
