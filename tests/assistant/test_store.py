from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from assistant.migrations import MIGRATIONS
from assistant.opening import open_store
from assistant.store import Store
from models.errors import NotFoundError, StoreError
from tests.messages import add_message


def test_migrations_from_an_empty_database(tmp_path: Path) -> None:
    store = open_store(tmp_path / "g.db")
    assert store.migrations_applied == [m.__name__ for m in MIGRATIONS]
    assert {"conversations", "messages", "memories", "memories_fts", "memory_vectors", "turns"} <= set(
        store.db.table_names()
    )
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    again = open_store(tmp_path / "g.db")
    assert again.migrations_applied == []


def test_conversation_and_messages_round_trip(tmp_path: Path) -> None:
    store = open_store(tmp_path / "g.db")
    conv = store.create_conversation("Trip")
    first = add_message(store, conv.id, "user", "hello")
    add_message(store, conv.id, "assistant", "hi", token_count=1, ttft_s=0.1)
    assert [m.content for m in store.messages(conv.id)] == ["hello", "hi"]
    assert [m.content for m in store.messages(conv.id, limit=1)] == ["hi"]
    assert [m.id for m in store.messages(conv.id, before_id=first.id + 1)] == [first.id]
    assert store.conversations(search="hell")[0].id == conv.id
    with pytest.raises(NotFoundError):
        store.message(999)


def test_corrupt_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    garbage = b"this is not sqlite " * 500
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="damaged or is not a Glassmind database"):
        open_store(path)
    assert path.read_bytes() == garbage


def test_read_only_database(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = open_store(path)
    conv = store.create_conversation("keep me")
    store.close()
    os.chmod(path, 0o444)
    os.chmod(tmp_path, 0o555)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("running as a user who can write read-only files")
        with pytest.raises(StoreError, match="read-only|locked|damaged|Database error"):
            s = open_store(path)
            add_message(s, conv.id, "user", "x")
    finally:
        os.chmod(tmp_path, 0o755)
        os.chmod(path, 0o644)
    assert open_store(path).conversation(conv.id).title == "keep me"


def test_locked_database_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Store, "lock_timeout_s", 0.3)  # the app waits 5 s for the other writer
    path = tmp_path / "g.db"
    store = open_store(path)
    conv = store.create_conversation("c")
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            add_message(store, conv.id, "user", "hello")
    finally:
        other.rollback()
        other.close()
    assert add_message(store, conv.id, "user", "hello").content == "hello"


def test_read_only_error_is_explained() -> None:
    from assistant.store import _explain

    err = _explain(sqlite3.OperationalError("attempt to write a readonly database"), Path("/x/g.db"))
    assert "read-only" in str(err) and "permission" in str(err)
    full = _explain(sqlite3.OperationalError("database or disk is full"), Path("/x/g.db"))
    assert "disk is full" in str(full)


def test_commit_counter_beside_the_database_follows_every_commit(tmp_path: Path) -> None:
    """Kept open and overwritten in place (a fixed width, so a shorter number leaves no digits behind);
    written anew when the file was removed under it (a restore)."""
    store = open_store(tmp_path / "g.db")
    counter = tmp_path / "g.db.commits"

    def in_db() -> int:
        return int(store.db.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()[0])

    conv = store.create_conversation("Count")
    for n in range(12):
        add_message(store, conv.id, "user", f"message {n}")
        assert int(counter.read_text().strip()) == in_db()
    store._write_commits(7)  # fewer digits than before: nothing of the old number may remain
    assert int(counter.read_text().strip()) == 7
    counter.unlink()
    add_message(store, conv.id, "user", "after the file was removed")
    assert int(counter.read_text().strip()) == in_db()
    store.close()
    assert open_store(tmp_path / "g.db").notices == []
