"""Schema as numbered, append-only migrations, recorded in ``_migrations``.

Never edit a migration once it has shipped; add a new one. No migration
destroys user data.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations ``db`` lacks, in order; returns the names applied."""
    table = db["_migrations"]
    if not table.exists():
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        with db.atomic():
            fn(db)
            db["_migrations"].insert({"name": fn.__name__, "applied": dt.datetime.now(dt.UTC).isoformat()})
        applied.append(fn.__name__)
    return applied


@migration
def m001_conversations(db: sqlite_utils.Database) -> None:
    db["conversations"].create(
        {"id": int, "title": str, "created": str, "updated": str, "model": str},
        pk="id",
        not_null={"title", "created", "updated"},
    )
    db["messages"].create(
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
    db["messages"].create_index(["conversation_id", "id"])


@migration
def m002_settings(db: sqlite_utils.Database) -> None:
    db["settings"].create({"key": str, "value": str}, pk="key")


@migration
def m003_memories(db: sqlite_utils.Database) -> None:
    db["memories"].create(
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
    db["memories"].create_index(["message_id"])
    db["memories"].create_index(["conversation_id", "id"])
    db["memories"].enable_fts(["text"], create_triggers=True, tokenize="porter unicode61")
    # Embeddings are kept in SQLite so the FAISS cache can be rebuilt without re-embedding.
    db["memory_vectors"].create(
        {"memory_id": int, "model": str, "vector": bytes},
        pk="memory_id",
        foreign_keys=[("memory_id", "memories", "id")],
    )


@migration
def m004_turns(db: sqlite_utils.Database) -> None:
    db["turns"].create(
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
    db["turns"].create_index(["conversation_id", "id"])
    db["messages"].add_column("excluded", int, not_null_default=0)
