"""Automatic backups of the database: before every migration and at most once a day, the last few kept.

Made with SQLite's online backup API, so a backup is a consistent database
even while Glassmind writes. A forget reaches the backups too: each one is
rewritten without the forgotten rows (see ``scrub``), or deleted if that
fails, so a forgotten text survives in no file of the data dir.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant import erasure
from assistant.ledger import Ledger

try:  # advisory locks on half-made copies (not on Windows)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from models.errors import NotFoundError, StoreError

log = logging.getLogger(__name__)

KEEP = 4
DAILY = dt.timedelta(hours=24)
PREFIX = "glassmind-"


@dataclass(frozen=True)
class Backup:
    path: Path
    created: dt.datetime
    reason: str

    @property
    def name(self) -> str:
        return self.path.name

    def describe(self) -> str:
        size = self.path.stat().st_size if self.path.exists() else 0
        return f"{self.name}  {self.created:%Y-%m-%d %H:%M} UTC  {self.reason:<24} {size / 2**20:8.1f} MiB"


class Backups:
    """The backups folder beside the database."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.notices: list[str] = []

    def remove_strays(self) -> int:
        """Delete half-made copies a killed process left (``*.tmp`` from a backup, ``*.scrub`` from a
        rewrite): each holds a whole database, and forgetting would never reach it."""
        if not self.dir.is_dir():
            return 0
        removed = 0
        # A copy's rollback journal (``*.scrub-journal``) holds the pages a killed rewrite was
        # changing: the forgotten text itself. It goes with its copy, or alone.
        journals = [*self.dir.glob(f"{PREFIX}*.tmp-journal"), *self.dir.glob(f"{PREFIX}*.scrub-journal")]
        copies = {*self.dir.glob(f"{PREFIX}*.tmp"), *self.dir.glob(f"{PREFIX}*.scrub")}
        copies |= {j.with_name(j.name.removesuffix("-journal")) for j in journals}
        for path in sorted(copies):
            with _held(path, wait=False) as mine:  # (creates a missing copy's file: removed below)
                if mine:  # not being written by a live process right now
                    path.with_name(path.name + "-journal").unlink(missing_ok=True)
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def list(self) -> list[Backup]:
        """Backups, newest first."""
        if not self.dir.is_dir():
            return []
        out = []
        for path in self.dir.glob(f"{PREFIX}*.db"):
            stem = path.stem[len(PREFIX) :]
            stamp, _, reason = stem.partition("_")
            try:
                created = dt.datetime.strptime(stamp, "%Y%m%d-%H%M%S-%f").replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            out.append(Backup(path, created, reason or "manual"))
        return sorted(out, key=lambda b: b.created, reverse=True)

    def make(self, conn: sqlite3.Connection, reason: str) -> Backup:
        """Copy the open database into a new backup (atomic: a kill leaves no half-written one)."""
        if self.dir.exists() and not self.dir.is_dir():
            raise StoreError(
                f"{self.dir} should be a folder (Glassmind's backups) but is a file: move it away and try again."
            )
        tmp: Path | None = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            now = dt.datetime.now(dt.UTC)
            path = self.dir / f"{PREFIX}{now:%Y%m%d-%H%M%S-%f}_{reason}.db"
            tmp = path.with_suffix(".tmp")
            with _held(tmp, wait=True):  # a start in another process leaves a copy being written alone
                _drop_journal(tmp)
                dest = sqlite3.connect(tmp)
                try:
                    conn.backup(dest)
                    dest.execute("PRAGMA journal_mode = DELETE")
                finally:
                    dest.close()
                os.replace(tmp, path)
        except (OSError, sqlite3.Error) as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)  # a full disk leaves a 0-byte or partial copy
            raise StoreError(f"Could not write a backup in {self.dir}: {_reason(exc)}") from exc
        self._prune()
        return Backup(path, now, reason)

    def maybe_daily(self, conn: sqlite3.Connection) -> Backup | None:
        """A backup if the newest is older than a day and there is something to keep."""
        newest = next(iter(self.list()), None)
        if newest is not None and dt.datetime.now(dt.UTC) - newest.created < DAILY:
            return None
        has_data = conn.execute(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'messages') AND "
            "(EXISTS(SELECT 1 FROM messages) OR EXISTS(SELECT 1 FROM memories))"
        ).fetchone()[0]
        if not has_data:
            return None
        try:
            return self.make(conn, "daily")
        except StoreError as exc:
            self.notices.append(str(exc))  # shown with the command's other notices, as one sentence
            return None

    def _prune(self) -> None:
        for old in self.list()[KEEP:]:
            old.path.unlink(missing_ok=True)

    def scrub(self, done: erasure.Erasure) -> None:
        """Rewrite every backup without the erased rows."""

        def change(conn: sqlite3.Connection) -> None:
            erasure.erase_rows(conn, erasure.close_over(conn, done.memory_ids, done.message_ids), journal=False)

        self.rewrite(change)

    def rewrite(self, change: Callable[[sqlite3.Connection], None]) -> None:
        """Apply ``change`` to every backup, merge its keyword index and VACUUM it into a fresh
        file (no free page keeps old bytes); a backup that cannot be rewritten is deleted."""
        for backup in self.list():
            tmp = backup.path.with_suffix(".scrub")
            try:
                with _held(tmp, wait=True):
                    _drop_journal(tmp)
                    _rewrite_one(backup.path, tmp, change)
            except (OSError, sqlite3.Error) as exc:
                tmp.unlink(missing_ok=True)
                backup.path.unlink(missing_ok=True)
                self.notices.append(
                    f"The backup {backup.name} could not be rewritten without what you forgot or changed "
                    f"({exc}), so it was deleted."
                )

    def restore(self, name: str | None, db_path: Path) -> Backup:
        """Put a backup (the newest when ``name`` is None) in place of the database; the current
        database is kept as a backup first when it can be read. No other Glassmind may be running.

        What was erased since the backup was made stays erased: the ledger beside the database
        (assistant/ledger.py), with what the current database shows it lost and its unfinished
        forgets, is applied to the database put back and to every backup."""
        self.remove_strays()  # a copy a killed forget was rewriting: its journal must not meet a new copy
        backups = self.list()
        chosen = next((b for b in backups if name in (None, b.name, b.path.stem)), None)
        if chosen is None:
            raise NotFoundError(
                f"There is no backup {name!r}: `glassmind backup list` shows them." if name else
                f"There are no backups in {self.dir}."
            )
        tmp = db_path.with_name(db_path.name + ".restore")
        try:
            _drop_journal(tmp)
            shutil.copyfile(chosen.path, tmp)  # first: keeping the current one may prune old backups
        except OSError as exc:
            raise StoreError(f"Could not read the backup {chosen.name}: {exc.strerror or exc}.") from exc
        book = Ledger(db_path)
        texts: dict[int, str] = {}
        highs: dict[str, int] = {}
        if db_path.exists() and db_path.stat().st_size:
            try:
                current = sqlite3.connect(db_path)
                try:
                    current.execute("PRAGMA quick_check").fetchall()
                    lost = erasure.gaps(current)
                    for _job, done, kind in erasure.pending(current):  # a forget killed after its commit
                        if kind != "edit":
                            lost.setdefault("memories", []).extend(done.memory_ids)
                            lost.setdefault("messages", []).extend(done.message_ids)
                    book.record(lost)
                    texts = erasure.current_edits(current, book.read())
                    highs = erasure.watermarks(current)
                    self.make(current, "before-restore")
                finally:
                    current.close()
            except sqlite3.Error:
                log.info("the current database is unreadable; restoring without keeping it")
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise StoreError(f"Could not write {book.path}: {exc.strerror or exc}. Nothing was restored.") from exc
        erased = book.read()

        def change(conn: sqlite3.Connection) -> None:
            erasure.settle(conn, erased, texts=texts, highs=highs)

        try:
            _settle_file(tmp, change)
        except (OSError, sqlite3.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"Could not restore {chosen.name}: applying what you erased since to it failed ({exc})."
            ) from exc
        self.rewrite(change)  # the backups too: a forgotten text comes back from none of them
        try:
            # The commit counter beside the database describes the old one: a restore is no loss.
            for side in ("-wal", "-shm", ".commits"):
                db_path.with_name(db_path.name + side).unlink(missing_ok=True)
            # The saved vector index is the old database's (and may hold erased vectors): rebuilt.
            for cache in (erasure.index_file(db_path), erasure.index_file(db_path).with_suffix(".faiss.tmp")):
                cache.unlink(missing_ok=True)
            os.replace(tmp, db_path)
        except OSError as exc:
            raise StoreError(f"Could not restore {chosen.name}: {exc.strerror or exc}.") from exc
        return chosen


