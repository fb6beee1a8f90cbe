"""Forgetting, in one place: rows, keyword index, vectors, recorded prompts, titles and backups.

Erasure works by ids and structure, never by matching rendered text: a
forgotten memory or message is found in the records of past turns through
the ``source`` of each recorded item and prompt part ("memory:5",
"message:12"), so multi-line and quoted copies go too.

One forget is one SQLite transaction that deletes the rows, redacts the
records and writes a journal row (table ``erasures``). The slow steps that
follow -- merging FTS5 segments, rewriting backups, checkpointing the WAL --
are repeated from the journal on the next start if the process dies first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.backup import Backups
    from assistant.store import Store

log = logging.getLogger(__name__)

FORGOTTEN = "[forgotten]"
EDITED = "[edited]"
PROMPT_GONE = "[This prompt was erased: it quoted something you forgot.]"


@dataclass(frozen=True)
class Erasure:
    """What one forget removed: memory ids and message ids (both closed over each other)."""

    memory_ids: tuple[int, ...]
    message_ids: tuple[int, ...]

    @property
    def sources(self) -> set[str]:
        return {f"memory:{i}" for i in self.memory_ids} | {f"message:{i}" for i in self.message_ids}


def _ids(rows: Iterable[Any]) -> list[int]:
    return sorted({int(r[0]) for r in rows if r[0] is not None})


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


def _has(conn: sqlite3.Connection, table: str, column: str | None = None) -> bool:
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]
    return bool(cols) and (column is None or column in cols)


def close_over(conn: sqlite3.Connection, memory_ids: Iterable[int], message_ids: Iterable[int]) -> Erasure:
    """A message and its memory go together: forgetting either forgets both. The answers that
    Regenerate set aside go with the question they answer."""
    mem = set(int(i) for i in memory_ids)
    msg = set(int(i) for i in message_ids)
    for chunk in _chunks(sorted(mem)):
        msg.update(_ids(conn.execute(
            f"SELECT message_id FROM memories WHERE id IN ({_marks(chunk)}) AND kind = 'message'", chunk
        )))
    if _has(conn, "messages", "alternative_of"):
        for chunk in _chunks(sorted(msg)):
            msg.update(_ids(conn.execute(
                f"SELECT id FROM messages WHERE alternative_of IN ({_marks(chunk)})", chunk
            )))
    for chunk in _chunks(sorted(msg)):
        mem.update(_ids(conn.execute(f"SELECT id FROM memories WHERE message_id IN ({_marks(chunk)})", chunk)))
    return Erasure(tuple(sorted(mem)), tuple(sorted(msg)))


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def erase_rows(conn: sqlite3.Connection, erasure: Erasure, *, journal: bool = True) -> int | None:
    """Delete and redact everything of ``erasure`` inside the caller's open transaction.

    Works on older schemas too (backups taken before a migration). Returns the journal id.
    """
    mem, msg = list(erasure.memory_ids), list(erasure.message_ids)
    titles = _derived_titles(conn, msg)
    has_log = _has(conn, "vector_changes")
    for chunk in _chunks(mem):
        marks = _marks(chunk)
        if _has(conn, "memory_vectors"):
            conn.execute(f"DELETE FROM memory_vectors WHERE memory_id IN ({marks})", chunk)
        if has_log:
            conn.executemany("INSERT INTO vector_changes (memory_id, op) VALUES (?, 'del')", [(i,) for i in chunk])
        conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
        if _has(conn, "suggestions"):  # what a forgotten note became or would have become
            conn.execute(f"DELETE FROM suggestions WHERE note_id IN ({marks}) OR replaces IN ({marks})", chunk + chunk)
    for chunk in _chunks(msg):
        marks = _marks(chunk)
        if _has(conn, "turns"):
            conn.execute(f"UPDATE turns SET reply_message_id = NULL WHERE reply_message_id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
        if _has(conn, "suggestions"):  # suggestions read from a forgotten message go with it
            conn.execute(f"DELETE FROM suggestions WHERE source_message_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM suggestion_runs WHERE message_id IN ({marks})", chunk)
    if _has(conn, "turns"):
        redact_turns(conn, erasure, FORGOTTEN)
    for cid in titles:  # a title made from a forgotten message goes with it
        conn.execute("UPDATE conversations SET title = ? WHERE id = ?", [FORGOTTEN, cid])
    if journal and _has(conn, "erasures"):
        cur = conn.execute(
            "INSERT INTO erasures (memory_ids, message_ids, created) VALUES (?, ?, ?)",
            [json.dumps(mem), json.dumps(msg), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")],
        )
        return int(cur.lastrowid or 0)
    return None


def redact_turns(conn: sqlite3.Connection, erasure: Erasure, replacement: str) -> int:
    """Replace the forgotten items and prompt parts in every turn record that holds them."""
    sources = erasure.sources
    own = set(erasure.message_ids)
    has_parts = _has(conn, "turns", "prompt_parts")
    rows = conn.execute(
        "SELECT id, user_message_id, items" + (", prompt_parts" if has_parts else "") + " FROM turns"
    ).fetchall()
    changed = 0
    for row in rows:
        turn_id, user_id, items_json = row[0], row[1], row[2] or "[]"
        parts_json = row[3] if has_parts else None
        own_turn = user_id in own
        if not own_turn and not any(f'"{s}"' in items_json for s in sources):
            continue
        items = json.loads(items_json)
        for item in items:
            src = item.get("source")
            # Records made before sources were kept on the new message: the turn's user message.
            if src in sources or (own_turn and item.get("kind") == "message" and src is None):
                item["text"] = replacement
                if replacement == FORGOTTEN:
                    item["state"], item["reason"] = "forgotten", "forgotten by you"
        if parts_json:
            parts = json.loads(parts_json)
            for part in parts:
                if part[0] in sources:
                    part[1] = _replace_part(part[1], replacement)
            prompt = "".join(p[1] for p in parts)
            conn.execute(
                "UPDATE turns SET items = ?, prompt_parts = ?, prompt = ? WHERE id = ?",
                [json.dumps(items), json.dumps(parts), prompt, turn_id],
            )
        else:
            # No structure kept (older records): the whole prompt goes, the item list stays.
            conn.execute(
                "UPDATE turns SET items = ?, prompt = ? WHERE id = ?", [json.dumps(items), PROMPT_GONE, turn_id]
            )
        changed += 1
    return changed


def _replace_part(text: str, replacement: str) -> str:
    # A listed (or, in older records, quoted) note keeps its mark so the record reads as it was framed.
    for mark in ("- ", "> "):
        if text.startswith(mark):
            return mark + replacement
    return replacement


def _derived_titles(conn: sqlite3.Connection, message_ids: list[int]) -> dict[int, str]:
    """Conversation titles that were made from a forgotten message, found before it is deleted."""
    from assistant.store import conversation_title

    out: dict[int, str] = {}
    has_link = _has(conn, "conversations", "title_message_id")
    for chunk in _chunks(message_ids):
        rows = conn.execute(
            "SELECT m.id, m.conversation_id, m.content, c.title"
            + (", c.title_message_id" if has_link else ", NULL")
            + f" FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id IN ({_marks(chunk)})",
            chunk,
        ).fetchall()
        for mid, cid, content, title, link in rows:
            if link == mid or (link is None and title == conversation_title(content or "")):
                out[cid] = title
    return out


def purge(conn: sqlite3.Connection) -> None:
    """Merge FTS5 segments so deleted terms leave the index's pages (secure_delete zeroes the rest)."""
    if _has(conn, "memories_fts"):
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES('optimize')")


