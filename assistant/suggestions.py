"""Suggested notes: after a turn the chat model proposes durable facts, the user approves or rejects them.

The model answers in JSON constrained by a llama.cpp grammar (``ChatModel.complete_json``), so its
output always parses; each fact names the message it was read from. A fact already noted is dropped,
one that changes a note is proposed as an edit of it, one the user rejected is never proposed again.
Approving goes through the memory's own add and edit paths; forgetting is in assistant/erasure.py.

Beside the model, ``assistant.note_extractor`` reads the user's own first-person statements without a
model call (a small model rarely manages the task); the two are merged, the extractor's wording first.
A suggestion that reads like an instruction to the assistant, or was drawn from the assistant's reply,
carries a ``flag`` saying why (``assistant.note_checks``) and is never approved without the user.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from assistant import repository
from assistant.kinds import MemoryKind, MemorySource, SuggestionStatus
from assistant.memory import Memory, MemoryStore, clean_text
from assistant.note_checks import FROM_REPLY, instruction_reason
from assistant.note_extractor import durable_statements, extract
from assistant.store import Message, Store
from assistant.text import strip_invisible
from models.errors import InvalidInputError, NotFoundError

KINDS = ("fact", "preference", "event")
MAX_FACTS = 3  # per message: bounds the answer, so the grammar never runs out of tokens
MAX_FACT_CHARS = 100
ANSWER_TOKENS = 640  # above what MAX_FACTS facts of MAX_FACT_CHARS can take, whatever the tokenizer
MESSAGE_CHARS = 1500  # of the message shown to the model; a longer one is cut
REPLY_CHARS = 600  # of the reply, shown as context only

# Similarity (all-MiniLM-L6-v2, cosine) above which a fact is about the same thing as a note. Measured:
# "balcony faces north"/"south" 0.94, "lives in Leeds"/"in Bristol" 0.76, "likes jazz"/"has a dog" 0.15.
SAME_TOPIC = 0.72
# Above this, a fact that adds no word to a note says the same thing: "allergic to peanuts" twice, 0.99.
SAME_FACT = 0.80

# Share of a fact's content words that must appear in its source message.
GROUNDED = 0.6

SYSTEM_PROMPT = (
    "You read one chat message and pick out durable facts about the user that are worth remembering "
    "in later conversations: who they are, people and pets in their life, where they live, work, "
    "health, what they like or dislike, and events with a date. Write each as a short note. "
    "Skip questions, greetings, small talk, and anything only true for a moment. "
    "If there is nothing worth keeping, answer with an empty list. Answer in JSON."
)
_STOP = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "am", "i", "i'm", "im", "my", "me", "user",
    "user's", "they", "their", "them", "he", "she", "his", "her", "it", "its", "to", "of", "in", "on", "at",
    "for", "and", "or", "with", "by", "from", "as", "that", "this", "has", "have", "had", "do", "does", "did",
    "will", "would",
})
_FIRST_PERSON = frozenset({
    "i", "i'm", "im", "i've", "ive", "i'd", "i'll", "me", "my", "mine", "myself", "we", "we're", "we've", "our",
    "ours", "us",
})
_WORD = re.compile(r"[a-z0-9']+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class JsonModel(Protocol):
    """What suggesting needs of a chat model (models.llama.ChatModel has it)."""

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: dict[str, object],
        *,
        max_tokens: int = ...,
        cancel: threading.Event | None = ...,
    ) -> object | None: ...


Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> L2-normalised rows


@dataclass(frozen=True)
class Candidate:
    """A fact the model proposed, before it is compared with the notes."""

    text: str
    kind: str
    event_date: str | None
    source_message_id: int


@dataclass(frozen=True)
class Suggestion:
    """A stored suggestion; ``replaces_text`` is the note it would change, for display; ``flag`` says why
    it must not be approved unseen (None: nothing to say); ``from_reply``: read from the assistant's reply."""

    id: int
    text: str
    kind: str
    event_date: str | None
    source_message_id: int | None
    replaces: int | None
    replaces_text: str | None
    note_id: int | None
    status: SuggestionStatus
    created: str
    flag: str | None = None
    from_reply: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- asking the model ---------------------------------------------------------------------


