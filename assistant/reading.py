"""What a display reads, on a database connection of its own: the window's reader thread runs these.

The engine thread owns the model, the embedder and the writes; a reply can
stream for minutes there. Reads for display (a conversation's messages, the
memory browser, a past turn's window, a forget's impact) must not queue
behind it, so they go through a Reader: a second connection (WAL mode lets
it read while the engine writes), no embedder, no index. Every answer is a
frozen value the window can keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from assistant import memory as memory_rows
from assistant import paths
from assistant.context import WindowView
from assistant.impact import Impact, impacts
from assistant.memory import Memory
from assistant.opening import open_store
from assistant.settings import Settings
from assistant.store import AnswerChoice, Conversation, Message
from models.errors import NotFoundError
from models.registry import ModelEntry, ModelRegistry
from models.servers import ServerEntry, ServerRegistry


@dataclass(frozen=True)
class ConversationView:
    """What the chat shows of one conversation: its newest messages, whether older ones exist, and
    where the last reply stands among the answers Regenerate kept (‹ 2/3 ›), if it has others."""

    conversation: Conversation
    messages: tuple[Message, ...]
    has_older: bool
    answers: AnswerChoice | None = None


@dataclass(frozen=True)
class MessagePage:
    """Messages just before a given one (oldest first), and whether there are more before them."""

    messages: tuple[Message, ...]
    has_older: bool


@dataclass(frozen=True)
class PastTurn:
    """A past turn's recorded window, and when that turn was."""

    created: str
    window: WindowView


@dataclass(frozen=True)
class MemoryRefresh:
    """The memory browser after a change: the rows it holds as they are now (a forgotten one is
    absent from ``fresh``), the first page of its search and sort, and the memory count."""

    asked: tuple[int, ...]
    fresh: Mapping[int, Memory]
    first_page: tuple[Memory, ...]
    count: int


@dataclass(frozen=True)
class SettingsView:
    """What the settings dialog opens with: the stored settings and the models it can pick."""

    settings: Settings
    models: tuple[ModelEntry, ...]
    servers: tuple[ServerEntry, ...] = ()  # model servers the user added (models/servers.py)


@dataclass(frozen=True)
class SystemPromptView:
    """What the system prompt dialog opens with: the conversation's own prompt (None: it uses the
    one from Settings) and the one from Settings."""

    conversation_id: int | None
    own: str | None
    default: str


class Reader:
    """Read-only queries for a display; one connection, used from one thread."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir else paths.data_dir()
        self.store = open_store(paths.database_path(self.data_dir))

    def close(self) -> None:
        self.store.close()

    # -- conversations --------------------------------------------------------------

    def conversations(self, search: str | None = None) -> list[Conversation]:
        return self.store.conversations(search=search or None)

    def conversation(self, conversation_id: int) -> Conversation | None:
        """None when it is gone (deleted meanwhile): the window shows what is, and says nothing."""
        try:
            return self.store.conversation(conversation_id)
        except NotFoundError:
            return None

    def conversation_view(self, conversation_id: int, limit: int) -> ConversationView | None:
        """The newest ``limit`` messages; None when the conversation is gone."""
        conversation = self.conversation(conversation_id)
        if conversation is None:
            return None
        messages = self.store.messages(conversation_id, limit=limit)
        more = self.store.message_count(conversation_id) > len(messages)
        return ConversationView(conversation, tuple(messages), more, self.store.answer_choice(messages))

    def older(self, conversation_id: int, before_id: int, limit: int) -> MessagePage:
        older = self.store.messages(conversation_id, before_id=before_id, limit=limit)
        more = bool(older) and bool(self.store.messages(conversation_id, before_id=older[0].id, limit=1))
        return MessagePage(tuple(older), more)

    def message(self, message_id: int) -> Message | None:
        try:
            return self.store.message(message_id)
        except NotFoundError:
            return None

    def past_turn(self, message_id: int) -> PastTurn | None:
        """The window recorded for the turn a message belongs to; None when none was recorded."""
        record = self.store.turn_for_message(message_id)
        return PastTurn(record.created, WindowView.of_record(record)) if record is not None else None

    # -- memories -------------------------------------------------------------------

    def memories(self, search: str | None, kind: str | None, sort: str, offset: int, limit: int) -> list[Memory]:
        """A page of memories: ``kind`` "note" or "message" shows one kind, None both."""
        return memory_rows.browse(self.store, search=search, kind=kind, sort=sort, limit=limit, offset=offset)

    def memory(self, memory_id: int) -> Memory | None:
        try:
            return memory_rows.get(self.store, memory_id)
        except NotFoundError:
            return None

    def memory_refresh(
        self, ids: list[int], search: str | None, kind: str | None, sort: str, limit: int
    ) -> MemoryRefresh:
        return MemoryRefresh(
            asked=tuple(ids),
            fresh=memory_rows.get_many(self.store, ids),
            first_page=tuple(self.memories(search, kind, sort, 0, limit)),
            count=memory_rows.count(self.store),
        )

    def memory_count(self) -> int:
        return memory_rows.count(self.store)

    def impacts(self, memory_ids: list[int]) -> list[Impact]:
        return impacts(self.store, memory_ids)

    # -- settings -------------------------------------------------------------------

    def settings(self) -> SettingsView:
        """The stored settings, and the model list (reading each GGUF file's header)."""
        settings = Settings.from_json(self.store.get_setting("settings"))
        return SettingsView(settings, tuple(ModelRegistry(self.data_dir).entries()),
                            tuple(ServerRegistry(self.data_dir).entries()))

    def system_prompt(self, conversation_id: int | None) -> SystemPromptView:
        """A conversation's own system prompt and the one from Settings (a conversation gone
        meanwhile, or none yet: only the one from Settings)."""
        settings = Settings.from_json(self.store.get_setting("settings"))
        conversation = self.conversation(conversation_id) if conversation_id is not None else None
        own = conversation.system_prompt if conversation is not None else None
        return SystemPromptView(conversation_id if conversation is not None else None, own, settings.system_prompt)