def pending(conn: sqlite3.Connection) -> list[tuple[int, Erasure, str]]:
    """Forgets and edits whose slow steps did not finish (the process died): to be completed now."""
    if not _has(conn, "erasures"):
        return []
    kind = "kind" if _has(conn, "erasures", "kind") else "'forget'"
    rows = conn.execute(f"SELECT id, memory_ids, message_ids, {kind} FROM erasures ORDER BY id").fetchall()
    return [(int(r[0]), Erasure(tuple(json.loads(r[1])), tuple(json.loads(r[2]))), str(r[3])) for r in rows]


def edit_rows(conn: sqlite3.Connection, memory_id: int, message_id: int | None, new_text: str) -> None:
    """An edited memory's old text leaves the turn records; a title made from it follows the edit."""
    erasure = Erasure((memory_id,), (message_id,) if message_id is not None else ())
    if message_id is not None:
        from assistant.store import conversation_title

        for cid in _derived_titles(conn, [message_id]):
            conn.execute("UPDATE conversations SET title = ? WHERE id = ?", [conversation_title(new_text), cid])
    if _has(conn, "turns"):
        redact_turns(conn, erasure, EDITED)
    if _has(conn, "suggestions"):  # an approved suggestion holds the note's old text
        conn.execute("DELETE FROM suggestions WHERE note_id = ? AND status = 'approved'", [memory_id])


