"""Curation of messages and conversations: keep a message out of the window, save it as a note,
delete a conversation for good (memories are curated in assistant/memory.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant import erasure, repository
from assistant.memory import Memory, MemoryStore
from assistant.store import Store


class Curation:
    """The Assistant's curation of messages and conversations (assistant/app.py mixes it in)."""

    store: Store
    memories: MemoryStore

    if TYPE_CHECKING:  # given by the Assistant this is a part of (assistant/app.py)
        def open_memory(self, progress: Callable[[int, int], None] | None = None, *, embed: bool = True) -> str: ...

    def set_message_excluded(self, message_id: int, excluded: bool) -> None:
        """Keep a message stored but out of (or back in) the context window."""
        self.store.update_message(message_id, excluded=int(excluded))
        memory = self.memories.for_message(message_id)
        if memory is not None:
            self.memories.set_excluded([memory.id], excluded)

    def remember(self, message_id: int, text: str | None = None) -> Memory:
        """Save a message (or an edited version of it) as a note."""
        msg = self.store.message(message_id)
        self.open_memory()
        return self.memories.add(
            text or msg.content, kind="note", source="remember", conversation_id=msg.conversation_id
        )

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation and its messages for good (their memories, records and backups included)."""
        self.store.conversation(conversation_id)
        self.store.ledger.record({"conversations": [conversation_id]})  # a restore deletes it again
        ids = self.store.message_ids(conversation_id)
        if ids:
            self.memories.forget(message_ids=ids)
        with self.store.write() as tx:
            repository.delete_conversation(tx, conversation_id)
        erasure.purge_now(self.store)
