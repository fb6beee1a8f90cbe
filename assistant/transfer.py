"""Export and import conversations and notes as JSON: the user's explicit act, nothing else leaves.

An import is checked whole before anything is written, then written in one transaction: it
adds everything or nothing. Importing the same export again adds nothing (each conversation
carries a fingerprint of its messages; a note is known by its text and date).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import repository
from assistant.app import Assistant
from assistant.context import MAX_MESSAGE_CHARS
from assistant.memory import MAX_MEMORY_CHARS, clean_text, message_item
from assistant.note_checks import instruction_reason
from assistant.store import Message, conversation_title, now_iso
from assistant.suggestions import KINDS as NOTE_TYPES
from assistant.text import clean_input
from models.errors import InvalidInputError, StoreError

FORMAT = "glassmind-export"
VERSION = 1
MAX_IMPORT_BYTES = 256 * 2**20
ROLES = ("user", "assistant")
STATUSES = ("ok", "partial", "failed", "length")  # length: cut at the length limit (Continue)
NOTHING = "nothing was imported"


@dataclass(frozen=True)
class _Answer:
    """An earlier answer to a user message that Regenerate set aside."""

    content: str
    created: str
    status: str


@dataclass(frozen=True)
class _Message:
    role: str
    content: str
    created: str
    status: str
    excluded: bool
    earlier_answers: tuple[_Answer, ...] = ()


@dataclass(frozen=True)
class _Conversation:
    title: str
    created: str
    messages: list[_Message]

    @property
    def key(self) -> str:
        return conversation_key(self.created, [(m.role, m.content, m.created) for m in self.messages])


@dataclass(frozen=True)
class _Note:
    text: str
    created: str | None
    pinned: bool
    excluded: bool
    source: str
    note_type: str | None = None  # "fact", "preference" or "event" (an approved suggestion)
    event_date: str | None = None


@dataclass
class ImportResult:
    """What an import added, and what it skipped because it was already there."""

    conversations: int = 0
    messages: int = 0
    notes: int = 0
    skipped_conversations: int = 0
    skipped_notes: int = 0
    flagged_notes: int = 0  # read like instructions: they wait on the Suggested tab, not kept as notes
    memory_ids: list[int] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        text = (
            f"Imported {self.conversations} conversations ({self.messages} messages) and {self.notes} notes."
        )
        if self.skipped_conversations or self.skipped_notes:
            text += (
                f" Skipped {self.skipped_conversations} conversations and {self.skipped_notes} notes "
                "already present."
            )
        if self.flagged_notes:
            text += (
                f" {self.flagged_notes} notes read like instructions to the assistant: they wait, flagged, "
                "in the suggested notes (`glassmind memory suggestions`) for you to approve or reject."
            )
        return text


def conversation_key(created: str, messages: Iterable[tuple[str, str, str]]) -> str:
    """The fingerprint of a conversation: its date and its messages' role, text and date, in order."""
    payload = json.dumps([created, [list(m) for m in messages]], ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- export ---------------------------------------------------------------------


def _exported(app: Assistant, m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": m.role, "content": m.content, "created": m.created, "status": m.status, "excluded": bool(m.excluded)
    }
    if m.role == "user":  # the answers Regenerate set aside travel with their question
        answers = app.store.alternatives(m.id)
        if answers:
            out["earlier_answers"] = [{"content": a.content, "created": a.created, "status": a.status} for a in answers]
    return out


def export_data(app: Assistant) -> dict[str, Any]:
    """Every conversation with its messages, and every note with its flags."""
    conversations = []
    for conv in reversed(app.store.conversations()):
        conversations.append(
            {
                "title": conv.title,
                "created": conv.created,
                "messages": [_exported(app, m) for m in app.store.messages(conv.id)],
            }
        )
    notes = [
        {
            "text": m.text, "created": m.created, "pinned": m.pinned, "excluded": m.excluded, "source": m.source,
            **({"type": m.note_type} if m.note_type else {}),
            **({"event_date": m.event_date} if m.event_date else {}),
        }
        for m in app.memories.browse(kind="note", sort="oldest")
    ]
    return {"format": FORMAT, "version": VERSION, "conversations": conversations, "notes": notes}


def write_export(path: Path, data: dict[str, Any]) -> None:
    """Write an export so that ``path`` is never left half written: a temporary file, then a rename.

    Only a regular file is replaced that way, keeping its permissions; a symlink is written
    through (its target is replaced, the link stays), and anything else that is not a regular
    file (a pipe, a device such as /dev/null) is written into, never replaced."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    shown = Path(path)
    target = Path(os.path.realpath(shown))  # through every symlink, to what is written
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise StoreError(f"Could not write {shown}: {exc.strerror or exc}. Choose another place.") from exc
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{shown} is a folder: give a file name for the export.")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_into(shown, target, text)
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise StoreError(f"Could not write {shown}: {exc.strerror or exc}. Choose another place.") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if st is not None:  # the file being replaced keeps its permissions (and owner, where allowed)
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                with contextlib.suppress(OSError):
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StoreError(f"Could not write {shown}: {exc.strerror or exc}. Nothing was exported there.") from exc


def _write_into(shown: Path, target: Path, text: str) -> None:
    """Write into something that is not a regular file (a pipe, a device): it is never replaced.
    A pipe nobody reads is refused at once instead of waiting for a reader."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise StoreError(f"Nothing is reading the pipe {shown}: start its reader first, then export.") from exc
        raise StoreError(f"Could not write {shown}: {exc.strerror or exc}. Choose another place.") from exc
    try:
        os.set_blocking(fd, True)  # the reader is there: wait for it as a shell redirect would
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        raise StoreError(f"Could not write {shown}: {exc.strerror or exc}. The export there is incomplete.") from exc
    finally:
        os.close(fd)


# -- reading and checking --------------------------------------------------------


def read_export(path: Path) -> Any:
    """The JSON in ``path``; every way it can fail is one sentence. At most MAX_IMPORT_BYTES are
    read whatever the file claims (a device reports size 0 and never ends); only a regular file is
    read, so a pipe or a device never makes an import wait."""
    path = Path(path)
    too_large = f"{path} is too large: Glassmind imports files up to {MAX_IMPORT_BYTES // 2**20} MiB: {NOTHING}."
    try:
        # O_NONBLOCK: opening a pipe nobody writes to would otherwise wait forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError as exc:
        raise InvalidInputError(f"{path} is a folder: give the export file instead.") from exc
    except OSError as exc:
        raise InvalidInputError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InvalidInputError(f"{path} is a folder: give the export file instead.")
        if not stat.S_ISREG(mode):
            raise InvalidInputError(
                f"{path} is not a regular file (a pipe or a device): save the export to a file and import that: "
                f"{NOTHING}."
            )
        if os.fstat(fd).st_size > MAX_IMPORT_BYTES:
            raise InvalidInputError(too_large)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_IMPORT_BYTES:
            chunk = os.read(fd, min(2**20, MAX_IMPORT_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_IMPORT_BYTES:  # it grew while read, or its size was not its length
            raise InvalidInputError(too_large)
        raw = b"".join(chunks)
    except OSError as exc:
        raise InvalidInputError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text, so it cannot be a Glassmind export: {NOTHING}.") from exc
    return parse_export(text, str(path))


def parse_export(text: str, name: str = "That file") -> Any:
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise InvalidInputError(f"{name} is nested too deeply to be a Glassmind export: {NOTHING}.") from exc
    except MemoryError as exc:
        raise InvalidInputError(f"{name} is too large to read in the memory available: {NOTHING}.") from exc
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not valid JSON, so it cannot be a Glassmind export.") from exc


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {str: "text", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), "something else"
    )


def _problem(where: str, what: str) -> InvalidInputError:
    return InvalidInputError(f"{where}: {what}: {NOTHING}.")


def _string(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    """``obj[key]`` as clean text; an optional key may be missing or null (None)."""
    if obj.get(key) is None and (key not in obj or not required):
        if required:
            raise _problem(where, f"'{key}' is missing")
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise _problem(where, f"'{key}' must be text, not {_kind(value)}")
    return clean_input(value)


def _flag(obj: dict[str, Any], key: str, where: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _problem(where, f"'{key}' must be true or false, not {_kind(value)}")
    return value


def _date(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = _string(obj, key, where, required=required)
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 64:
        raise _problem(where, f"'{key}' must be a date such as {now_iso()}")
    return value


def _text_date_status(m: Any, where: str) -> tuple[str, str, str]:
    """A message's (or an earlier answer's) text, date and status, checked."""
    if not isinstance(m, dict):
        raise _problem(where, f"must be an object, not {_kind(m)}")
    content = _string(m, "content", where)
    assert content is not None
    if len(content) > MAX_MESSAGE_CHARS:
        raise _problem(where, f"the text is {len(content):,} characters; at most {MAX_MESSAGE_CHARS:,} are allowed")
    created = _date(m, "created", where)
    assert created is not None
    status = m.get("status", "ok")
    if status is None:
        status = "ok"
    if status not in STATUSES:
        shown = f"'{status}'" if isinstance(status, str) else _kind(status)
        raise _problem(where, f"status {shown} is not one of {', '.join(STATUSES)}")
    return content, created, status


def validate_export(data: Any) -> tuple[list[_Conversation], list[_Note]]:
    """Check all of an export before anything is written; the first problem is one sentence."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"That file is not a Glassmind export: {NOTHING}.")
    version = data.get("version")
    if isinstance(version, bool) or version != VERSION:
        raise InvalidInputError(
            f"That export has version {version!r}; this Glassmind reads version {VERSION}: {NOTHING}."
        )
    raw_convs = data.get("conversations", [])
    raw_notes = data.get("notes", [])
    if not isinstance(raw_convs, list):
        raise InvalidInputError(f"The export's 'conversations' must be a list, not {_kind(raw_convs)}: {NOTHING}.")
    if not isinstance(raw_notes, list):
        raise InvalidInputError(f"The export's 'notes' must be a list, not {_kind(raw_notes)}: {NOTHING}.")

    conversations = []
    for ci, c in enumerate(raw_convs, 1):
        where = f"conversation {ci}"
        if not isinstance(c, dict):
            raise _problem(where, f"must be an object, not {_kind(c)}")
        title = " ".join((_string(c, "title", where) or "").split()) or "Imported conversation"
        created = _date(c, "created", where)
        assert created is not None
        raw_msgs = c.get("messages")
        if not isinstance(raw_msgs, list):
            raise _problem(
                where,
                "'messages' is missing" if raw_msgs is None else f"'messages' must be a list, not {_kind(raw_msgs)}",
            )
        messages = []
        for mi, m in enumerate(raw_msgs, 1):
            mwhere = f"{where}, message {mi}"
            if not isinstance(m, dict):
                raise _problem(mwhere, f"must be an object, not {_kind(m)}")
            role = m.get("role")
            if role not in ROLES:
                shown = f"'{role}'" if isinstance(role, str) else _kind(role)
                raise _problem(mwhere, f"role {shown} is not allowed (only user and assistant)")
            content, mcreated, status = _text_date_status(m, mwhere)
            answers = m.get("earlier_answers")
            if answers is not None and (role != "user" or not isinstance(answers, list)):
                raise _problem(mwhere, "'earlier_answers' must be a list, and only on a user message")
            earlier = tuple(
                _Answer(*_text_date_status(a, f"{mwhere}, earlier answer {ai}"))
                for ai, a in enumerate(answers or [], 1)
            )
            messages.append(_Message(role, content, mcreated, status, _flag(m, "excluded", mwhere), earlier))
        conversations.append(_Conversation(title[:200], created, messages))

    notes = []
    for ni, n in enumerate(raw_notes, 1):
        where = f"note {ni}"
        if not isinstance(n, dict):
            raise _problem(where, f"must be an object, not {_kind(n)}")
        text = (_string(n, "text", where) or "").strip()
        if not text:
            raise _problem(where, "the text is empty")
        if len(text) > MAX_MEMORY_CHARS:
            raise _problem(where, f"the text is {len(text):,} characters; a note holds at most {MAX_MEMORY_CHARS:,}")
        source = (_string(n, "source", where, required=False) or "").strip()[:40]
        note_type = _string(n, "type", where, required=False)
        if note_type is not None and note_type not in NOTE_TYPES:
            raise _problem(where, f"type '{note_type}' is not one of {', '.join(NOTE_TYPES)}")
        notes.append(
            _Note(
                text=text,
                created=_date(n, "created", where, required=False),
                pinned=_flag(n, "pinned", where),
                excluded=_flag(n, "excluded", where),
                source=source or "import",
                note_type=note_type,
                event_date=_date(n, "event_date", where, required=False),
            )
        )
    return conversations, notes


# -- writing ------------------------------------------------------------------------


def _stored_keys(db: repository.Transaction) -> set[str]:
    """Fingerprints of every stored conversation: its import key, and one made from its messages."""
    keys = {r[0] for r in db.execute("SELECT import_key FROM conversations WHERE import_key IS NOT NULL")}
    by_conv: dict[int, tuple[str, list[tuple[str, str, str]]]] = {
        cid: (created, []) for cid, created in db.execute("SELECT id, created FROM conversations")
    }
    for cid, role, content, created in db.execute(
        "SELECT conversation_id, role, content, created FROM messages WHERE alternative_of IS NULL "
        "ORDER BY conversation_id, id"
    ):
        if cid in by_conv:
            by_conv[cid][1].append((role, content, created))
    keys.update(conversation_key(created, msgs) for created, msgs in by_conv.values())
    return keys


def import_data(app: Assistant, data: Any) -> ImportResult:
    """Add what an export holds (existing data is kept), all in one transaction; what is already
    present (an earlier import of the same export, or the data it was exported from) is skipped."""
    conversations, notes = validate_export(data)
    result = ImportResult()
    with app.store.write() as db:
        known = _stored_keys(db)
        memory_items: list[dict[str, Any]] = []
        for conv in conversations:
            key = conv.key
            if key in known:
                result.skipped_conversations += 1
                continue
            known.add(key)
            updated = max([conv.created] + [m.created for m in conv.messages])
            cid = repository.add_conversation(
                db, title=conv.title, created=conv.created, updated=updated, import_key=key
            )
            # The first user message names the conversation when its title was made from it.
            first_user = next((m for m in conv.messages if m.role == "user" and m.content.strip()), None)
            title_from = first_user if first_user and conversation_title(first_user.content) == conv.title else None
            title_message_id = None
            for m in conv.messages:
                row = {
                    "conversation_id": cid,
                    "role": m.role,
                    "content": m.content,
                    "created": m.created,
                    "status": m.status,
                    "excluded": int(m.excluded),
                }
                mid = repository.add_message(db, row)
                if m is title_from:
                    title_message_id = mid
                if m.content.strip():
                    memory_items.append(message_item({**row, "id": mid}))
                for a in m.earlier_answers:
                    answer = {
                        "conversation_id": cid, "role": "assistant", "content": a.content, "created": a.created,
                        "status": a.status, "alternative_of": mid,
                    }
                    aid = repository.add_message(db, answer)
                    if a.content.strip():
                        memory_items.append(message_item({**answer, "id": aid}))
            if title_message_id:
                repository.title_conversation(db, cid, None, title_message_id)
            result.conversations += 1
            result.messages += len(conv.messages)

        seen: set[tuple[str, str | None]] = set()
        for note in notes:
            if (note.text, note.created) in seen or _note_exists(db, note):
                result.skipped_notes += 1
                continue
            seen.add((note.text, note.created))
            if instruction_reason(note.text):  # a standing order is not a fact: the user judges it first
                if _flagged_exists(db, note):
                    result.skipped_notes += 1
                else:
                    repository.add_suggestion(
                        db, text=clean_text(note.text), kind=note.note_type or "fact", event_date=note.event_date,
                        source_message_id=None, replaces=None, created=note.created or now_iso(),
                    )
                    result.flagged_notes += 1
                continue
            memory_items.append(
                {
                    "text": note.text,
                    "kind": "note",
                    "source": note.source,
                    "created": note.created,
                    "pinned": note.pinned,
                    "excluded": note.excluded,
                    "note_type": note.note_type,
                    "event_date": note.event_date,
                }
            )
            result.notes += 1
        result.memory_ids = [m.id for m in app.memories.insert_rows(db, memory_items)]
    # Committed: the rows are safe and searchable by keyword. Embedding is the slow part; a
    # process killed now gets them embedded on its next start.
    if result.memory_ids:
        app.memories.embed_pending()
        app.memories.flush()
    return result


def _flagged_exists(db: repository.Transaction, note: _Note) -> bool:
    """An instruction-like note imported before waits (or waited) as a suggestion: not again."""
    found = db.execute("SELECT 1 FROM suggestions WHERE text = ? LIMIT 1", [clean_text(note.text)]).fetchone()
    return found is not None


def _note_exists(db: repository.Transaction, note: _Note) -> bool:
    text = clean_text(note.text)  # as it was stored: without invisible characters
    if note.created is None:
        sql, params = "SELECT 1 FROM memories WHERE kind = 'note' AND text = ? LIMIT 1", [text]
    else:
        sql, params = (
            "SELECT 1 FROM memories WHERE kind = 'note' AND text = ? AND created = ? LIMIT 1",
            [text, note.created],
        )
    return db.execute(sql, params).fetchone() is not None