def schema(sources: Sequence[int]) -> dict[str, object]:
    """The answer's JSON schema: at most MAX_FACTS short facts, each citing one of ``sources``."""
    fact = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 3, "maxLength": MAX_FACT_CHARS},
            "kind": {"enum": list(KINDS)},
            "date": {"type": "string", "maxLength": 10},
            "source": {"enum": list(sources)},
        },
        "required": ["text", "kind", "date", "source"],
    }
    return {
        "type": "object",
        "properties": {"facts": {"type": "array", "items": fact, "maxItems": MAX_FACTS}},
        "required": ["facts"],
    }


def prompt(message: str, reply: str | None = None) -> list[dict[str, str]]:
    """The chat that asks for the facts of one user message (the reply is context, not a source)."""
    text = f"Message [1] (user): {message[:MESSAGE_CHARS]}"
    if reply:
        text += f"\n\nThe assistant answered (context only): {reply[:REPLY_CHARS]}"
    # No worked example: measured with SmolLM2-135M, a small model copies the example's facts.
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def propose(
    model: JsonModel,
    message: Message,
    reply: Message | None = None,
    *,
    cancel: threading.Event | None = None,
) -> list[Candidate] | None:
    """The facts the model reads in ``message``; None when cancelled."""
    if not worth_reading(message.content):
        return []
    answer = model.complete_json(
        prompt(message.content, reply.content if reply else None),
        schema([1]),
        max_tokens=ANSWER_TOKENS,
        cancel=cancel,
    )
    if answer is None:
        return None
    return parse_answer(answer, {1: message})


def read_statements(message: Message) -> list[Candidate]:
    """The notes ``assistant.note_extractor`` reads in a user message, without a model."""
    if message.role != "user":
        return []
    return [
        Candidate(text, s.kind, s.event_date, message.id)
        for s in extract(message.content, today=_day(message.created))
        if (text := strip_invisible(s.text).strip())
    ]


def merge(found: Sequence[Candidate], proposed: Sequence[Candidate]) -> list[Candidate]:
    """The extractor's notes, then the model's that say something else: one whose words are all in a note
    already found ("The user is allergic to peanuts" beside "I'm allergic to peanuts") is left out."""
    out = list(found)
    for cand in proposed:
        words = content_words(cand.text)
        if not any(words <= content_words(f.text) for f in out):
            out.append(cand)
    return out


def worth_reading(text: str) -> bool:
    """Whether a message may say something about the user: it speaks in the first person. "What's 15%
    of 240?" or "Thanks!" never costs a model call (seconds of a busy CPU)."""
    return bool(_FIRST_PERSON & set(_WORD.findall(text.lower())))


def parse_answer(answer: object, sources: dict[int, Message]) -> list[Candidate]:
    """Candidates from the model's JSON (``sources``: number in the prompt -> message). Dropped: facts
    too short to mean anything, repeated within the answer, or not grounded in the sentences of their
    message that may state something lasting (never a question, an instruction, a hypothetical, reported
    speech or a passing state: the extractor's own rules). Measured: facts
    read from the assistant's reply (shown to the model as context) were the model's own words copied
    back ("Your sister's home is your family's place"), so none is kept."""
    facts = answer.get("facts") if isinstance(answer, dict) else None
    out: list[Candidate] = []
    seen: set[str] = set()
    for fact in facts if isinstance(facts, list) else []:
        if not isinstance(fact, dict) or fact.get("source") not in sources:
            continue
        text = strip_invisible(" ".join(str(fact.get("text", "")).split())).strip(" .")
        key = normalise(text)
        source = sources[fact["source"]]
        if len(key.split()) < 3 or key in seen or _looping(key):
            continue
        if not grounded(text, " ".join(durable_statements(source.content))):
            continue
        seen.add(key)
        kind = fact.get("kind") if fact.get("kind") in KINDS else "fact"
        date = str(fact.get("date") or "")
        out.append(Candidate(text, str(kind), date if kind == "event" and _valid_date(date) else None, source.id))
    return out


def _day(created: str) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(created).date()
    except ValueError:
        return None


def _looping(key: str) -> bool:
    """A small model stuck in a loop ("I am a user. I am a user. ...") writes no note."""
    words = key.split()
    return len(words) >= 6 and len(set(words)) < 0.6 * len(words)


