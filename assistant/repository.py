"""Every write to the database, each inside the caller's open transaction.

A caller opens the transaction (``with store.write() as tx:``) and calls these functions with it,
so that what must be stored together (a message, its memory row, its conversation's date) is one
commit. A read that a write depends on is here too, in the same transaction; other reads stay
where they are read (store.py, reading.py, retrieval.py). Forgetting stays in erasure.py, backups
in backup.py, the schema in migrations.py. tests/test_layering.py checks that no other module writes.

This module imports nothing of the app: store.py builds on it, not the other way round.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlite_utils

# The handle ``Store.write()`` yields: a sqlite-utils Database whose connection is inside BEGIN
# IMMEDIATE, under the store's lock. Every function here takes one; none opens or commits its own.
Transaction = sqlite_utils.Database


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- ids -------------------------------------------------------------------------------


def new_id(tx: Transaction, table: str) -> int:
    """The next id for ``table``: above every id it ever had, so a forgotten id is never given to a
    new row (a cache keyed by it cannot mistake the two)."""
    row = tx.execute(
        f"SELECT max((SELECT high FROM id_watermark WHERE name = ?), coalesce((SELECT max(id) FROM {table}), 0))",
        [table],
    ).fetchone()
    new = int(row[0] or 0) + 1
    tx.execute(
        "INSERT INTO id_watermark (name, high) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET high = excluded.high",
        [table, new],
    )
    return new


def insert(tx: Transaction, table: str, row: Mapping[str, Any]) -> int:
    """Insert ``row`` under a never-used id; returns the id."""
    rid = new_id(tx, table)
    values = {"id": rid, **row}
    if all(v is None or isinstance(v, (str, int, float, bytes)) for v in values.values()):
        # Plain values: one INSERT, without sqlite-utils' per-call look-ups (part of every turn).
        columns = ", ".join(f'"{c}"' for c in values)
        tx.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(values))})', list(values.values()))
    else:
        tx.table(table).insert(values)
    return rid


# -- settings --------------------------------------------------------------------------


def save_setting(tx: Transaction, key: str, value: Any) -> None:
    tx.table("settings").upsert({"key": key, "value": json.dumps(value)}, pk="key")


# -- conversations ---------------------------------------------------------------------


def add_conversation(
    tx: Transaction,
    *,
    title: str,
    created: str,
    updated: str | None = None,
    model: str | None = None,
    import_key: str | None = None,
) -> int:
    """The one place a conversation row is made (new chats, a first message, an import)."""
    row: dict[str, Any] = {"title": title, "created": created, "updated": updated or created, "model": model}
    if import_key is not None:
        row["import_key"] = import_key
    return insert(tx, "conversations", row)


def rename_conversation(tx: Transaction, conversation_id: int, title: str) -> None:
    tx.execute("UPDATE conversations SET title = ? WHERE id = ?", [title, conversation_id])


def title_conversation(tx: Transaction, conversation_id: int, title: str | None, message_id: int) -> None:
    """Name the conversation after one of its messages (``title`` None: keep the title, note the message)."""
    if title is None:
        tx.execute("UPDATE conversations SET title_message_id = ? WHERE id = ?", [message_id, conversation_id])
    else:
        tx.execute(
            "UPDATE conversations SET title = ?, title_message_id = ? WHERE id = ?",
            [title, message_id, conversation_id],
        )


def delete_conversation(tx: Transaction, conversation_id: int) -> None:
    """The conversation row and its turn records (its messages are forgotten first, by erasure.py)."""
    tx.execute("DELETE FROM turns WHERE conversation_id = ?", [conversation_id])
    tx.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])


# -- messages --------------------------------------------------------------------------


def add_message(tx: Transaction, row: Mapping[str, Any], *, touch: bool = False) -> int:
    """A message row; ``touch``: the conversation's ``updated`` becomes the message's time."""
    mid = insert(tx, "messages", row)
    if touch:
        tx.execute("UPDATE conversations SET updated = ? WHERE id = ?", [row["created"], row["conversation_id"]])
    return mid


def has_messages(tx: Transaction, conversation_id: int) -> bool:
    """Whether the conversation has a message yet (read in the transaction that adds its first)."""
    row = tx.execute("SELECT 1 FROM messages WHERE conversation_id = ? LIMIT 1", [conversation_id]).fetchone()
    return row is not None


def update_message(tx: Transaction, message_id: int, fields: Mapping[str, Any]) -> None:
    if fields:
        tx.table("messages").update(message_id, dict(fields))


def count_message(tx: Transaction, message_id: int, *, token_count: int, model: str) -> None:
    """A sent message's token count and the model that counted it (nothing if it was forgotten meanwhile)."""
    tx.execute("UPDATE messages SET token_count = ?, model = ? WHERE id = ?", [token_count, model, message_id])


def set_messages_excluded(tx: Transaction, message_ids: Iterable[int], excluded: bool) -> None:
    for mid in message_ids:
        tx.execute("UPDATE messages SET excluded = ? WHERE id = ?", [int(excluded), mid])


def extend_message(tx: Transaction, message_id: int, text: str, fields: Mapping[str, Any]) -> None:
    """A continued reply: the same message with more text; its memory follows (re-embedded later)."""
    update_message(tx, message_id, {"content": text, **fields})
    row = tx.execute("SELECT id FROM memories WHERE message_id = ?", [message_id]).fetchone()
    if row is not None:
        tx.execute("UPDATE memories SET text = ?, updated = ? WHERE id = ?", [text, now_iso(), row[0]])
        drop_vectors(tx, [int(row[0])])