def forget(
    store: Store, *, memory_ids: Iterable[int] = (), message_ids: Iterable[int] = (), backups: Backups | None
) -> Erasure:
    """Erase memories and messages for good: one transaction, then the journalled slow steps."""
    with store.write() as db:
        erasure = close_over(db.conn, memory_ids, message_ids)
        job = erase_rows(db.conn, erasure)
    _finish(store, job, erasure, backups)
    return erasure


def edit(store: Store, memory_id: int, message_id: int | None, new_text: str, *, backups: Backups | None) -> None:
    """Change a memory's (and its message's) text; the old text leaves records, index and backups."""
    from assistant.store import now_iso

    with store.write() as db:
        conn = db.conn
        conn.execute("UPDATE memories SET text = ?, updated = ? WHERE id = ?", [new_text, now_iso(), memory_id])
        if message_id is not None:
            conn.execute("UPDATE messages SET content = ? WHERE id = ?", [new_text, message_id])
        edit_rows(conn, memory_id, message_id, new_text)
        msgs = [message_id] if message_id is not None else []
        cur = conn.execute(
            "INSERT INTO erasures (memory_ids, message_ids, created, kind) VALUES (?, ?, ?, 'edit')",
            [json.dumps([memory_id]), json.dumps(msgs), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")],
        )
        job = int(cur.lastrowid or 0)
    _finish(store, job, Erasure((memory_id,), tuple(msgs)), backups, kind="edit")


def apply_edit(conn: sqlite3.Connection, memory_id: int, message_id: int | None, new_text: str) -> None:
    """The same edit in another copy of the database (a backup): text, records, no stale vector."""
    conn.execute("UPDATE memories SET text = ? WHERE id = ?", [new_text, memory_id])
    if message_id is not None:
        conn.execute("UPDATE messages SET content = ? WHERE id = ?", [new_text, message_id])
    if _has(conn, "memory_vectors"):
        conn.execute("DELETE FROM memory_vectors WHERE memory_id = ?", [memory_id])  # re-embedded if restored
    edit_rows(conn, memory_id, message_id, new_text)


def resume(store: Store, backups: Backups | None) -> int:
    """Complete forgets and edits that a killed process left half-done; returns how many."""
    jobs = pending(store.db.conn)
    for job, erasure, kind in jobs:
        _finish(store, job, erasure, backups, kind=kind)
    return len(jobs)


def purge_now(store: Store) -> None:
    """Merge the keyword index and checkpoint the WAL, so deleted text leaves the files."""
    with store.write() as db:
        purge(db.conn)
    store.checkpoint()


def _finish(store: Store, job: int | None, erasure: Erasure, backups: Backups | None, *, kind: str = "forget") -> None:
    purge_now(store)
    if backups is not None:
        if kind == "edit":
            _edit_backups(store, erasure, backups)
        else:
            backups.scrub(erasure)
    if job is not None:
        with store.write() as db:
            db.execute("DELETE FROM erasures WHERE id = ?", [job])
    store.checkpoint()


def _edit_backups(store: Store, erasure: Erasure, backups: Backups) -> None:
    memory_id = erasure.memory_ids[0]
    message_id = erasure.message_ids[0] if erasure.message_ids else None
    rows = store.query("SELECT text FROM memories WHERE id = ?", [memory_id])
    if not rows:  # forgotten since: erase it from the backups altogether
        backups.scrub(erasure)
        return
    text = rows[0]["text"]
    backups.rewrite(lambda conn: apply_edit(conn, memory_id, message_id, text))