def _valid_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


# -- comparing with what is known --------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def content_words(text: str) -> set[str]:
    """The words that carry a fact, crudely stemmed: "peanuts" and "peanut" are one word."""
    words = set()
    for w in _WORD.findall(text.lower()):
        w = w.removesuffix("'s").strip("'")
        if w and w not in _STOP:
            words.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return words


def grounded(text: str, message: str) -> bool:
    """Whether most of a fact's words are in its message: a small model copies words from nowhere
    (its instructions, a fact it made up); a faithful note reuses the message's own words."""
    words = content_words(text)
    return bool(words) and len(words & content_words(message)) >= GROUNDED * len(words)


@dataclass(frozen=True)
class Known:
    """A text the user has already seen: a note (``note_id``) or an earlier suggestion."""

    text: str
    note_id: int | None = None


def classify(candidates: Sequence[Candidate], notes: Sequence[Known], seen: Sequence[Known], embed: Embed
             ) -> list[tuple[Candidate, int | None]]:
    """Which candidates to propose, each with the note it would change (None: a new note).

    Dropped: the same fact as a note, or as a suggestion already made (pending, approved or rejected).
    A fact on the same topic as a note that adds something to it is proposed as an edit of that note.
    """
    if not candidates:
        return []
    known = [*notes, *seen]
    cand_vecs = embed([c.text for c in candidates])
    known_vecs = embed([k.text for k in known]) if known else np.zeros((0, cand_vecs.shape[1]), np.float32)
    sims = cand_vecs @ known_vecs.T if known else np.zeros((len(candidates), 0), np.float32)
    own = cand_vecs @ cand_vecs.T
    out: list[tuple[Candidate, int | None]] = []
    taken: list[int] = []
    for i, cand in enumerate(candidates):
        words = content_words(cand.text)
        if any(_same(cand, words, k, float(sims[i, j])) for j, k in enumerate(known)):
            continue
        if any(float(own[i, t]) >= SAME_FACT for t in taken):  # said twice in one message: kept once
            continue
        taken.append(i)
        best, best_sim = None, SAME_TOPIC
        for j, note in enumerate(notes):
            if float(sims[i, j]) >= best_sim:
                best, best_sim = note.note_id, float(sims[i, j])
        out.append((cand, best))
    return out


def _same(cand: Candidate, words: set[str], known: Known, sim: float) -> bool:
    if normalise(cand.text) == normalise(known.text):
        return True
    return sim >= SAME_FACT and words <= content_words(known.text)


# -- the stored suggestions -------------------------------------------------------------------


