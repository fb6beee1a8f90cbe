"""The reads a display makes (assistant/reading.py), on a connection of their own beside the Assistant's."""

from __future__ import annotations

import dataclasses

import pytest

from assistant.app import Assistant, ContextReady, Finished
from assistant.kinds import ItemState
from assistant.reading import Reader

STAMP = "2026-11-20T10:00:00+00:00"


def test_a_turn_read_back_as_the_window_shows_it(assistant: Assistant) -> None:
    events = list(assistant.turn(None, "Say hello to Glassmind."))
    started, done = events[0], events[-1]
    assert isinstance(started, ContextReady) and isinstance(done, Finished)
    reader = Reader(assistant.data_dir)
    try:
        conv = done.reply.conversation_id
        view = reader.conversation_view(conv, limit=50)
        assert view is not None and [m.id for m in view.messages] == [started.user_message.id, done.reply.id]
        assert not view.has_older and view.conversation.title.startswith("Say hello")
        # The recorded window is the one the turn used, frozen, with the core's budget per category.
        turn = reader.past_turn(done.reply.id)
        live = started.window.view()
        assert turn is not None and turn.window.prompt == live.prompt
        assert turn.window.items == live.items and turn.window.by_category == started.window.by_category()
        with pytest.raises(dataclasses.FrozenInstanceError):
            turn.window.items[0].state = ItemState.EXCLUDED  # type: ignore[misc]
        assert reader.conversation_view(conv + 1000, limit=50) is None
        assert reader.message(done.reply.id + 1000) is None
    finally:
        reader.close()


def test_pages_refresh_and_impacts(assistant: Assistant) -> None:
    conv = assistant.store.create_conversation("Long").id
    ids = assistant.store.import_messages(
        conv, [{"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n}", "created": STAMP}
               for n in range(7)],
    )
    assistant.open_memory()
    note = assistant.memories.add("The user's bicycle is called Rocket.")
    reader = Reader(assistant.data_dir)
    try:
        view = reader.conversation_view(conv, limit=3)
        assert view is not None and [m.id for m in view.messages] == ids[-3:] and view.has_older
        page = reader.older(conv, before_id=ids[-3], limit=3)
        assert [m.id for m in page.messages] == ids[1:4] and page.has_older
        last = reader.older(conv, before_id=ids[1], limit=3)
        assert [m.id for m in last.messages] == ids[:1] and not last.has_older

        first = reader.memories("rocket", None, "newest", 0, 10)
        assert [m.id for m in first] == [note.id]
        message_memory = assistant.memories.for_message(ids[0])
        assert message_memory is not None
        found = reader.impacts([note.id, message_memory.id])
        assert {(i.memory_id, i.message_id) for i in found} == {(note.id, None), (message_memory.id, ids[0])}

        assistant.memories.forget([note.id])  # the engine writes; the reader sees it on its next read
        refresh = reader.memory_refresh([note.id, message_memory.id], None, None, "newest", 5)
        assert set(refresh.fresh) == {message_memory.id} and refresh.asked == (note.id, message_memory.id)
        assert refresh.count == reader.memory_count() == 7 and len(refresh.first_page) == 5
    finally:
        reader.close()


def test_settings_and_the_model_list(assistant: Assistant) -> None:
    assistant.save_settings(dataclasses.replace(assistant.settings, max_tokens=99))
    reader = Reader(assistant.data_dir)
    try:
        view = reader.settings()
        assert view.settings.max_tokens == 99
        assert any(e.default for e in view.models)
    finally:
        reader.close()
