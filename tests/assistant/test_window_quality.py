"""What the model reads (issue 14, items 4-6), on the real model and embedder: the cut-off falls
between turns, matches already in the chat are shown not repeated, the user's words rank above the
assistant's, an empty draft retrieves nothing, notes are a plain list, and Continue extends a reply
cut at the length limit."""

from __future__ import annotations

import dataclasses

from assistant.app import Assistant, ContextReady, Failed, Finished
from assistant.context import MEMORY_HEADER

STAMP = "2026-11-20T10:00:00+00:00"


def _conversation(app: Assistant, rows: list[tuple[str, str]], title: str = "Talk") -> tuple[int, list[int]]:
    conv = app.new_conversation(title)
    ids = app.store.import_messages(conv, [{"role": r, "content": c, "created": STAMP} for r, c in rows])
    app.open_memory()
    app.memories.index_orphan_messages()
    app.memories.embed_pending()
    return conv, ids


def test_the_cut_off_never_keeps_a_reply_without_its_question(assistant: Assistant) -> None:
    rows = [("user", "Hello?")]  # a message whose reply failed: turns no longer alternate from the start
    for n in range(40):
        rows.append(("user", f"Question {n}: " + "tell me more about the garden " * (1 + n % 3)))
        rows.append(("assistant", f"Answer {n}: " + "plant herbs near the window " * (2 + n % 5)))
    conv, ids = _conversation(assistant, rows)
    assistant.set_message_excluded(ids[2], True)
    seen_cut = False
    for words in range(0, 400, 37):  # drafts of many lengths move the cut-off around
        window = assistant.context(conv, "And then? " + "more " * words)
        history = [i for i in window.items if i.kind == "history" and i.state == "included"]
        left = [i for i in window.items if i.kind == "history" and i.state == "over_budget"]
        seen_cut = seen_cut or bool(left)
        assert history and history[0].role == "user", [(i.role, i.text[:20]) for i in history[:2]]
    assert seen_cut


def test_matches_already_in_the_chat_are_listed_not_repeated(assistant: Assistant) -> None:
    conv, ids = _conversation(
        assistant, [("user", "My cat is called Pixel and chews plants."), ("assistant", "Pixel sounds lively.")]
    )
    window = assistant.context(conv, "What is my cat Pixel called?")
    seen = [i for i in window.items if i.state == "in_conversation"]
    assert seen and all(i.tokens == 0 and i.kind == "memory" for i in seen)
    assert "already in the conversation" in seen[0].reason
    assert window.prompt.count("My cat is called Pixel") == 1  # in the history, not quoted again
    assert sum(i.tokens for i in window.items if i.included) == window.prompt_tokens


def test_the_message_being_answered_is_no_match_for_itself(assistant: Assistant) -> None:
    """Stored before its window is built, it would match its own words, be listed as "already in the
    conversation" and push every other match down a rank; on Regenerate it is in the index too."""
    conv, _ = _conversation(
        assistant, [("user", "My cat is called Pixel and chews plants."), ("assistant", "Pixel sounds lively.")]
    )
    text = "Which plants does my cat Pixel chew?"
    preview = assistant.context(conv, text)
    assistant.settings.max_tokens = 8
    sent = [e.window for e in assistant.turn(conv, text) if isinstance(e, ContextReady)]
    again = [e.window for e in assistant.regenerate(conv) if isinstance(e, ContextReady)]
    for window in (*sent, *again):
        assert window.prompt == preview.prompt
        assert not [i for i in window.items if i.kind == "memory" and i.text.endswith(text)]
        assert [i.source for i in window.items if i.state == "in_conversation"] == [
            i.source for i in preview.items if i.state == "in_conversation"
        ]


def test_what_the_user_said_ranks_above_what_the_assistant_said(assistant: Assistant) -> None:
    _conversation(assistant, [("user", "Ines is my sister and lives in Lisbon."),
                              ("assistant", "Ines is a place in Portugal, not a person.")], "Family")
    window = assistant.context(None, "Who is Ines?")
    notes = [i for i in window.items if i.kind == "memory" and i.included]
    assert notes and notes[0].text.endswith("Ines is my sister and lives in Lisbon.")
    said = [i for i in notes if "said by Glassmind" in i.reason]
    assert said and said[0].scores is not None and notes[0].scores is not None
    assert said[0].scores["fused"] < notes[0].scores["fused"]
    # The notes read as a plain list under a header that says what they are: no quote marks.
    assert MEMORY_HEADER in window.prompt and "- user: Ines is my sister" in window.prompt
    assert "\n> " not in window.prompt


def test_an_empty_draft_retrieves_nothing(assistant: Assistant) -> None:
    assistant.open_memory()
    assistant.memories.add("The user's bicycle is called Rocket.")
    window = assistant.context(None, "…", search=False)
    assert [i.kind for i in window.items] == ["system", "message", "template"]


def test_continue_extends_a_reply_cut_at_the_length_limit(assistant: Assistant) -> None:
    assistant.settings = dataclasses.replace(assistant.settings, max_tokens=10)
    events = list(assistant.turn(None, "Tell me a long story about a lighthouse keeper."))
    reply = events[-1]
    assert isinstance(reply, Finished) and reply.reply.status == "length"
    conv = reply.reply.conversation_id
    events = list(assistant.continue_reply(conv))
    done = events[-1]
    assert isinstance(done, Finished), done
    msgs = assistant.store.messages(conv)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[1].id == reply.reply.id
    assert msgs[1].content.startswith(reply.reply.content) and len(msgs[1].content) > len(reply.reply.content)
    assert reply.reply.completion_tokens is not None
    assert msgs[1].completion_tokens == reply.reply.completion_tokens + done.usage.completion_tokens
    memory = assistant.memories.for_message(msgs[1].id)
    assert memory is not None and memory.text == msgs[1].content
    assert assistant.store.query("SELECT 1 FROM memory_vectors WHERE memory_id = ?", [memory.id])  # re-embedded

    # Nothing to continue when the last message is the user's.
    assistant.store.import_messages(conv, [{"role": "user", "content": "Thanks!", "created": STAMP}])
    assert isinstance(list(assistant.continue_reply(conv))[-1], Failed)
