"""Regenerate keeps the replies it replaces as other answers to their question (‹ 1/3 ›), on the
real model, embedder and SQLite: switching between them, never retrieved into a prompt, found by a
memory search and erased by forget, and erased with their question (forget, edit and resend,
conversation delete), from every file of the data folder, backups included."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.app import Assistant, Finished
from assistant.impact import forget_warning, impacts
from assistant.memory import ALTERNATIVE, CHAT

if TYPE_CHECKING:
    from models.embedder import Embedder

STAMP = "2026-11-20T10:00:00+00:00"
SECRET = "zebracorn7"


def _files_with(home: Path, text: str) -> list[str]:
    needle = text.encode()
    return [str(p) for p in home.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _answered(app: Assistant, reply: str) -> tuple[int, int, int]:
    """A conversation whose one reply echoes the secret: (conversation, question, reply) ids."""
    conv = app.new_conversation("Shed")
    q, r = app.store.import_messages(conv, [
        {"role": "user", "content": "What is the password for the shed?", "created": STAMP},
        {"role": "assistant", "content": reply, "created": STAMP},
    ])
    app.open_memory()
    app.memories.index_orphan_messages()
    app.memories.embed_pending()
    return conv, q, r


def test_regenerate_keeps_each_answer_and_switches_between_them(assistant: Assistant) -> None:
    assistant.settings = dataclasses.replace(assistant.settings, temperature=0.9, max_tokens=24)
    first = list(assistant.turn(None, "Invent a name for a pet dragon."))[-1]
    assert isinstance(first, Finished)
    conv = first.reply.conversation_id
    question = assistant.store.messages(conv)[0]
    replies = [first.reply]
    for _ in range(2):
        done = list(assistant.regenerate(conv))[-1]
        assert isinstance(done, Finished)
        replies.append(done.reply)
    # The conversation reads question, newest answer; the others are set aside, oldest first.
    msgs = assistant.store.messages(conv)
    assert [m.id for m in msgs] == [question.id, replies[2].id]
    assert [m.id for m in assistant.store.alternatives(question.id)] == [r.id for r in replies[:2]]
    assert assistant.store.message_count(conv) == 2
    choice = assistant.store.answer_choice(msgs)
    assert choice is not None and (choice.position, choice.total) == (3, 3)
    assert (choice.previous_id, choice.next_id) == (replies[1].id, None)

    # Back to the first answer: it is the reply again, in its place among the answers.
    chosen = assistant.choose_alternative(replies[0].id)
    msgs = assistant.store.messages(conv)
    assert [m.id for m in msgs] == [question.id, replies[0].id] and chosen.content == replies[0].content
    choice = assistant.store.answer_choice(msgs)
    assert choice is not None and (choice.position, choice.total, choice.previous_id) == (1, 3, None)
    assert choice.next_id == replies[1].id
    sources = {m.message_id: m.source for m in assistant.memories.browse(kind="message")}
    assert sources[replies[0].id] == CHAT and sources[replies[2].id] == ALTERNATIVE

    # The conversation goes on from the chosen answer: its window holds it, not the others.
    window = assistant.context(conv, "Why that name?")
    history = " ".join(i.text for i in window.items if i.kind == "history" and i.state == "included")
    assert replies[0].content in history
    assert all(r.content not in history for r in replies[1:] if r.content != replies[0].content)


def test_answers_set_aside_are_searchable_and_forgettable_but_never_retrieved(
    assistant: Assistant, glassmind_home: Path
) -> None:
    conv, question, old = _answered(assistant, f"The shed password is {SECRET}, written on the door.")
    assert isinstance(list(assistant.regenerate(conv))[-1], Finished)
    assert assistant.store.message(old).alternative_of == question

    # Not in the conversation, not retrieved for a new one, even asked for by its own words.
    assert all(SECRET not in m.content for m in assistant.store.messages(conv))
    draft = f"What was {SECRET} again? The shed password."
    window = assistant.context(None, draft)
    assert window.retrieval is not None and window.retrieval.hits  # the question itself is retrieved
    assert all(h.memory.message_id != old for h in window.retrieval.hits + window.retrieval.in_window)
    assert SECRET not in window.prompt.replace(draft, "")

    # A user who searches their memories for it finds it, and forgetting it erases every copy.
    hits = assistant.memories.browse(search=SECRET)
    assert [m.message_id for m in hits] == [old]
    assert "set aside" in forget_warning(impacts(assistant.store, [hits[0].id]))
    assistant.store.backups.make(assistant.store.db.conn, "test")
    assistant.memories.forget([hits[0].id])
    assistant.memories.flush()
    assert assistant.store.alternatives(question) == []
    assert [m.id for m in assistant.store.messages(conv)][0] == question  # the question and new reply stay
    assert len(assistant.store.messages(conv)) == 2
    assert not _files_with(glassmind_home, SECRET)


def test_answers_go_with_their_question_in_every_way_it_can_go(assistant: Assistant, glassmind_home: Path) -> None:
    # Forget the question (by its memory, as the Memories tab does), backups included.
    conv, question, old = _answered(assistant, f"It is {SECRET}-forget.")
    list(assistant.regenerate(conv))
    assistant.store.backups.make(assistant.store.db.conn, "test")
    memory = assistant.memories.for_message(question)
    assert memory is not None
    assert "Its earlier answer (Regenerate) goes with it." in forget_warning(impacts(assistant.store, [memory.id]))
    assistant.memories.forget([memory.id])
    assistant.memories.flush()
    assert not _files_with(glassmind_home, f"{SECRET}-forget")

    # Edit and resend the question: every later message goes, the answers set aside too.
    conv, question, old = _answered(assistant, f"It is {SECRET}-resend.")
    list(assistant.regenerate(conv))
    list(assistant.edit_and_resend(question, "What is the password for the garage?"))
    assert assistant.store.alternatives(question) == []
    assistant.memories.flush()
    assert not _files_with(glassmind_home, f"{SECRET}-resend")

    # Delete the conversation.
    conv, question, old = _answered(assistant, f"It is {SECRET}-delete.")
    list(assistant.regenerate(conv))
    assistant.delete_conversation(conv)
    assistant.memories.flush()
    assert not _files_with(glassmind_home, f"{SECRET}-delete")


def test_a_regenerate_stopped_before_a_word_brings_the_earlier_answer_back(assistant: Assistant) -> None:
    conv, question, old = _answered(assistant, "It is written on the door.")
    stop = threading.Event()
    stop.set()
    list(assistant.regenerate(conv, cancel=stop))
    msgs = assistant.store.messages(conv)
    assert [m.id for m in msgs] == [question, old]
    assert assistant.store.alternatives(question) == []
    assert assistant.store.answer_choice(msgs) is None
    assert assistant.memories.for_message(old).source == CHAT  # type: ignore[union-attr]


def test_earlier_answers_travel_in_an_export(assistant: Assistant, embedder: Embedder, tmp_path: Path) -> None:
    import json

    from assistant.transfer import export_data, import_data

    conv, question, old = _answered(assistant, f"It is {SECRET}-export.")
    list(assistant.regenerate(conv))
    data = json.loads(json.dumps(export_data(assistant)))
    (exported,) = data["conversations"]
    assert [a["content"] for a in exported["messages"][0]["earlier_answers"]] == [f"It is {SECRET}-export."]
    other = Assistant(tmp_path / "other", embedder=embedder)
    try:
        assert import_data(other, data).conversations == 1
        (imported,) = other.store.conversations()
        msgs = other.store.messages(imported.id)
        assert [m.content for m in msgs] == [m["content"] for m in exported["messages"]]
        (answer,) = other.store.alternatives(msgs[0].id)
        assert answer.content == f"It is {SECRET}-export." and answer.role == "assistant"
        memory = other.memories.for_message(answer.id)
        assert memory is not None and memory.source == ALTERNATIVE
        assert import_data(other, data).conversations == 0  # the same export again adds nothing
        assert len(other.store.alternatives(msgs[0].id)) == 1
    finally:
        other.close()
