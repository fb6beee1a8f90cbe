"""What a run remembers between trials (secrets, expected messages, problems) and the words it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAILURE_KINDS = (
    "lost_messages",
    "unindexed",
    "leaked_files",
    "index_divergent",
    "integrity_failures",
    "duplicate_imports",
    "partial_imports",
    "unapplied",
    "duplicate_notes",
    "hangs",
)
TOPICS = (
    "blue",
    "garden",
    "gym",
    "office",
    "garage",
    "boat",
    "studio",
    "cellar",
    "attic",
    "bike",
    "pool",
    "school",
    "library",
    "station",
    "harbour",
    "bakery",
    "chapel",
    "market",
    "tower",
    "barn",
)
QUESTIONS = (
    "What should I plant in a small garden this spring?",
    "Give me one tip for sleeping better.",
    "How do I keep basil alive on a windowsill?",
    "Suggest a name for a grey cat.",
    "What is a quick dinner with eggs?",
    "How long should I boil pasta?",
    "Remind me what we said about the lockers.",
    "Which code word did I save for the locker?",
)
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

Progress = Callable[[str], None]


class Abort(Exception):
    """The next start failed: the data dir is broken, and the run stops."""


@dataclass
class Secret:
    """A note with unique markers, from its creation to its erasure."""

    sid: int
    markers: list[str]
    text: str
    token: str
    trial: int
    note_id: int | None = None
    status: str = "live"  # live | forgetting | editing | forgotten | edited | erased
    edited_to: Secret | None = None
    erased_in: int | None = None
    in_prompt: bool = False
    in_backup: bool = False
    via: str = ""  # "forget" or "edit": the operation that took it away
    changed_in: int | None = None  # the trial of that operation

    def needles(self) -> list[str]:
        """What must be gone from every file once it is erased: the markers, each line of the
        text, and the token FTS5 keeps (whole, and its tail: FTS5 prefix-compresses terms)."""
        out = list(self.markers)
        out += [line for line in self.text.splitlines() if line.strip()]
        out += [self.token, self.token[-7:]]
        return list(dict.fromkeys(out))

    def search_needles(self) -> list[str]:
        """What a user searches for to find every copy (a reply may echo only the token)."""
        return list(dict.fromkeys(self.markers + [self.token, self.token[-7:]]))


@dataclass
class State:
    expected: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # id -> (content, origin)
    pending_texts: list[tuple[str, str]] = field(default_factory=list)  # checked at the next check
    removed: set[int] = field(default_factory=set)  # message ids the harness itself erased
    removed_texts: set[str] = field(default_factory=set)  # and their texts
    secrets: list[Secret] = field(default_factory=list)
    import_keys_seen: set[str] = field(default_factory=set)
    problems: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    # file -> (signature, secret ids)
    scanned: dict[str, tuple[tuple[Any, ...], set[int]]] = field(default_factory=dict)
    durations: dict[str, list[float]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    suggestions: dict[int, str] = field(default_factory=dict)  # suggestion id -> its note's text (approve)


def import_key(conv: dict[str, Any]) -> str:
    """The key an import gives a conversation of an export file."""
    from assistant.transfer import conversation_key

    return conversation_key(conv["created"], [(m["role"], m["content"], m["created"]) for m in conv["messages"]])
