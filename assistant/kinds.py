"""The closed sets of names the core stores and shows: a window item's state, a memory's kind and
source, a suggestion's status.

Each is a ``StrEnum``: a member *is* its string, so what is stored (SQLite rows, turn records),
exported and printed as JSON stays byte-for-byte what it was, and an old database reads the same.
"""

from __future__ import annotations

from enum import StrEnum


class ItemState(StrEnum):
    """Where a context-window item stands: in the prompt, or why not."""

    INCLUDED = "included"
    OVER_BUDGET = "over_budget"  # older than the cut-off, or past the budget
    EXCLUDED = "excluded"  # left out by the user
    FORGOTTEN = "forgotten"  # erased since (a past turn's record)
    IN_CONVERSATION = "in_conversation"  # a match whose message is already in the window
    BELOW_FLOOR = "below_floor"  # a candidate under the relevance floor

    @classmethod
    def parse(cls, value: str | None) -> ItemState:
        """A recorded state (none recorded: included, the field's default); one this version does not
        know counts as left out, never as in the prompt."""
        if value is None:
            return cls.INCLUDED
        try:
            return cls(value)
        except ValueError:
            return cls.EXCLUDED


class MemoryKind(StrEnum):
    """A note (written, remembered, approved or imported) or a chat message."""

    NOTE = "note"
    MESSAGE = "message"


class MemorySource(StrEnum):
    """Where a memory came from. Imported notes may carry a source of their own (any short text),
    so ``Memory.source`` is one of these or that text."""

    USER = "user"  # written by hand
    CHAT = "chat"  # a message shown in its conversation
    ALTERNATIVE = "alternative"  # an answer Regenerate set aside: searchable, never retrieved
    REMEMBER = "remember"  # a message the user asked to remember
    SUGGESTION = "suggestion"  # an approved suggestion
    IMPORT = "import"
    BENCH = "bench"

    @classmethod
    def parse(cls, value: str | None) -> MemorySource | str | None:
        """A stored source: the member when it is one, else the text as stored."""
        return _SOURCES.get(value, value) if value is not None else None


_SOURCES: dict[str, MemorySource] = {s.value: s for s in MemorySource}


class SuggestionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