class SuggestionBook:
    """The suggestions table: record what the model proposed, approve or reject it."""

    def __init__(self, store: Store, memories: MemoryStore) -> None:
        self.store = store
        self.memories = memories

    def rows(self, status: str | None = SuggestionStatus.PENDING) -> list[Suggestion]:
        sql = (
            _SELECT
            + (" WHERE s.status = ?" if status else "")
            + " ORDER BY s.id"
        )
        return [_suggestion(r) for r in self.store.query(sql, [status] if status else [])]

    def get(self, suggestion_id: int) -> Suggestion:
        rows = self.store.query(
            _SELECT + " WHERE s.id = ?",
            [suggestion_id],
        )
        if not rows:
            raise NotFoundError(
                f"There is no suggestion {suggestion_id}: `glassmind memory suggestions` lists the pending ones."
            )
        return _suggestion(rows[0])

    def was_read(self, message_id: int) -> bool:
        return bool(self.store.query("SELECT 1 FROM suggestion_runs WHERE message_id = ?", [message_id]))

    def record(self, message_id: int, proposals: Sequence[tuple[Candidate, int | None]]) -> list[Suggestion]:
        """Store what was proposed for ``message_id`` and mark the message as read, in one transaction;
        nothing is stored if the message was forgotten meanwhile."""
        ids: list[int] = []
        with self.store.write() as db:
            if not db.execute("SELECT 1 FROM messages WHERE id = ?", [message_id]).fetchone():
                return []
            repository.mark_read(db, message_id)
            for cand, replaces in proposals:
                ids.append(repository.add_suggestion(
                    db, text=cand.text, kind=cand.kind, event_date=cand.event_date,
                    source_message_id=cand.source_message_id, replaces=replaces,
                ))
        return [self.get(i) for i in ids]

    def known(self) -> tuple[list[Known], list[Known]]:
        """The notes, and every suggestion made so far (all of them count as seen)."""
        notes = [Known(r["text"], int(r["id"])) for r in self.store.query(
            "SELECT id, text FROM memories WHERE kind = 'note' ORDER BY id"
        )]
        seen = [Known(r["text"]) for r in self.store.query("SELECT text FROM suggestions ORDER BY id")]
        return notes, seen

    def approve(self, suggestion_id: int, text: str | None = None) -> Memory:
        """Make the suggestion a note (or change the note it replaces), with the user's wording if given.

        The note and the suggestion's "approved" are written in one transaction: a kill leaves both or
        neither, so approving again never makes a second note."""
        s = self._pending(suggestion_id)
        text = clean_text(text) if text is not None else s.text
        self.memories.embedder.load()
        self.memories.open_index()  # the note is embedded and indexed like any other

        def mark(conn: sqlite3.Connection, note_id: int) -> None:
            # Approved or rejected meanwhile (another window): nothing is written.
            if not repository.approve_suggestion(conn, suggestion_id, note_id, text):
                raise InvalidInputError(f"Suggestion {suggestion_id} was already approved or rejected.")

        if s.replaces is not None:
            # journalled: the old text leaves the backups
            return self.memories.edit(s.replaces, text, then=lambda conn: mark(conn, s.replaces or 0))
        conversation = self.store.query("SELECT conversation_id FROM messages WHERE id = ?", [s.source_message_id])
        with self.store.write() as db:
            note = self.memories.insert_rows(db, [{
                "text": text,
                "kind": MemoryKind.NOTE,
                "source": MemorySource.SUGGESTION,
                "conversation_id": conversation[0]["conversation_id"] if conversation else None,
                "note_type": s.kind,
                "event_date": s.event_date,
            }])[0]
            mark(db.conn, note.id)
        self.memories.embed_pending()
        return note

    def approve_all(self) -> list[Memory]:
        """Approve every pending suggestion that carries no flag; a flagged one waits for its own Approve."""
        return [self.approve(s.id) for s in self.rows(SuggestionStatus.PENDING) if s.flag is None]

    def reject(self, suggestion_id: int) -> None:
        """Never make this note; the text stays so the same fact is not proposed again."""
        self._pending(suggestion_id)
        with self.store.write() as tx:
            repository.reject_suggestion(tx, suggestion_id)

    def _pending(self, suggestion_id: int) -> Suggestion:
        s = self.get(suggestion_id)
        if s.status != SuggestionStatus.PENDING:
            raise InvalidInputError(f"Suggestion {suggestion_id} was already {s.status}.")
        return s


_SELECT = (
    "SELECT s.*, m.text AS replaces_text, src.role AS source_role FROM suggestions s "
    "LEFT JOIN memories m ON m.id = s.replaces LEFT JOIN messages src ON src.id = s.source_message_id"
)


def _suggestion(row: dict[str, Any]) -> Suggestion:
    row = dict(row)
    from_reply = row.pop("source_role", None) == "assistant"
    flag = instruction_reason(row["text"]) or (FROM_REPLY if from_reply else None)
    row["status"] = SuggestionStatus(row["status"])
    return Suggestion(**row, flag=flag, from_reply=from_reply)


def suggest(
    book: SuggestionBook,
    model: JsonModel,
    embed: Embed,
    conversation: Sequence[Message],
    *,
    cancel: threading.Event | None = None,
) -> list[Suggestion] | None:
    """Read the conversation's last user message (once) and store what it suggests; None when cancelled."""
    last = next((i for i in range(len(conversation) - 1, -1, -1) if conversation[i].role == "user"), None)
    if last is None or book.was_read(conversation[last].id):
        return []
    message = conversation[last]
    reply = next((m for m in conversation[last + 1 :] if m.role == "assistant"), None)
    candidates = propose(model, message, reply, cancel=cancel)
    if candidates is None or (cancel is not None and cancel.is_set()):
        return None
    notes, seen = book.known()
    return book.record(message.id, classify(merge(read_statements(message), candidates), notes, seen, embed))