def place_answers(tx: Transaction, message_ids: Iterable[int], *, answering: int | None, source: str) -> None:
    """Set replies aside as earlier answers to question ``answering`` (None: back into the
    conversation); their memories keep text and vector, only their ``source`` follows."""
    for mid in message_ids:
        tx.execute("UPDATE messages SET alternative_of = ? WHERE id = ?", [answering, mid])
        tx.execute("UPDATE memories SET source = ? WHERE message_id = ? AND kind = 'message'", [source, mid])


# -- memories and their vectors ----------------------------------------------------------


def add_memory(tx: Transaction, row: Mapping[str, Any]) -> int:
    return insert(tx, "memories", row)


def add_memories_unnumbered(tx: Transaction, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 5000) -> None:
    """Many memory rows at once with SQLite's own ids (benchmarks fill a database this way)."""
    tx.table("memories").insert_all((dict(r) for r in rows), batch_size=batch_size)


def set_memory_flag(tx: Transaction, memory_ids: Iterable[int], column: str, value: bool) -> None:
    """``pinned`` or ``excluded`` on memories."""
    if column not in ("pinned", "excluded"):
        raise ValueError(f"not a memory flag: {column}")
    for mid in memory_ids:
        tx.table("memories").update(mid, {column: int(value), "updated": now_iso()})


def save_vectors(tx: Transaction, rows: Sequence[Mapping[str, Any]]) -> None:
    """Vectors (memory_id, model, vector) and their entries in the change log other processes'
    FAISS caches follow."""
    if not rows:
        return
    tx.table("memory_vectors").upsert_all([dict(r) for r in rows], pk="memory_id")
    tx.conn.executemany(
        "INSERT INTO vector_changes (memory_id, op) VALUES (?, 'add')", [(r["memory_id"],) for r in rows]
    )


def drop_vectors(tx: Transaction, memory_ids: Sequence[int]) -> None:
    """Vectors that no longer match their memory's text, and their entries in the change log."""
    for mid in memory_ids:
        tx.execute("DELETE FROM memory_vectors WHERE memory_id = ?", [mid])
        tx.execute("INSERT INTO vector_changes (memory_id, op) VALUES (?, 'del')", [mid])


def save_index_record(tx: Transaction, record: Mapping[str, Any], *, keep_log_after: int) -> None:
    """The saved FAISS cache's checksum and generation; the change log is cut to what follows
    ``keep_log_after`` (a long tail, for processes whose cache is a little behind)."""
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('vector_index', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [json.dumps(dict(record))],
    )
    tx.execute("DELETE FROM vector_changes WHERE seq <= ?", [keep_log_after])


# -- suggestions -------------------------------------------------------------------------


def mark_read(tx: Transaction, message_id: int) -> None:
    """The message was read for suggestions (it is not read again)."""
    tx.execute("INSERT OR IGNORE INTO suggestion_runs (message_id, created) VALUES (?, ?)", [message_id, now_iso()])


def add_suggestion(
    tx: Transaction,
    *,
    text: str,
    kind: str,
    event_date: str | None,
    source_message_id: int | None,
    replaces: int | None,
    created: str | None = None,
) -> int:
    return insert(tx, "suggestions", {
        "text": text,
        "kind": kind,
        "event_date": event_date,
        "source_message_id": source_message_id,
        "replaces": replaces,
        "note_id": None,
        "status": "pending",  # SuggestionStatus.PENDING
        "created": created or now_iso(),
    })


def approve_suggestion(conn: sqlite3.Connection, suggestion_id: int, note_id: int, text: str) -> bool:
    """Mark a pending suggestion approved as note ``note_id``; False if it was no longer pending.
    ``conn``: the open transaction's connection (an edit's, in erasure.py, when it replaces a note)."""
    done = conn.execute(
        "UPDATE suggestions SET status = 'approved', note_id = ?, text = ? WHERE id = ? AND status = 'pending'",
        [note_id, text, suggestion_id],
    ).rowcount
    return bool(done)


def reject_suggestion(tx: Transaction, suggestion_id: int) -> None:
    tx.execute("UPDATE suggestions SET status = 'rejected' WHERE id = ?", [suggestion_id])


# -- turn records ------------------------------------------------------------------------


def record_turn(
    tx: Transaction,
    *,
    conversation_id: int,
    user_message_id: int,
    reply_message_id: int | None,
    model: str | None,
    n_ctx: int,
    reserve: int,
    prompt_tokens: int,
    prompt: str,
    items: Sequence[Mapping[str, Any]],
    prompt_parts: Sequence[Sequence[Any]] | None = None,
) -> int:
    """The window a turn used: its prompt, its items with their token counts, its parts."""
    return insert(tx, "turns", {
        "conversation_id": conversation_id,
        "user_message_id": user_message_id,
        "reply_message_id": reply_message_id,
        "created": now_iso(),
        "model": model,
        "n_ctx": n_ctx,
        "reserve": reserve,
        "prompt_tokens": prompt_tokens,
        "prompt": prompt,
        "prompt_parts": json.dumps([list(p) for p in prompt_parts]) if prompt_parts is not None else None,
        "items": json.dumps([dict(i) for i in items]),
    })
