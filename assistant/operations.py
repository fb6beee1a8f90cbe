"""Curation by name: the one table the desktop app's engine (and any other front end) dispatches
through, with what each operation changes, so the views know what to read again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.app import Assistant

MEMORIES, MESSAGES, CONVERSATIONS, SUGGESTIONS = "memories", "messages", "conversations", "suggestions"


def _rename(app: Assistant, args: tuple[int, str]) -> None:
    app.store.rename_conversation(*args)


OPERATIONS: dict[str, tuple[Callable[[Assistant, Any], object], frozenset[str]]] = {
    "pin": (lambda app, ids: app.memories.set_pinned(ids, True), frozenset({MEMORIES})),
    "unpin": (lambda app, ids: app.memories.set_pinned(ids, False), frozenset({MEMORIES})),
    "exclude": (lambda app, ids: app.memories.set_excluded(ids, True), frozenset({MEMORIES, MESSAGES})),
    "include": (lambda app, ids: app.memories.set_excluded(ids, False), frozenset({MEMORIES, MESSAGES})),
    "edit": (lambda app, args: app.memories.edit(*args), frozenset({MEMORIES, MESSAGES, CONVERSATIONS})),
    "forget": (
        lambda app, ids: app.memories.forget(ids), frozenset({MEMORIES, MESSAGES, CONVERSATIONS, SUGGESTIONS})
    ),
    "add": (lambda app, text: app.memories.add(text), frozenset({MEMORIES})),
    "remember": (lambda app, message_id: app.remember(message_id), frozenset({MEMORIES})),
    "exclude_message": (lambda app, mid: app.set_message_excluded(mid, True), frozenset({MEMORIES, MESSAGES})),
    "include_message": (lambda app, mid: app.set_message_excluded(mid, False), frozenset({MEMORIES, MESSAGES})),
    "delete_conversation": (
        lambda app, cid: app.delete_conversation(cid), frozenset({MEMORIES, MESSAGES, CONVERSATIONS, SUGGESTIONS})
    ),
    "approve_suggestion": (
        lambda app, args: app.suggestions.approve(*args), frozenset({MEMORIES, MESSAGES, SUGGESTIONS})
    ),
    "reject_suggestion": (lambda app, sid: app.suggestions.reject(sid), frozenset({SUGGESTIONS})),
    "approve_all_suggestions": (
        lambda app, _args: app.suggestions.approve_all(), frozenset({MEMORIES, MESSAGES, SUGGESTIONS})
    ),
    "choose_alternative": (lambda app, mid: app.choose_alternative(mid), frozenset({MEMORIES, MESSAGES})),
    "rename_conversation": (_rename, frozenset({CONVERSATIONS})),
}


def run(app: Assistant, name: str, args: Any) -> frozenset[str]:
    """Do operation ``name``; returns what it changed ("memories", "messages", "conversations")."""
    try:
        operation, changes = OPERATIONS[name]
    except KeyError:
        raise ValueError(f"no curation operation {name!r}") from None
    operation(app, args)
    return changes