def _reason(exc: OSError | sqlite3.Error) -> str:
    """Why a backup could not be written, and what to do: the advice fits the cause."""
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) or "full" in text:
        return "the disk is full. Free some space and try again."
    if "disk i/o" in text:  # SQLite's word for a write the disk refused (a full disk, often)
        return "the disk is full or failing. Free some space and try again."
    if isinstance(exc, PermissionError) or "readonly" in text or "read-only" in text or "permission" in text:
        return "permission denied. Give your user write permission on that folder and try again."
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{detail}. Check that folder and try again."


def _drop_journal(tmp: Path) -> None:
    """A rollback journal a killed writer left beside ``tmp``: SQLite would play it back into the new
    copy written there (and it holds the old pages). The caller holds ``tmp``'s lock."""
    tmp.with_name(tmp.name + "-journal").unlink(missing_ok=True)


def _rewrite_one(path: Path, tmp: Path, change: Callable[[sqlite3.Connection], None]) -> None:
    shutil.copyfile(path, tmp)
    _settle_file(tmp, change)
    os.replace(tmp, path)


def _settle_file(tmp: Path, change: Callable[[sqlite3.Connection], None]) -> None:
    """Apply ``change`` to the database file ``tmp``, merge its keyword index and VACUUM it."""
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        change(conn)
        erasure.purge(conn)
        conn.execute("COMMIT")
        conn.execute("VACUUM")
    finally:
        conn.close()


@contextlib.contextmanager
def _held(path: Path, *, wait: bool) -> Iterator[bool]:
    """An advisory lock on ``path`` (created if missing) while a copy is written there; with
    ``wait=False`` it yields False when another live process holds it."""
    if fcntl is None:  # Windows: no advisory locks; a stray is removed regardless
        yield True
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
