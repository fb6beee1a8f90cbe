"""What follows a reply, the same for every front end: the notes the model suggests from the message
just answered, and what the backups had to say meanwhile. ui/engine.py and ``glassmind chat`` call
``Assistant.after_turn`` and only show what it returns; a failure here never fails the chat."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.settings import Settings
from assistant.store import Store
from assistant.suggestions import Suggestion, SuggestionBook, suggest
from models.embedder import Embedder
from models.errors import GlassmindError

if TYPE_CHECKING:
    from models.runtime import ChatRuntime


@dataclass(frozen=True)
class AfterTurn:
    """What the step after a reply found, for a front end to show."""

    suggestions: tuple[Suggestion, ...] = ()  # made now: pending, or approved with auto-approve on
    notes_added: bool = False  # auto-approve turned some into notes: the memory list changed
    cancelled: bool = False  # the user typed or sent meanwhile: the message is read again next time
    error: str | None = None  # why no suggestions were made this time (one sentence)
    notices: tuple[str, ...] = ()  # what the backups had to say (one that could not be rewritten)


class AfterReply:
    """The Assistant's step after a reply (assistant/app.py mixes it in)."""

    store: Store
    settings: Settings
    embedder: Embedder
    suggestions: SuggestionBook

    if TYPE_CHECKING:  # given by the Assistant this is a part of (assistant/app.py)

        @property
        def model(self) -> ChatRuntime: ...

    def after_turn(self, conversation_id: int, *, cancel: threading.Event | None = None) -> AfterTurn:
        """Once the reply is stored and shown, when nothing waits for the model: suggest notes
        (``cancel`` abandons that at once), then collect the notices of the backups."""
        made: list[Suggestion] | None = []
        error = None
        try:
            made = self.suggest(conversation_id, cancel=cancel)
        except GlassmindError as exc:
            error = str(exc)
        return AfterTurn(
            suggestions=tuple(made or ()),
            notes_added=any(s.status == "approved" for s in made or ()),
            cancelled=made is None,
            error=error,
            notices=tuple(self.take_notices()),
        )

    def take_notices(self) -> list[str]:
        """What the backups had to say since the last call (each said once)."""
        notices = list(self.store.backups.notices)
        self.store.backups.notices.clear()
        return notices

    def suggest(self, conversation_id: int, *, cancel: threading.Event | None = None) -> list[Suggestion] | None:
        """Notes the model suggests from the conversation's last user message, stored as pending (as
        notes at once with auto-approve on, except flagged ones). Call it after the reply is stored, when
        nothing waits for the model; ``cancel`` abandons it (None then) and the message is read again next time.
        Nothing (an empty list) when the user switched suggestions off."""
        if not self.settings.suggest_notes:
            return []
        self.embedder.load()
        made = suggest(
            self.suggestions, self.model, self.embedder.encode, self.store.messages(conversation_id), cancel=cancel
        )
        if made and self.settings.auto_approve:
            for s in made:
                if s.flag is None:  # an instruction, or words from the reply, waits for the user
                    self.suggestions.approve(s.id)
            made = [self.suggestions.get(s.id) for s in made]
        return made
