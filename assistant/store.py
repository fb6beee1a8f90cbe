"""SQLite storage (sqlite-utils): conversations, messages, settings and turn records.

SQLite is the source of truth. The database is opened in WAL mode with
``secure_delete`` on, so that deleted text is overwritten on disk.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from assistant import repository
from assistant.ledger import Erasure, Ledger
from assistant.migrations import migrate, pending_migrations
from assistant.repository import now_iso as now_iso  # where callers have always found it
from models.errors import NotFoundError, StoreError

log = logging.getLogger(__name__)


def conversation_title(text: str) -> str:
    """A conversation's title made from its first message: the first 48 characters on one line."""
    line = " ".join(text.split())
    return line[:48] + ("…" if len(line) > 48 else "")


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: str
    updated: str
    model: str | None = None
    title_message_id: int | None = None  # the message the title was made from
    import_key: str | None = None  # fingerprint of an imported conversation


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    created: str
    token_count: int | None = None
    model: str | None = None
    status: str = "ok"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    decode_tps: float | None = None
    excluded: int = 0
    alternative_of: int | None = None  # set aside by Regenerate: the user message it answers


@dataclass(frozen=True)
class AnswerChoice:
    """Where the shown reply stands among the answers to its question (‹ 2/3 ›), in the order
    they were written, and the ids of the answers either side of it."""

    reply_id: int
    position: int  # 1-based
    total: int
    previous_id: int | None
    next_id: int | None


@dataclass(frozen=True)
class TurnRecord:
    id: int
    conversation_id: int
    user_message_id: int
    reply_message_id: int | None
    created: str
    model: str | None
    n_ctx: int
    reserve: int
    prompt_tokens: int
    prompt: str
    items: list[dict[str, Any]]
    prompt_parts: str | None = None  # JSON [source, text, is_template] parts; see assistant/erasure.py


class BackupFile(Protocol):
    """One backup (assistant/backup.py's Backup)."""

    @property
    def path(self) -> Path: ...
    @property
    def created(self) -> dt.datetime: ...
    @property
    def reason(self) -> str: ...
    @property
    def name(self) -> str: ...
    def describe(self) -> str: ...


class BackupShelf(Protocol):
    """The backups beside the database (assistant/backup.py's Backups), as the store holds them: it
    names the newest in what it says and takes one before a migration; what else they do (rewrite
    themselves after a forget, restore) is for the modules above the store, which open it with them
    (assistant/opening.py)."""

    dir: Path
    notices: builtins.list[str]

    def list(self) -> Sequence[BackupFile]: ...
    def make(self, conn: sqlite3.Connection, reason: str) -> BackupFile: ...
    def maybe_daily(self, conn: sqlite3.Connection) -> BackupFile | None: ...
    def remove_strays(self) -> int: ...
    def scrub(self, done: Erasure) -> None: ...
    def rewrite(self, change: Callable[[sqlite3.Connection], None]) -> None: ...
    def restore(self, name: str | None, db_path: Path) -> BackupFile: ...


def _explain(exc: sqlite3.Error, path: Path, backups: BackupShelf | None = None) -> StoreError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreError(
            f"The database {path} is locked by another program (perhaps another Glassmind): "
            "close it and try again."
        )
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"The database {path} is read-only: give your user write permission on it and its folder."
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        newest = next(iter(backups.list()), None) if backups else None
        restore = (
            f"`glassmind backup restore` brings back the newest backup ({newest.created:%Y-%m-%d %H:%M} UTC)"
            if newest else "move it aside to start afresh (no backup exists)"
        )
        return StoreError(
            f"The database {path} is damaged or is not a Glassmind database. Glassmind has not changed it: {restore}."
        )
    if "disk is full" in text or "disk i/o" in text:
        return StoreError(f"Could not write {path}: the disk is full or failing. Free some space and try again.")
    return StoreError(f"Database error in {path}: {exc}.")


