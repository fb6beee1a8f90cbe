"""Long-term memory: every message and every note, embedded (FAISS) and keyword-indexed (FTS5).

Forget is real: the row, its FTS entry, its vector, and its text in turn
records and titles are removed, FTS5 segments are merged, and the WAL is
checkpointed with ``secure_delete`` on, so no file in the data dir keeps the
bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from assistant.store import Message, Store, now_iso
from assistant.vector_index import Progress, VectorIndex
from models.embedder import Embedder
from models.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

MAX_MEMORY_CHARS = 20_000
# Bump when Memory.embed_text changes: stored vectors of another format are re-embedded.
EMBED_FORMAT = "line-v1"
FORGOTTEN = "[forgotten]"


@dataclass(frozen=True)
class Memory:
    id: int
    kind: str
    text: str
    speaker: str | None
    conversation_id: int | None
    message_id: int | None
    source: str | None
    created: str
    updated: str | None
    pinned: bool
    excluded: bool

    @property
    def day(self) -> str:
        return self.created[:10]

    @property
    def day_label(self) -> str:
        """The day as notes are grouped under it in a prompt, e.g. "8 May 2023"."""
        try:
            d = dt.date.fromisoformat(self.day)
        except ValueError:
            return self.day
        return f"{d.day} {d:%B %Y}"

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


def _memory(row: dict[str, Any]) -> Memory:
    return Memory(**{**row, "pinned": bool(row["pinned"]), "excluded": bool(row["excluded"])})


def clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInputError("A memory cannot be empty: type some text.")
    if len(text) > MAX_MEMORY_CHARS:
        raise InvalidInputError(
            f"That memory is {len(text):,} characters; the limit is {MAX_MEMORY_CHARS:,}. "
            "Split it into smaller notes."
        )
    return text


class MemoryStore:
    """Memories in SQLite with their vectors; the FAISS index is kept in step."""

    def __init__(self, store: Store, embedder: Embedder, index_dir: Path) -> None:
        self.store = store
        self.embedder = embedder
        self.model_key = f"{embedder.name}/{EMBED_FORMAT}"
        self.index = VectorIndex(index_dir, model=self.model_key, dim=embedder.dim)
        self._index_ready = False

    # -- index upkeep -----------------------------------------------------------

    def _state(self) -> dict[str, int]:
        row = self.store.query(
            "SELECT count(*) AS count, coalesce(max(memory_id), 0) AS max_id, "
            "coalesce(sum(memory_id), 0) AS id_sum FROM memory_vectors WHERE model = ?",
            [self.model_key],
        )[0]
        return {k: int(v) for k, v in row.items()}

    def open_index(self, progress: Progress | None = None) -> str:
        """Load the FAISS cache, or rebuild it from SQLite; returns "loaded" or "rebuilt"."""
        if self._index_ready:
            return "loaded"
        self._embed_missing(progress)
        state = self._state()
        if self.index.load(state):
            self._index_ready = True
            return "loaded"
        ids, vecs = self._all_vectors()
        if progress:
            progress(0, len(ids))
        self.index.rebuild(ids, vecs)
        self.index.save(state)
        if progress:
            progress(len(ids), len(ids))
        self._index_ready = True
        return "rebuilt"

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.store.query(
            "SELECT memory_id, vector FROM memory_vectors WHERE model = ? ORDER BY memory_id", [self.model_key]
        )
        ids = np.array([r["memory_id"] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32).reshape(-1, self.embedder.dim)
        return ids, vecs

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
            self._store_vectors(batch, index=False)
            if progress:
                progress(min(start + 256, total), total)

    def _store_vectors(self, memories: Sequence[Memory], *, index: bool = True) -> None:
        if not memories:
            return
        vecs = self.embedder.encode([m.embed_text() for m in memories])
        with self.store.write() as db:
            db["memory_vectors"].upsert_all(
                [
                    {"memory_id": m.id, "model": self.model_key, "vector": vecs[i].tobytes()}
                    for i, m in enumerate(memories)
                ],
                pk="memory_id",
            )
        if index and self._index_ready:
            self.index.add([m.id for m in memories], vecs)

    def flush(self) -> None:
        """Persist the FAISS cache if it changed."""
        if self._index_ready and self.index.dirty:
            self.index.save(self._state())

    # -- reading ----------------------------------------------------------------

    def get(self, memory_id: int) -> Memory:
        rows = self.store.query("SELECT * FROM memories WHERE id = ?", [memory_id])
        if not rows:
            raise NotFoundError(f"There is no memory {memory_id} (it may have been forgotten).")
        return _memory(rows[0])

    def get_many(self, ids: Iterable[int]) -> dict[int, Memory]:
        ids = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, Memory] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.store.query(f"SELECT * FROM memories WHERE id IN ({marks})", chunk):
                out[row["id"]] = _memory(row)
        return out

    def for_message(self, message_id: int) -> Memory | None:
        rows = self.store.query("SELECT * FROM memories WHERE message_id = ? AND kind = 'message'", [message_id])
        return _memory(rows[0]) if rows else None

    def list(
        self,
        *,
        search: str | None = None,
        kind: str | None = None,
        sort: str = "newest",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Memory]:
        where, params = [], []
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
        return [_memory(r) for r in self.store.query(sql, params)]

    def count(self) -> int:
        return self.store.query("SELECT count(*) AS n FROM memories")[0]["n"]

    def pinned(self) -> list[Memory]:
        return [_memory(r) for r in self.store.query("SELECT * FROM memories WHERE pinned = 1 ORDER BY id")]

    # -- writing ----------------------------------------------------------------

    def add(
        self,
        text: str,
        *,
        kind: str = "note",
        source: str = "user",
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
        rows = []
        for item in items:
            rows.append(
                {
                    "kind": item.get("kind", "note"),
                    "text": clean_text(item["text"]) if item.get("kind", "note") == "note" else item["text"],
                    "speaker": item.get("speaker"),
                    "conversation_id": item.get("conversation_id"),
                    "message_id": item.get("message_id"),
                    "source": item.get("source", "user"),
                    "created": item.get("created") or now_iso(),
                    "updated": None,
                    "pinned": int(bool(item.get("pinned"))),
                    "excluded": int(bool(item.get("excluded"))),
                }
            )
        ids = []
        with self.store.write() as db:
            table = db["memories"]
            for row in rows:
                ids.append(int(table.insert(row).last_pk))
        memories = [_memory({**row, "id": mid}) for row, mid in zip(rows, ids)]
        if embed:
            self._store_vectors(memories)
        return memories

    def add_message(self, message: Message, *, speaker: str | None = None) -> Memory | None:
        """Make a stored message part of long-term memory (empty replies are skipped)."""
        if not message.content.strip():
            return None
        return self.add(
            message.content,
            kind="message",
            source="chat",
            speaker=speaker or message.role,
            conversation_id=message.conversation_id,
            message_id=message.id,
            created=message.created,
        )

    def set_pinned(self, ids: Iterable[int], pinned: bool) -> None:
        self._set_flag(ids, "pinned", pinned)

    def set_excluded(self, ids: Iterable[int], excluded: bool) -> None:
        ids = list(ids)
        self._set_flag(ids, "excluded", excluded)
        # A message's memory and the message share the flag.
        with self.store.write() as db:
            for memory in self.get_many(ids).values():
                if memory.message_id is not None:
                    db.execute("UPDATE messages SET excluded = ? WHERE id = ?", [int(excluded), memory.message_id])

    def _set_flag(self, ids: Iterable[int], column: str, value: bool) -> None:
        ids = list(ids)
        self._require(ids)
        with self.store.write() as db:
            for mid in ids:
                db["memories"].update(mid, {column: int(value), "updated": now_iso()})

    def edit(self, memory_id: int, text: str) -> Memory:
        """Change a memory's text; it is re-embedded and re-indexed."""
        text = clean_text(text)
        old = self.get(memory_id)
        with self.store.write() as db:
            db["memories"].update(memory_id, {"text": text, "updated": now_iso()})
            if old.message_id is not None:
                db.execute("UPDATE messages SET content = ? WHERE id = ?", [text, old.message_id])
        self._redact([old.text], [memory_id], old.message_id, replacement=text)
        memory = self.get(memory_id)
        self._store_vectors([memory])
        self._purge_fts_remnants()
        return memory

    def _require(self, ids: Sequence[int]) -> None:
        found = self.get_many(ids)
        missing = [str(i) for i in ids if int(i) not in found]
        if missing:
            raise NotFoundError(
                f"No memory with id {', '.join(missing)} (already forgotten, or never existed): "
                "`glassmind memory list` shows the ids."
            )

    def forget(self, ids: Iterable[int]) -> int:
        """Erase memories for good; returns how many were erased."""
        ids = [int(i) for i in ids]
        self._require(ids)
        memories = list(self.get_many(ids).values())
        message_ids = [m.message_id for m in memories if m.message_id is not None]
        with self.store.write() as db:
            for m in memories:
                db.execute("DELETE FROM memory_vectors WHERE memory_id = ?", [m.id])
                db.execute("DELETE FROM memories WHERE id = ?", [m.id])
            for mid in message_ids:
                db.execute("DELETE FROM memory_vectors WHERE memory_id IN (SELECT id FROM memories WHERE message_id = ?)", [mid])
                db.execute("DELETE FROM memories WHERE message_id = ?", [mid])
                db.execute("UPDATE turns SET reply_message_id = NULL WHERE reply_message_id = ?", [mid])
                db.execute("DELETE FROM messages WHERE id = ?", [mid])
        for m in memories:
            self._redact([m.text], [m.id], m.message_id, replacement=FORGOTTEN)
        if self._index_ready:
            self.index.remove(ids)
            self.index.save(self._state())
        self._purge_fts_remnants()
        return len(memories)

    def _redact(self, texts: list[str], memory_ids: list[int], message_id: int | None, *, replacement: str) -> None:
        """Replace a text in everything derived from it: turn records and conversation titles."""
        sources = {f"memory:{i}" for i in memory_ids}
        if message_id is not None:
            sources.add(f"message:{message_id}")
        with self.store.write() as db:
            for row in list(db.query("SELECT id, prompt, items FROM turns")):
                prompt, items_json = row["prompt"] or "", row["items"] or "[]"
                if not any(t and (t in prompt or json.dumps(t)[1:-1] in items_json) for t in texts) and not any(
                    s in items_json for s in sources
                ):
                    continue
                items = json.loads(items_json)
                for item in items:
                    if item.get("source") in sources:
                        item["text"] = replacement
                        if replacement == FORGOTTEN:
                            item["state"], item["reason"] = "forgotten", "forgotten by the user"
                    for t in texts:
                        if t:
                            item["text"] = item.get("text", "").replace(t, replacement)
                for t in texts:
                    if t:
                        prompt = prompt.replace(t, replacement)
                db.execute("UPDATE turns SET prompt = ?, items = ? WHERE id = ?", [prompt, json.dumps(items), row["id"]])
            flat = [" ".join(t.split()) for t in texts if t]
            for row in list(db.query("SELECT id, title FROM conversations")):
                title, stem = row["title"], row["title"].rstrip("…").strip()
                # A title is the start of the first message: redact it with the message.
                if any(t in title or (len(stem) >= 8 and t.startswith(stem)) for t in flat):
                    new_title = title
                    for t in flat:
                        new_title = new_title.replace(t, replacement)
                    if new_title == title:
                        new_title = replacement if replacement == FORGOTTEN else replacement[:48]
                    db.execute("UPDATE conversations SET title = ? WHERE id = ?", [new_title, row["id"]])

    def _purge_fts_remnants(self) -> None:
        """Merge FTS5 segments and checkpoint the WAL so deleted text leaves no bytes on disk."""
        with self.store.write() as db:
            db.execute("INSERT INTO memories_fts(memories_fts) VALUES('optimize')")
        with self.store._lock:
            self.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def parse_when(value: str | None) -> str | None:
    """An ISO timestamp from a date the user or a dataset gives; None when empty."""
    if not value:
        return None
    for fmt in ("%I:%M %p on %d %B, %Y", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=dt.UTC).isoformat(timespec="seconds")
        except ValueError:
            continue
    return value
