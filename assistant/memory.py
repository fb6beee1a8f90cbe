"""Long-term memory: every message and every note, embedded (FAISS) and keyword-indexed (FTS5).

Forget is real; assistant/erasure.py does it (rows, keyword index, vectors,
turn records, titles, backups). Ids are never reused, and the FAISS cache is
checked against a checksum and a change log kept in SQLite.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from assistant import erasure, repository
from assistant.kinds import MemoryKind, MemorySource
from assistant.store import Store, now_iso
from assistant.text import clean_input, is_blank, strip_invisible
from assistant.vector_index import Progress, VectorIndex
from models.embedder import Embedder
from models.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

MAX_MEMORY_CHARS = 20_000
# Bump when Memory.embed_text changes: stored vectors of another format are re-embedded.
EMBED_FORMAT = "line-v1"
LOG_KEEP = 50_000  # vector_changes rows kept behind the saved index
# The source of a message's memory: shown in its conversation, or an answer Regenerate set aside
# (searchable and forgettable, never retrieved into a prompt). Aliases of assistant.kinds' members.
CHAT, ALTERNATIVE = MemorySource.CHAT, MemorySource.ALTERNATIVE


@dataclass(frozen=True)
class Memory:
    id: int
    kind: MemoryKind
    text: str
    speaker: str | None
    conversation_id: int | None
    message_id: int | None
    source: MemorySource | str | None  # an imported note may carry a source of its own
    created: str
    updated: str | None
    pinned: bool
    excluded: bool
    note_type: str | None = None  # "fact", "preference" or "event" for a typed note
    event_date: str | None = None  # an event note's date (ISO)

    @property
    def day(self) -> str:
        return self.created[:10]

    @property
    def day_label(self) -> str:
        """The day as notes are grouped under it in a prompt, e.g. "8 May 2023"."""
        return _day_label(self.day)

    def line(self) -> str:
        """Speaker and text: one quoted line under its day in a prompt."""
        return f"{self.speaker}: {self.text}" if self.speaker else self.text

    def display(self) -> str:
        """The memory on its own: day, speaker, text."""
        return f"[{self.day_label}] {self.line()}"

    def embed_text(self) -> str:
        # Speaker and text only: measured on LoCoMo, a date in the embedded text blurs similarity.
        return self.line()

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@functools.lru_cache(maxsize=4096)
def _day_label(day: str) -> str:
    # Every retrieval asks it of each candidate, several times: a few days, parsed once each.
    try:
        d = dt.date.fromisoformat(day)
    except ValueError:
        return day
    return f"{d.day} {d:%B %Y}"


def _memory(row: dict[str, Any]) -> Memory:
    return Memory(**{
        **row, "kind": MemoryKind(row["kind"]), "source": MemorySource.parse(row["source"]),
        "pinned": bool(row["pinned"]), "excluded": bool(row["excluded"]),
    })


# A memory row's columns in Memory's order: get_many (part of every retrieval) builds its
# memories from plain tuples.
_FIELDS = [f.name for f in fields(Memory)]
_COLUMNS = ", ".join(_FIELDS)
_FLAGS = (_FIELDS.index("pinned"), _FIELDS.index("excluded"))
_KIND, _SOURCE = _FIELDS.index("kind"), _FIELDS.index("source")


def _memory_of(values: Sequence[Any]) -> Memory:
    row = list(values)
    for i in _FLAGS:
        row[i] = bool(row[i])
    row[_KIND] = MemoryKind(row[_KIND])
    row[_SOURCE] = MemorySource.parse(row[_SOURCE])
    return Memory(*row)


def clean_text(text: str) -> str:
    text = strip_invisible(clean_input(text or "")).strip()  # a note shows all it says
    if is_blank(text):
        raise InvalidInputError("A memory cannot be empty: type some text.")
    if len(text) > MAX_MEMORY_CHARS:
        raise InvalidInputError(
            f"That memory is {len(text):,} characters; the limit is {MAX_MEMORY_CHARS:,}. "
            "Split it into smaller notes."
        )
    return text


# Reading needs no embedder and no index: the window's reader thread uses these on a connection of its own.


def get(store: Store, memory_id: int) -> Memory:
    rows = store.query("SELECT * FROM memories WHERE id = ?", [memory_id])
    if not rows:
        raise NotFoundError(f"There is no memory {memory_id} (it may have been forgotten).")
    return _memory(rows[0])


def get_many(store: Store, ids: Iterable[int]) -> dict[int, Memory]:
    wanted = list(dict.fromkeys(int(i) for i in ids))
    out: dict[int, Memory] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in store.rows(f"SELECT {_COLUMNS} FROM memories WHERE id IN ({marks})", chunk):
            memory = _memory_of(row)  # plain tuples: this read is on every turn's path
            out[memory.id] = memory
    return out


def browse(
    store: Store,
    *,
    search: str | None = None,
    kind: str | None = None,
    sort: str = "newest",
    limit: int | None = None,
    offset: int = 0,
) -> list[Memory]:
    """Memories filtered by text and kind, sorted, a page at a time (the memory browser, the CLI)."""
    where: list[str] = []
    params: list[Any] = []
    if search:
        where.append("text LIKE ?")
        params.append(f"%{search}%")
    if kind:
        where.append("kind = ?")
        params.append(kind)
    order = {
        "newest": "id DESC",
        "oldest": "id ASC",
        "pinned": "pinned DESC, id DESC",
        "text": "text COLLATE NOCASE ASC",
    }.get(sort, "id DESC")
    sql = "SELECT * FROM memories" + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return [_memory(r) for r in store.query(sql, params)]


def count(store: Store) -> int:
    return int(store.query("SELECT count(*) AS n FROM memories")[0]["n"])


class MemoryStore:
    """Memories in SQLite with their vectors; the FAISS index is kept in step."""

    def __init__(self, store: Store, embedder: Embedder, index_dir: Path) -> None:
        self.store = store
        self.embedder = embedder
        self.backups = store.backups
        self.model_key = f"{embedder.name}/{EMBED_FORMAT}"
        self.index = VectorIndex(index_dir, model=self.model_key, dim=embedder.dim)
        self._index_ready = False
        self._all_embedded = False  # every memory had a vector when the index was opened
        self._generation = 0
        self._dirty = False

    # -- index upkeep -----------------------------------------------------------
    #
    # The FAISS index is a cache of memory_vectors. Every change to that table writes a row to
    # vector_changes in the same transaction; an index is at "generation" N when it reflects
    # the log up to seq N. Before each search and each save the open index replays what other
    # processes (or this one) logged since, so a forget in the CLI reaches an open window too.

    def _log_head(self) -> int:
        rows = self.store.query("SELECT seq FROM sqlite_sequence WHERE name = 'vector_changes'")
        return int(rows[0]["seq"]) if rows else 0

    def _saved_record(self) -> dict[str, Any] | None:
        rows = self.store.query("SELECT value FROM meta WHERE key = 'vector_index'")
        try:
            record = json.loads(rows[0]["value"]) if rows else None
        except ValueError:
            return None
        if (
            not isinstance(record, dict)
            or record.get("model") != self.model_key
            or record.get("dim") != self.embedder.dim
        ):
            return None
        return record

    def open_index(self, progress: Progress | None = None, *, embed: bool = True) -> str:
        """Load the FAISS cache, or rebuild it from SQLite; returns "loaded" or "rebuilt".

        First every stored message without a memory (a turn killed before it was indexed)
        becomes one, and every memory without a vector is embedded. ``embed=False`` leaves
        that embedding to the next open: erasing needs the index but not the embedder.
        """
        if self._index_ready:
            if embed and not self._all_embedded:  # opened for erasing first
                self._embed_missing(progress)
                self._all_embedded = True
            return "loaded"
        self.index_orphan_messages()
        if embed:
            self._embed_missing(progress)
            self._all_embedded = True
        record = self._saved_record()
        if record and self.index.load(str(record.get("sha256"))):
            self._generation = int(record.get("generation", 0))
            self._index_ready = True
            if self.sync_index():
                return "loaded"
        self._rebuild(progress)
        self._index_ready = True
        self.flush()
        return "rebuilt"

    def _rebuild(self, progress: Progress | None = None) -> None:
        head = self._log_head()  # read first: later changes are replayed, and replay is idempotent
        rows = self.store.query(
            "SELECT memory_id, vector FROM memory_vectors WHERE model = ? ORDER BY memory_id", [self.model_key]
        )
        if progress:
            progress(0, len(rows))
        ids, vecs = self._arrays(rows)
        self.index.rebuild(ids, vecs)
        self._generation = head
        self._dirty = True
        if progress:
            progress(len(rows), len(rows))

    def _arrays(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array([r["memory_id"] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32).reshape(-1, self.embedder.dim)
        return ids, vecs

    def sync_index(self) -> bool:
        """Replay the vector log into the open index; False if it had to be rebuilt instead."""
        if not self._index_ready:
            return True
        head = self._log_head()
        if head == self._generation:
            return True
        changes = self.store.query(
            "SELECT seq, memory_id FROM vector_changes WHERE seq > ? AND seq <= ? ORDER BY seq",
            [self._generation, head],
        )
        if len(changes) != head - self._generation:
            log.info("vector log pruned past this index's generation; rebuilding")
            self._rebuild()
            return False
        ids = sorted({int(c["memory_id"]) for c in changes})
        self.index.remove(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.store.query(
                "SELECT memory_id, vector FROM memory_vectors WHERE model = ? "
                f"AND memory_id IN ({','.join('?' * len(chunk))})",
                [self.model_key, *chunk],
            )
            if rows:
                self.index.add(*self._arrays(rows))
        self._generation = head
        self._dirty = True
        return True

    def index_orphan_messages(self) -> int:
        """Make every stored message without a memory one (a turn killed mid-way); returns how many."""
        with self.store.write() as db:
            rows = list(db.query(
                "SELECT m.* FROM messages m WHERE trim(m.content) != '' AND NOT EXISTS "
                "(SELECT 1 FROM memories x WHERE x.message_id = m.id AND x.kind = 'message') ORDER BY m.id"
            ))
            self.insert_rows(db, [message_item(r) for r in rows])
        return len(rows)

    def _embed_missing(self, progress: Progress | None) -> None:
        """Embed memories without a vector of the current model (new install, model change, crash)."""
        rows = self.store.query(
            "SELECT m.* FROM memories m LEFT JOIN memory_vectors v ON v.memory_id = m.id AND v.model = ? "
            "WHERE v.memory_id IS NULL ORDER BY m.id",
            [self.model_key],
        )
        total = len(rows)
        for start in range(0, total, 256):
            batch = [_memory(r) for r in rows[start : start + 256]]
            self._store_vectors(batch)
            if progress:
                progress(min(start + 256, total), total)

    def _store_vectors(self, memories: Sequence[Memory]) -> None:
        if not memories:
            return
        vecs = self.embedder.encode([m.embed_text() for m in memories])
        with self.store.write() as db:
            # A memory forgotten while it was being embedded stays forgotten.
            alive = {int(r[0]) for r in db.execute(
                f"SELECT id FROM memories WHERE id IN ({','.join('?' * len(memories))})", [m.id for m in memories]
            ).fetchall()}
            rows = [
                {"memory_id": m.id, "model": self.model_key, "vector": vecs[i].tobytes()}
                for i, m in enumerate(memories)
                if m.id in alive
            ]
            repository.save_vectors(db, rows)
        self.sync_index()

    def flush(self) -> None:
        """Persist the FAISS cache if it changed, and record its checksum in SQLite."""
        if not self._index_ready:
            return
        self.sync_index()
        if not self._dirty:
            return
        sha = self.index.save()
        record = {"model": self.model_key, "dim": self.embedder.dim, "generation": self._generation, "sha256": sha}
        with self.store.write() as tx:
            # Keep a long tail of the log for processes whose index is a little behind.
            repository.save_index_record(tx, record, keep_log_after=self._generation - LOG_KEEP)
        self._dirty = False

    # -- reading ----------------------------------------------------------------

    def get(self, memory_id: int) -> Memory:
        return get(self.store, memory_id)

    def get_many(self, ids: Iterable[int]) -> dict[int, Memory]:
        return get_many(self.store, ids)

    def message_memory_ids(self, message_ids: Iterable[int]) -> set[int]:
        """The ids of these messages' own memories."""
        ids = list(message_ids)
        rows = self.store.rows(
            f"SELECT id FROM memories WHERE kind = 'message' AND message_id IN ({','.join('?' * len(ids))})", ids
        )
        return {int(r[0]) for r in rows}

    def for_message(self, message_id: int) -> Memory | None:
        rows = self.store.query("SELECT * FROM memories WHERE message_id = ? AND kind = 'message'", [message_id])
        return _memory(rows[0]) if rows else None

    def browse(
        self,
        *,
        search: str | None = None,
        kind: str | None = None,
        sort: str = "newest",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Memory]:
        return browse(self.store, search=search, kind=kind, sort=sort, limit=limit, offset=offset)

    def count(self) -> int:
        return count(self.store)

    def pinned(self) -> list[Memory]:
        return [_memory(r) for r in self.store.query("SELECT * FROM memories WHERE pinned = 1 ORDER BY id")]

    # -- writing ----------------------------------------------------------------

    def add(
        self,
        text: str,
        *,
        kind: str = MemoryKind.NOTE,
        source: str = MemorySource.USER,
        speaker: str | None = None,
        conversation_id: int | None = None,
        message_id: int | None = None,
        created: str | None = None,
        pinned: bool = False,
    ) -> Memory:
        return self.add_many(
            [
                {
                    "text": text,
                    "kind": kind,
                    "source": source,
                    "speaker": speaker,
                    "conversation_id": conversation_id,
                    "message_id": message_id,
                    "created": created,
                    "pinned": pinned,
                }
            ]
        )[0]

    def add_many(self, items: Sequence[dict[str, Any]], *, embed: bool = True) -> list[Memory]:
        """Insert memories and embed them in one batch (the ingest path)."""
        with self.store.write() as db:
            memories = self.insert_rows(db, items)
        if embed:
            self._store_vectors(memories)
        return memories

    def insert_rows(self, db: repository.Transaction, items: Sequence[dict[str, Any]]) -> list[Memory]:
        """Insert memory rows inside the caller's open write (no embedding: ``embed_pending`` does it).

        FTS5 indexes them at once (triggers), so they are searchable by keyword even if the
        process dies before their vectors are written.
        """
        memories = []
        for item in items:
            kind = MemoryKind(item.get("kind", MemoryKind.NOTE))
            row = {
                "kind": kind,
                "text": clean_text(item["text"]) if kind == MemoryKind.NOTE else item["text"],
                "speaker": item.get("speaker"),
                "conversation_id": item.get("conversation_id"),
                "message_id": item.get("message_id"),
                "source": MemorySource.parse(item.get("source", MemorySource.USER)),
                "created": item.get("created") or now_iso(),
                "updated": None,
                "pinned": int(bool(item.get("pinned"))),
                "excluded": int(bool(item.get("excluded"))),
                "note_type": item.get("note_type"),
                "event_date": item.get("event_date"),
            }
            mid = repository.add_memory(db, row)
            memories.append(_memory({**row, "id": mid}))
        return memories

    def embed_pending(self, progress: Progress | None = None) -> None:
        """Embed every memory that has no vector yet, and bring the open index up to date."""
        self._embed_missing(progress)
        if self._index_ready:
            self.sync_index()

    def set_pinned(self, ids: Iterable[int], pinned: bool) -> None:
        self._set_flag(ids, "pinned", pinned)

    def set_excluded(self, ids: Iterable[int], excluded: bool) -> None:
        ids = list(ids)
        self._set_flag(ids, "excluded", excluded)
        # A message's memory and the message share the flag.
        with self.store.write() as tx:
            messages = [m.message_id for m in self.get_many(ids).values() if m.message_id is not None]
            repository.set_messages_excluded(tx, messages, excluded)

    def _set_flag(self, ids: Iterable[int], column: str, value: bool) -> None:
        ids = list(ids)
        self._require(ids)
        with self.store.write() as tx:
            repository.set_memory_flag(tx, ids, column, value)

    def edit(self, memory_id: int, text: str, *, then: erasure.Also | None = None) -> Memory:
        """Change a memory's text; it is re-embedded and re-indexed, and the old text leaves the
        records, the keyword index and the backups (assistant/erasure.py). ``then`` writes more in
        the edit's own transaction (an approved suggestion's status)."""
        text = clean_text(text)
        old = self.get(memory_id)
        erasure.edit(self.store, memory_id, old.message_id, text, backups=self.backups, then=then)
        memory = self.get(memory_id)
        self._store_vectors([memory])
        return memory

    def _require(self, ids: Sequence[int]) -> None:
        found = self.get_many(ids)
        missing = [str(i) for i in ids if int(i) not in found]
        if missing:
            raise NotFoundError(
                f"No memory with id {', '.join(missing)} (already forgotten, or never existed): "
                "`glassmind memory list` shows the ids."
            )

    def forget(self, ids: Iterable[int] = (), *, message_ids: Iterable[int] = (), backups: bool = True) -> int:
        """Erase memories (and messages) for good; returns how many memories went.

        ``backups=False`` leaves the backups as they are: for a reply replaced by Regenerate,
        which the user did not ask to forget.
        """
        ids = [int(i) for i in ids]
        self._require(ids)
        done = erasure.forget(
            self.store, memory_ids=ids, message_ids=message_ids, backups=self.backups if backups else None,
            index=self._save_after_forget if self._index_ready else None,
        )
        return len(done.memory_ids)

    def _save_after_forget(self) -> None:
        """The forgotten vectors leave the open index and the saved file (before the journal row goes)."""
        self.sync_index()
        self.flush()


def message_item(row: dict[str, Any]) -> dict[str, Any]:
    """The memory row that makes a stored message long-term memory."""
    return {
        "text": row["content"],
        "kind": MemoryKind.MESSAGE,
        "source": ALTERNATIVE if row.get("alternative_of") is not None else CHAT,
        "speaker": row["role"],
        "conversation_id": row["conversation_id"],
        "message_id": row["id"],
        "created": row["created"],
        "excluded": bool(row.get("excluded")),
    }