class Store:
    """One connection to the Glassmind database; methods are safe to call from several threads.

    Opened as the app opens it by ``assistant.opening.open_store``: with its backups, after the
    forgets a kill interrupted are finished."""

    # How long a write waits for another process's transaction before it says the database is busy.
    lock_timeout_s = 5.0

    def __init__(self, path: str | Path, backups: BackupShelf) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self.backups = backups
        self.ledger = Ledger(self.path)  # what was erased, outside every copy (assistant/ledger.py)
        self._commits_file = self.path.with_name(self.path.name + ".commits")
        self._commits_fd: int | None = None  # kept open: see _write_commits
        self._counting = False
        self.notices: list[str] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the data folder {self.path.parent}: {exc.strerror}.") from exc
        self._refuse_emptied_file()
        try:
            conn = sqlite3.connect(self.path, timeout=self.lock_timeout_s, check_same_thread=False)
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = ON")
            problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                # Read-only media cannot switch; writes will say so when they happen.
                pass
            conn.execute("PRAGMA synchronous = NORMAL")
            self.db = sqlite_utils.Database(conn)
            if pending_migrations(self.db) and self.db.table("_migrations").exists():
                self.backups.make(conn, "before-" + pending_migrations(self.db)[0])
            self.migrations_applied = migrate(self.db)
            self._counting = True
            self._check_lost_commits()
        except sqlite3.Error as exc:
            raise _explain(exc, self.path, self.backups) from exc
        restore_tmp = self.path.with_name(self.path.name + ".restore")
        restore_tmp.unlink(missing_ok=True)  # a restore killed before its rename
        restore_tmp.with_name(restore_tmp.name + "-journal").unlink(missing_ok=True)
        self.damaged = bool(problems)
        if problems:
            self.notices.append(self._damage_notice(problems[0]))

    def _damage_notice(self, problem: str) -> str:
        """What the integrity check at open found, said once, with the way back."""
        newest = next(iter(self.backups.list()), None)
        restore = (
            f"close Glassmind and run `glassmind backup restore` to bring back the newest backup "
            f"({newest.created:%Y-%m-%d %H:%M} UTC)"
            if newest
            else "no backup exists: export what you can (`glassmind export`) and keep a copy of the file"
        )
        return (
            f"The database {self.path} is damaged (SQLite's check found: {problem[:120]}); what it shows may be "
            f"incomplete: {restore}."
        )

    def _refuse_emptied_file(self) -> None:
        """A 0-byte database that held data once is damage, not a fresh start: never overwrite it."""
        try:
            empty = self.path.is_file() and self.path.stat().st_size == 0
        except OSError:
            return
        if empty and (self._read_commits() or self.backups.list()):
            newest = next(iter(self.backups.list()), None)
            hint = (
                f"`glassmind backup restore` brings back the newest backup ({newest.created:%Y-%m-%d %H:%M} UTC)."
                if newest else "No backup exists; move the empty file aside to start afresh."
            )
            raise StoreError(f"The database {self.path} is empty (0 bytes): its contents were lost. {hint}")

    def _read_commits(self) -> int:
        try:
            return int(self._commits_file.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _check_lost_commits(self) -> None:
        """Compare the commit counter in the database with the one written beside it after each
        commit: fewer in the database means committed data was lost (a deleted or damaged WAL)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()
        in_db = int(row[0]) if row else 0
        seen = self._read_commits()
        if seen > in_db:
            newest = next(iter(self.backups.list()), None)
            self.notices.append(
                f"The last {seen - in_db} change(s) saved to {self.path.name} are missing: its journal file "
                f"({self.path.name}-wal) was deleted or damaged."
                + (
                    f" The newest backup is from {newest.created:%Y-%m-%d %H:%M} UTC: "
                    "`glassmind backup restore` brings it back."
                    if newest
                    else ""
                )
            )
            self._write_commits(in_db)

    def _write_commits(self, value: int) -> None:
        """Overwrite the counter in place, through a descriptor kept open: opening and truncating
        the file after every commit took 0.3-4 ms, most of a turn's own time before the model reads
        the prompt (bench/RESULTS.md). Always 20 bytes (the number, then spaces), so one write
        replaces the whole value whatever was there, and nothing is ever truncated."""
        data = f"{value:<20d}".encode()
        try:
            fd = self._commits_fd
            if fd is not None and os.fstat(fd).st_nlink == 0:  # removed (a restore): start a new file
                self._close_commits()
                fd = None
            if fd is None:
                fd = self._commits_fd = os.open(self._commits_file, os.O_WRONLY | os.O_CREAT, 0o666)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, data)
        except OSError:
            log.info("could not write %s", self._commits_file)
            self._close_commits()

    def _close_commits(self) -> None:
        fd, self._commits_fd = self._commits_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def version(self) -> tuple[int, int]:
        """Where the database stands: rows this connection has changed so far, and SQLite's
        data_version, which moves when another connection commits. The same version twice: nothing
        was written in between, by this process or any other."""
        with self._lock:
            try:
                other = self.db.conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as exc:
                raise _explain(exc, self.path, self.backups) from exc
            return self.db.conn.total_changes, int(other)

    def checkpoint(self, *, passive: bool = False) -> None:
        """Move the WAL into the database file and truncate it (after a forget: no copy left behind).

        ``passive``: copy what it can without waiting for other connections, and leave the file as
        it is; done after a turn, so that SQLite's own checkpoint (when the WAL passes 1,000 pages)
        does not fall on the commit of the next message, before its prompt is read."""
        with self._lock:
            try:
                self.db.execute(f"PRAGMA wal_checkpoint({'PASSIVE' if passive else 'TRUNCATE'})")
            except sqlite3.Error as exc:
                raise _explain(exc, self.path, self.backups) from exc

    def explain(self, exc: sqlite3.Error) -> StoreError:
        """What a SQLite error on this database means to the user, as one sentence with the way out."""
        return _explain(exc, self.path, self.backups)

    def close(self) -> None:
        with self._lock:
            self._close_commits()
            with contextlib.suppress(sqlite3.Error):
                self.db.conn.close()

    # -- helpers -------------------------------------------------------------

    def write(self) -> _Write:
        """A transaction under the store lock; sqlite errors become StoreError."""
        return _Write(self)

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Like ``query``, as plain tuples: for the reads on every turn's path."""
        with self._lock:
            try:
                return self.db.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _explain(exc, self.path, self.backups) from exc

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                return list(self.db.query(sql, params))
            except sqlite3.Error as exc:
                raise _explain(exc, self.path, self.backups) from exc

    # -- settings --------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM settings WHERE key = ?", [key])
        if not rows:
            return default
        try:
            return json.loads(rows[0]["value"])
        except (TypeError, ValueError):
            self.notices.append(f"The stored setting {key!r} was unreadable; Glassmind uses the defaults.")
            return default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as tx:
            repository.save_setting(tx, key, value)

    # -- conversations ---------------------------------------------------------

    def create_conversation(self, title: str = "New conversation", *, model: str | None = None) -> Conversation:
        with self.write() as tx:
            cid = repository.add_conversation(tx, title=title, created=now_iso(), model=model)
        return self.conversation(cid)

    def conversation(self, conversation_id: int) -> Conversation:
        rows = self.query("SELECT * FROM conversations WHERE id = ?", [conversation_id])
        if not rows:
            raise NotFoundError(f"There is no conversation {conversation_id}: `glassmind chat` lists none by that id.")
        return Conversation(**rows[0])

    def conversations(self, search: str | None = None) -> list[Conversation]:
        if search:
            like = f"%{search}%"
            rows = self.query(
                "SELECT * FROM conversations WHERE title LIKE ? OR id IN "
                "(SELECT conversation_id FROM messages WHERE content LIKE ? AND alternative_of IS NULL) "
                "ORDER BY updated DESC, id DESC",
                [like, like],
            )
        else:
            rows = self.query("SELECT * FROM conversations ORDER BY updated DESC, id DESC")
        return [Conversation(**r) for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self.conversation(conversation_id)
        with self.write() as tx:
            repository.rename_conversation(tx, conversation_id, title.strip() or "Untitled")

    # -- messages --------------------------------------------------------------

    def import_messages(self, conversation_id: int, rows: list[dict[str, Any]]) -> list[int]:
        """Insert many messages at once (import, benchmarks); each row has role, content, created."""
        self.conversation(conversation_id)
        ids = []
        with self.write() as tx:
            for row in rows:
                ids.append(repository.add_message(tx, {"conversation_id": conversation_id, **row}))
        return ids

    def update_message(self, message_id: int, **fields: Any) -> Message:
        self.message(message_id)
        with self.write() as tx:
            repository.update_message(tx, message_id, fields)
        return self.message(message_id)

    def message(self, message_id: int) -> Message:
        rows = self.query("SELECT * FROM messages WHERE id = ?", [message_id])
        if not rows:
            raise NotFoundError(f"There is no message {message_id} (it may have been forgotten).")
        return Message(**rows[0])

    def messages(
        self, conversation_id: int, *, before_id: int | None = None, limit: int | None = None
    ) -> list[Message]:
        """The conversation's messages in order; with ``limit``, the newest ``limit`` before
        ``before_id``. Answers set aside by Regenerate are not among them (see ``alternatives``)."""
        sql = "SELECT * FROM messages WHERE conversation_id = ? AND alternative_of IS NULL"
        params: list[Any] = [conversation_id]
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        if limit is not None:
            rows = self.query(sql + " ORDER BY id DESC LIMIT ?", params + [limit])
            rows.reverse()
        else:
            rows = self.query(sql + " ORDER BY id", params)
        return [Message(**r) for r in rows]

    def message_count(self, conversation_id: int) -> int:
        return int(
            self.query(
                "SELECT count(*) AS n FROM messages WHERE conversation_id = ? AND alternative_of IS NULL",
                [conversation_id],
            )[0]["n"]
        )

    def alternatives(self, user_message_id: int) -> list[Message]:
        """The other answers to a question that Regenerate set aside, in the order they were written."""
        rows = self.query("SELECT * FROM messages WHERE alternative_of = ? ORDER BY id", [user_message_id])
        return [Message(**r) for r in rows]

    def answer_choice(self, messages: list[Message]) -> AnswerChoice | None:
        """For the last reply of a conversation (``messages``, oldest first) whose question has
        answers set aside; None otherwise."""
        if len(messages) < 2 or messages[-1].role != "assistant":
            return None
        question = next((m for m in reversed(messages) if m.role == "user"), None)
        if question is None:
            return None
        others = self.alternatives(question.id)
        if not others:
            return None
        reply = messages[-1]
        ids = sorted([m.id for m in others] + [reply.id])
        at = ids.index(reply.id)
        return AnswerChoice(
            reply_id=reply.id,
            position=at + 1,
            total=len(ids),
            previous_id=ids[at - 1] if at > 0 else None,
            next_id=ids[at + 1] if at + 1 < len(ids) else None,
        )

    def message_ids(self, conversation_id: int) -> list[int]:
        """Every message of a conversation, the answers set aside included."""
        rows = self.query("SELECT id FROM messages WHERE conversation_id = ? ORDER BY id", [conversation_id])
        return [int(r["id"]) for r in rows]

    # -- turn records ------------------------------------------------------------

    def turn_for_message(self, message_id: int) -> TurnRecord | None:
        rows = self.query(
            "SELECT * FROM turns WHERE user_message_id = ? OR reply_message_id = ? ORDER BY id DESC LIMIT 1",
            [message_id, message_id],
        )
        return self._turn(rows[0]) if rows else None

    @staticmethod
    def _turn(row: dict[str, Any]) -> TurnRecord:
        return TurnRecord(**{**row, "items": json.loads(row["items"] or "[]")})


class _Write:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> sqlite_utils.Database:
        self.store._lock.acquire()
        try:
            self.store.db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self.store._lock.release()
            raise _explain(exc, self.store.path, self.store.backups) from exc
        return self.store.db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = self.store.db.conn
        try:
            if exc_type is None:
                count = None
                try:
                    if self.store._counting:
                        count = conn.execute(
                            "INSERT INTO meta (key, value) VALUES ('commits', 1) ON CONFLICT(key) "
                            "DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value"
                        ).fetchone()[0]
                    conn.execute("COMMIT")
                except sqlite3.Error as err:
                    _rollback(conn)
                    raise _explain(err, self.store.path, self.store.backups) from err
                if count is not None:
                    self.store._write_commits(int(count))
            else:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise _explain(exc, self.store.path, self.store.backups) from exc
        finally:
            self.store._lock.release()


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is still open. A COMMIT that failed (a full disk) may have been rolled back by
    SQLite already; a second ROLLBACK would then raise "no transaction is active" over the real error."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("rollback failed", exc_info=True)
