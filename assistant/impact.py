"""What else changes when a memory is forgotten or edited, said before it happens.

A memory made from a chat message *is* that message: forgetting it removes the
message from its conversation, and editing it changes the message (and the
conversation's title, when the title was made from it). The UI and the CLI
show these sentences in their confirmations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from assistant.store import Store


@dataclass(frozen=True)
class Impact:
    """One memory and the conversation message it stands for, if any."""

    memory_id: int
    message_id: int | None
    role: str | None  # "user" or "assistant" for a message; None for a note
    conversation_id: int | None
    conversation_title: str | None
    names_conversation: bool  # the conversation's title was made from this message
    set_aside: bool = False  # an earlier answer that Regenerate set aside (not shown in the chat)
    answers_set_aside: int = 0  # for a question: its earlier answers, which go with it


def impacts(store: Store, memory_ids: Iterable[int]) -> list[Impact]:
    ids = [int(i) for i in memory_ids]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = store.query(
        "SELECT m.id AS memory_id, m.message_id, msg.role, msg.conversation_id, c.title, "
        "c.title_message_id = m.message_id AS names, msg.alternative_of IS NOT NULL AS set_aside, "
        "(SELECT count(*) FROM messages a WHERE a.alternative_of = m.message_id) AS answers "
        "FROM memories m LEFT JOIN messages msg ON msg.id = m.message_id "
        f"LEFT JOIN conversations c ON c.id = msg.conversation_id WHERE m.id IN ({marks}) ORDER BY m.id",
        ids,
    )
    return [
        Impact(
            memory_id=int(r["memory_id"]),
            message_id=r["message_id"],
            role=r["role"],
            conversation_id=r["conversation_id"],
            conversation_title=r["title"],
            names_conversation=bool(r["names"]),
            set_aside=bool(r["set_aside"]),
            answers_set_aside=int(r["answers"] or 0),
        )
        for r in rows
    ]


def _who(role: str | None) -> str:
    return "your message" if role == "user" else "a reply of Glassmind's"


def forget_warning(found: list[Impact]) -> str:
    """Sentences for a forget confirmation: which conversations lose which messages."""
    in_chat = [i for i in found if i.message_id is not None and i.conversation_id is not None]
    if not in_chat:
        return "These are notes: no conversation changes." if len(found) > 1 else (
            "This is a note: no conversation changes."
        )
    if len(in_chat) == 1 and len(found) == 1:
        i = in_chat[0]
        if i.set_aside:
            return (
                f"This is an earlier answer in “{i.conversation_title}” that Regenerate set aside: forgetting "
                "it erases it for good; the conversation does not change."
            )
        n = i.answers_set_aside
        also = ""
        if n:
            also = " Its earlier answer (Regenerate) goes with it." if n == 1 else (
                f" Its {n} earlier answers (Regenerate) go with it."
            )
        return (
            f"This is {_who(i.role)} in “{i.conversation_title}”: forgetting it removes it from "
            f"that conversation too.{also}"
        )
    titles = sorted({f"“{i.conversation_title}”" for i in in_chat})
    return (
        f"{len(in_chat)} of these are messages in {', '.join(titles)}: forgetting them removes them from "
        "those conversations too."
    )


def edit_warning(found: Impact) -> str:
    """A sentence for an edit dialog: whether a chat message (and a title) changes with it."""
    if found.message_id is None or found.conversation_id is None:
        return "This is a note: editing it changes no conversation."
    title = " and the conversation's title, which was made from it" if found.names_conversation else ""
    return (
        f"This is {_who(found.role)} in “{found.conversation_title}”: editing it changes the message in that "
        f"conversation too{title}. The old text is erased everywhere, backups included."
    )
