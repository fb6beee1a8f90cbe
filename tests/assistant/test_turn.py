"""The turn pipeline on the real model: storage, records, cancel, failures."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from assistant.app import Assistant, ContextReady, Failed, Finished, Token, TurnEvent
from tests.runtimes import local

if TYPE_CHECKING:
    from pathlib import Path


def _finished(events: Iterable[TurnEvent]) -> Finished:
    """The turn's last event, which says it finished."""
    *_, last = events
    assert isinstance(last, Finished), last
    return last


def test_turn_stores_indexes_and_records(assistant: Assistant) -> None:
    events = list(assistant.turn(None, "Say hello to Glassmind."))
    kinds = [type(e) for e in events]
    assert kinds[0] is ContextReady and kinds[-1] is Finished and Token in kinds
    done = events[-1]
    assert isinstance(done, Finished)
    conv = done.reply.conversation_id
    user, reply = assistant.store.messages(conv)
    assert user.content == "Say hello to Glassmind." and user.token_count
    assert reply.role == "assistant" and reply.content and reply.completion_tokens and reply.decode_tps is not None
    assert assistant.memories.for_message(user.id) and assistant.memories.for_message(reply.id)
    record = assistant.store.turn_for_message(reply.id)
    assert record is not None and record.id == done.turn_id
    ready = events[0]
    assert isinstance(ready, ContextReady)
    assert record.prompt == ready.window.prompt
    assert [i["kind"] for i in record.items] == [i.kind for i in ready.window.items]
    assert assistant.store.conversation(conv).title.startswith("Say hello")


def test_cancel_keeps_message_and_partial_reply(assistant: Assistant) -> None:
    cancel = threading.Event()
    assistant.settings.max_tokens = 200
    seen = 0
    final = None
    for event in assistant.turn(None, "Write a long poem about autumn leaves.", cancel=cancel):
        if isinstance(event, Token):
            seen += 1
            if seen == 3:
                cancel.set()
        if isinstance(event, Finished):
            final = event
    assert final is not None and final.usage.stop_reason == "cancelled"
    assert final.reply.status == "partial" and final.reply.content
    assert len(assistant.store.messages(final.reply.conversation_id)) == 2


def test_failures_keep_the_user_message(assistant: Assistant) -> None:
    events = list(assistant.turn(None, "lorem ipsum " * 3000))
    assert isinstance(events[-1], Failed) and "truncated" in events[-1].error
    user = events[-1].user_message
    assert user is not None
    assert assistant.store.message(user.id).content.startswith("lorem ipsum")


def test_regenerate_and_edit_and_resend(assistant: Assistant) -> None:
    conv = _finished(assistant.turn(None, "Name a fruit.")).reply.conversation_id
    again = list(assistant.regenerate(conv))
    assert isinstance(again[-1], Finished)
    msgs = assistant.store.messages(conv)
    assert [m.role for m in msgs] == ["user", "assistant"]
    edited = list(assistant.edit_and_resend(msgs[0].id, "Name a vegetable."))
    assert isinstance(edited[-1], Finished)
    msgs = assistant.store.messages(conv)
    assert [m.content for m in msgs][0] == "Name a vegetable." and len(msgs) == 2


def test_model_file_vanishing_between_turns(assistant: Assistant, tmp_path: Path) -> None:
    import shutil


    copy = tmp_path / "copy.gguf"
    shutil.copy(local(assistant.model).path, copy)
    app = Assistant(assistant.data_dir, embedder=assistant.embedder)
    app.settings.model = str(copy)
    app.settings.n_ctx = 1024
    app.settings.max_tokens = 8
    conv = _finished(app.turn(None, "Hello")).reply.conversation_id
    copy.unlink()
    # The loaded model keeps answering (its weights are mapped); a reload says what happened.
    assert isinstance(list(app.turn(conv, "Still there?"))[-1], Finished)
    app.unload_model()
    events = list(app.turn(conv, "And now?"))
    assert isinstance(events[-1], Failed) and "No model file" in events[-1].error
    assert assistant.store.messages(conv)[-1].content == "And now?"
    app.close()


def test_delete_conversation_erases_everything(assistant: Assistant, glassmind_home: Path) -> None:
    secret = "quokka-lantern-5521"
    conv = _finished(assistant.turn(None, f"Remember the word {secret} please.")).reply.conversation_id
    assistant.memories.flush()
    assistant.delete_conversation(conv)
    assert assistant.store.conversations() == []
    assert assistant.memories.count() == 0
    for path in glassmind_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_message_token_count_is_written_with_the_reply_or_when_the_turn_ends(assistant: Assistant) -> None:
    """No commit of its own before the prompt is read: with the reply, or when the turn stops early."""
    events = assistant.turn(None, "Count my tokens, please.")
    ready = next(events)
    assert isinstance(ready, ContextReady)
    assert assistant.store.message(ready.user_message.id).token_count is None  # nothing written yet
    events.close()  # type: ignore[attr-defined]  # (a generator) the caller walked away before the reply
    user = assistant.store.message(ready.user_message.id)
    assert user.token_count == assistant.model.count_tokens("Count my tokens, please.")
    assert user.model == local(assistant.model).path.name


def test_too_large_is_said_before_anything_is_stored(assistant: Assistant) -> None:
    """The check both front ends ask before a send (issue #26): why the message does not fit, and
    nothing stored; the part that fits is sent only when asked for (fit_message)."""
    assert not assistant.model_loaded or assistant.model.n_ctx > 0
    text = "The balcony faces north and gets sun only in the evening. " * (assistant.model.n_ctx // 4)
    reason = assistant.too_large(None, text)
    assert reason is not None and "context window" in reason
    assert assistant.store.conversations() == []
    assert assistant.too_large(None, "Does basil grow in shade?") is None
    fitted = assistant.fit_message(None, text)
    assert text.startswith(fitted) and assistant.too_large(None, fitted) is None
    assert assistant.model_loaded
