"""Curation as typed commands: each is a frozen value a front end sends (the desktop app's engine
runs them), says what it changes so the views know what to read again, and applies itself.

A front end builds ``Pin((3, 5))`` or ``EditMemory(3, "new text")`` and hands it to ``run``; no
operation is named by a string, and mypy checks every argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from assistant.app import Assistant


class Changed(StrEnum):
    """What a command changed: the views showing it read it again."""

    MEMORIES = "memories"
    MESSAGES = "messages"
    CONVERSATIONS = "conversations"
    SUGGESTIONS = "suggestions"


MEMORIES, MESSAGES = Changed.MEMORIES, Changed.MESSAGES
CONVERSATIONS, SUGGESTIONS = Changed.CONVERSATIONS, Changed.SUGGESTIONS
_EVERYTHING = frozenset(Changed)


@dataclass(frozen=True)
class Curation:
    """A curation command: ``changes`` is what it changes, ``apply`` does it."""

    changes: ClassVar[frozenset[Changed]]

    def apply(self, app: Assistant) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Pin(Curation):
    """Pin (or unpin) memories: always in the prompt while they fit."""

    ids: tuple[int, ...]
    pinned: bool = True
    changes = frozenset({MEMORIES})

    def apply(self, app: Assistant) -> None:
        app.memories.set_pinned(self.ids, self.pinned)


@dataclass(frozen=True)
class Exclude(Curation):
    """Leave memories out of what the model reads (or include them again); a message's memory
    excludes the message too."""

    ids: tuple[int, ...]
    excluded: bool = True
    changes = frozenset({MEMORIES, MESSAGES})

    def apply(self, app: Assistant) -> None:
        app.memories.set_excluded(self.ids, self.excluded)


@dataclass(frozen=True)
class EditMemory(Curation):
    memory_id: int
    text: str
    changes = frozenset({MEMORIES, MESSAGES, CONVERSATIONS})

    def apply(self, app: Assistant) -> None:
        app.memories.edit(self.memory_id, self.text)


@dataclass(frozen=True)
class Forget(Curation):
    """Erase memories for good (with the messages they are)."""

    ids: tuple[int, ...]
    changes = _EVERYTHING

    def apply(self, app: Assistant) -> None:
        app.memories.forget(self.ids)


@dataclass(frozen=True)
class AddNote(Curation):
    text: str
    changes = frozenset({MEMORIES})

    def apply(self, app: Assistant) -> None:
        app.memories.add(self.text)


@dataclass(frozen=True)
class Remember(Curation):
    """Keep a chat message as a note."""

    message_id: int
    changes = frozenset({MEMORIES})

    def apply(self, app: Assistant) -> None:
        app.remember(self.message_id)


@dataclass(frozen=True)
class ExcludeMessage(Curation):
    message_id: int
    excluded: bool = True
    changes = frozenset({MEMORIES, MESSAGES})

    def apply(self, app: Assistant) -> None:
        app.set_message_excluded(self.message_id, self.excluded)


@dataclass(frozen=True)
class DeleteConversation(Curation):
    conversation_id: int
    changes = _EVERYTHING

    def apply(self, app: Assistant) -> None:
        app.delete_conversation(self.conversation_id)


@dataclass(frozen=True)
class RenameConversation(Curation):
    conversation_id: int
    title: str
    changes = frozenset({CONVERSATIONS})

    def apply(self, app: Assistant) -> None:
        app.store.rename_conversation(self.conversation_id, self.title)


@dataclass(frozen=True)
class ChooseAlternative(Curation):
    """Show another answer Regenerate kept in place of the last reply."""

    message_id: int
    changes = frozenset({MEMORIES, MESSAGES})

    def apply(self, app: Assistant) -> None:
        app.choose_alternative(self.message_id)


@dataclass(frozen=True)
class ApproveSuggestion(Curation):
    """Keep a suggested note, as suggested or as the user edited it."""

    suggestion_id: int
    text: str | None = None
    changes = frozenset({MEMORIES, MESSAGES, SUGGESTIONS})

    def apply(self, app: Assistant) -> None:
        app.suggestions.approve(self.suggestion_id, self.text)


@dataclass(frozen=True)
class RejectSuggestion(Curation):
    suggestion_id: int
    changes = frozenset({SUGGESTIONS})

    def apply(self, app: Assistant) -> None:
        app.suggestions.reject(self.suggestion_id)


@dataclass(frozen=True)
class ApproveAllSuggestions(Curation):
    """Approve every pending suggestion that carries no flag."""

    changes = frozenset({MEMORIES, MESSAGES, SUGGESTIONS})

    def apply(self, app: Assistant) -> None:
        app.suggestions.approve_all()


def run(app: Assistant, command: Curation) -> frozenset[Changed]:
    """Do ``command``; returns what it changed."""
    command.apply(app)
    return command.changes
