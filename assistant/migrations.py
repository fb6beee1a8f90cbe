"""Schema as numbered, append-only migrations, recorded in ``_migrations``.

Never edit a migration once it has shipped; add a new one. No migration
destroys user data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def pending_migrations(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations ``db`` lacks (a backup is taken before they run)."""
    done = {row["name"] for row in db.table("_migrations").rows} if db.table("_migrations").exists() else set()
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in done]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations ``db`` lacks, in order; returns the names applied."""
    table = db["_migrations"]
    if not table.exists():
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    done = {row["name"] for row in db.table("_migrations").rows}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        with db.atomic():
            fn(db)
            db.table("_migrations").insert({"name": fn.__name__, "applied": dt.datetime.now(dt.UTC).isoformat()})
        applied.append(fn.__name__)
    return applied


@migration
def m001_conversations(db: sqlite_utils.Database) -> None:
    db.table("conversations").create(
        {"id": int, "title": str, "created": str, "updated": str, "model": str},
        pk="id",
        not_null={"title", "created", "updated"},
    )
    db.table("messages").create(
        {
            "id": int,
            "conversation_id": int,
            "role": str,
            "content": str,
            "created": str,
            "token_count": int,
            "model": str,
            "status": str,  # "ok", "partial" (cancelled or failed mid-reply), "failed"
            "prompt_tokens": int,
            "completion_tokens": int,
            "ttft_s": float,
            "decode_tps": float,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
        not_null={"conversation_id", "role", "content", "created"},
        defaults={"status": "ok"},
    )
    db.table("messages").create_index(["conversation_id", "id"])


@migration
def m002_settings(db: sqlite_utils.Database) -> None:
    db.table("settings").create({"key": str, "value": str}, pk="key")


@migration
def m003_memories(db: sqlite_utils.Database) -> None:
    db.table("memories").create(
        {
            "id": int,
            "kind": str,  # "message" or "note"
            "text": str,
            "speaker": str,
            "conversation_id": int,
            "message_id": int,
            "source": str,  # "chat", "user", "remember", "import", "bench"
            "created": str,
            "updated": str,
            "pinned": int,
            "excluded": int,
        },
        pk="id",
        not_null={"kind", "text", "created"},
        defaults={"pinned": 0, "excluded": 0},
    )
    db.table("memories").create_index(["message_id"])
    db.table("memories").create_index(["conversation_id", "id"])
    db.table("memories").enable_fts(["text"], create_triggers=True, tokenize="porter unicode61")
    # Embeddings are kept in SQLite so the FAISS cache can be rebuilt without re-embedding.
    db.table("memory_vectors").create(
        {"memory_id": int, "model": str, "vector": bytes},
        pk="memory_id",
        foreign_keys=[("memory_id", "memories", "id")],
    )


@migration
def m004_turns(db: sqlite_utils.Database) -> None:
    db.table("turns").create(
        {
            "id": int,
            "conversation_id": int,
            "user_message_id": int,
            "reply_message_id": int,
            "created": str,
            "model": str,
            "n_ctx": int,
            "reserve": int,
            "prompt_tokens": int,
            "prompt": str,
            "items": str,  # JSON list of context items
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db.table("turns").create_index(["conversation_id", "id"])
    db.table("messages").add_column("excluded", int, not_null_default=0)


@migration
def m005_trust(db: sqlite_utils.Database) -> None:
    """Ids that are never reused, a change log for the vector cache, a forget journal, prompt parts."""
    # The highest id ever given per table: a forgotten id is never handed out again.
    db.execute("CREATE TABLE id_watermark (name TEXT PRIMARY KEY, high INTEGER NOT NULL)")
    for table in ("conversations", "messages", "memories", "turns"):
        db.execute(
            f"INSERT INTO id_watermark (name, high) SELECT ?, coalesce(max(id), 0) FROM {table}", [table]
        )
    # Every change to memory_vectors, in order: other processes replay it into their FAISS cache.
    db.execute(
        "CREATE TABLE vector_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, memory_id INTEGER NOT NULL, "
        "op TEXT NOT NULL)"
    )
    # Small facts about the database itself (the saved index's checksum, the commit counter).
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    # A forget whose slow steps (FTS merge, backups) have not finished: completed on the next start.
    db.execute(
        "CREATE TABLE erasures (id INTEGER PRIMARY KEY AUTOINCREMENT, memory_ids TEXT NOT NULL, "
        "message_ids TEXT NOT NULL, created TEXT NOT NULL)"
    )
    # The prompt as [source, text, is_template] parts, so forgetting can erase by structure.
    db.table("turns").add_column("prompt_parts", str)
    # The message a conversation's title was made from, so forgetting it renames the conversation.
    db.table("conversations").add_column("title_message_id", int)
    # A fingerprint of an imported conversation: importing the same export twice adds nothing.
    db.table("conversations").add_column("import_key", str)
    db.table("conversations").create_index(["import_key"])


@migration
def m006_edit_journal(db: sqlite_utils.Database) -> None:
    """Edits are journalled like forgets: the old text must leave the backups too."""
    db.table("erasures").add_column("kind", str, not_null_default="forget")


@migration
def m007_suggestions(db: sqlite_utils.Database) -> None:
    """Notes the model proposes from a message, kept until the user approves or rejects them; typed notes."""
    db.table("suggestions").create(
        {
            "id": int,
            "text": str,
            "kind": str,  # "fact", "preference" or "event"
            "event_date": str,  # ISO date of an event, when the message gave one
            "source_message_id": int,  # the message it was read from
            "replaces": int,  # the note it would change (an edit), or NULL for a new note
            "note_id": int,  # the note it became, once approved
            "status": str,  # "pending", "approved" or "rejected"
            "created": str,
        },
        pk="id",
        not_null={"text", "kind", "status", "created"},
        defaults={"status": "pending"},
    )
    db.table("suggestions").create_index(["status", "id"])
    db.table("suggestions").create_index(["source_message_id"])
    # Messages already read for suggestions: each is read once.
    db.table("suggestion_runs").create({"message_id": int, "created": str}, pk="message_id")
    # A note's type ("fact", "preference", "event") and an event's date; NULL for messages and older notes.
    db.table("memories").add_column("note_type", str)
    db.table("memories").add_column("event_date", str)


@migration
def m008_alternatives(db: sqlite_utils.Database) -> None:
    """Replies that Regenerate replaced stay messages, set aside as other answers to their question
    (‹ 1/3 ›): searchable and forgettable like any message, left out of the conversation and of
    retrieval (their memory's source is "alternative"), erased with their question."""
    db.table("messages").add_column("alternative_of", int)  # the user message they answer; NULL: shown
    db.table("messages").create_index(["alternative_of"])


@migration
def m009_conversation_system_prompt(db: sqlite_utils.Database) -> None:
    """A conversation's own system prompt; NULL: the one from Settings. Deleted with its conversation."""
    db.table("conversations").add_column("system_prompt", str)
