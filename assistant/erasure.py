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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.kinds import ItemState
from assistant.ledger import TABLES, Erased
from assistant.ledger import Erasure as Erasure  # where it was first defined

if TYPE_CHECKING:
    from assistant.store import BackupShelf, Store

# More to write in an edit's own transaction (an approved suggestion's status).
Also = Callable[[sqlite3.Connection], None]
# Brings the open vector index and its saved file in step with a forget (MemoryStore's).
SaveIndex = Callable[[], None]

log = logging.getLogger(__name__)

FORGOTTEN = "[forgotten]"
EDITED = "[edited]"
PROMPT_GONE = "[This prompt was erased: it quoted something you forgot.]"


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
        if parts_json:
            parts = json.loads(parts_json)
            _redact(items, parts, sources, own_turn, replacement)
            prompt = "".join(p[1] for p in parts)
            conn.execute(
                "UPDATE turns SET items = ?, prompt_parts = ?, prompt = ? WHERE id = ?",
                [json.dumps(items), json.dumps(parts), prompt, turn_id],
            )
        else:
            # No structure kept (older records): the whole prompt goes, the item list stays.
            _redact(items, [], sources, own_turn, replacement)
            conn.execute(
                "UPDATE turns SET items = ?, prompt = ? WHERE id = ?", [json.dumps(items), PROMPT_GONE, turn_id]
            )
        changed += 1
    return changed


def _redact(
    items: list[dict[str, Any]], parts: list[list[Any]], sources: set[str], own_turn: bool, replacement: str
) -> bool:
    """Replace, in place, the items and prompt parts that come from ``sources``; True if any did."""
    changed = False
    for item in items:
        src = item.get("source")
        # Records made before sources were kept on the new message: the turn's user message.
        if src in sources or (own_turn and item.get("kind") == "message" and src is None):
            item["text"] = replacement
            if replacement == FORGOTTEN:
                item["state"], item["reason"] = ItemState.FORGOTTEN, "forgotten by you"
            changed = True
    for part in parts:
        if part[0] in sources:
            part[1] = _replace_part(part[1], replacement)
            changed = True
    return changed


def redact_gone(conn: sqlite3.Connection, items: list[dict[str, Any]], parts: list[list[Any]]) -> str | None:
    """In the transaction that records a turn: redact, in place, what a forget that ran during the turn
    erased (its journal's redaction looked at the records before this one existed). Returns the prompt
    rebuilt from the parts when anything went, else None. Under the write lock either the forget
    committed first (its rows are gone: redacted here) or it commits after (it redacts this record)."""
    wanted: dict[str, set[int]] = {"memory": set(), "message": set()}
    for src in [i.get("source") for i in items] + [p[0] for p in parts]:
        kind, _, num = str(src or "").partition(":")
        if kind in wanted and num.isdigit():
            wanted[kind].add(int(num))
    gone: set[str] = set()
    for kind, table in (("memory", "memories"), ("message", "messages")):
        ids = sorted(wanted[kind])
        for chunk in _chunks(ids):
            found = set(_ids(conn.execute(f"SELECT id FROM {table} WHERE id IN ({_marks(chunk)})", chunk)))
            gone |= {f"{kind}:{i}" for i in chunk if i not in found}
    if not gone or not _redact(items, parts, gone, False, FORGOTTEN):
        return None
    return "".join(p[1] for p in parts)


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
        if message_id is not None:
            # Suggestions read from the message's old text go as a forget takes them; the new text
            # may be read again.
            conn.execute("DELETE FROM suggestions WHERE source_message_id = ?", [message_id])
            conn.execute("DELETE FROM suggestion_runs WHERE message_id = ?", [message_id])


def forget(
    store: Store,
    *,
    memory_ids: Iterable[int] = (),
    message_ids: Iterable[int] = (),
    backups: BackupShelf | None,
    index: SaveIndex | None = None,
) -> Erasure:
    """Erase memories and messages for good: one transaction, then the journalled slow steps. The ids
    reach the ledger before the commit (a restore erases them again). ``index``: the open vector
    index's own save; without it the saved index file is rewritten without the erased vectors."""
    with store.write() as db:
        erasure = close_over(db.conn, memory_ids, message_ids)
        store.ledger.record({"memories": erasure.memory_ids, "messages": erasure.message_ids})
        job = erase_rows(db.conn, erasure)
    _finish(store, job, erasure, backups, index=index)
    return erasure


def edit(
    store: Store,
    memory_id: int,
    message_id: int | None,
    new_text: str,
    *,
    backups: BackupShelf | None,
    then: Also | None = None,
) -> None:
    """Change a memory's (and its message's) text; the old text leaves records, index and backups.
    ``then`` writes more in the same transaction."""
    from assistant.store import now_iso

    stamp = now_iso()
    with store.write() as db:
        conn = db.conn
        conn.execute("UPDATE memories SET text = ?, updated = ? WHERE id = ?", [new_text, stamp, memory_id])
        if message_id is not None:
            conn.execute("UPDATE messages SET content = ? WHERE id = ?", [new_text, message_id])
        edit_rows(conn, memory_id, message_id, new_text)
        if then is not None:
            then(conn)
        msgs = [message_id] if message_id is not None else []
        cur = conn.execute(
            "INSERT INTO erasures (memory_ids, message_ids, created, kind) VALUES (?, ?, ?, 'edit')",
            [json.dumps([memory_id]), json.dumps(msgs), stamp],
        )
        job = int(cur.lastrowid or 0)
    # After the commit: an edit that never happened must not cost a restore the note.
    store.ledger.record_edit(memory_id, message_id, stamp)
    _finish(store, job, Erasure((memory_id,), tuple(msgs)), backups, kind="edit")


def apply_edit(conn: sqlite3.Connection, memory_id: int, message_id: int | None, new_text: str) -> None:
    """The same edit in another copy of the database (a backup): text, records, no stale vector."""
    conn.execute("UPDATE memories SET text = ? WHERE id = ?", [new_text, memory_id])
    if message_id is not None:
        conn.execute("UPDATE messages SET content = ? WHERE id = ?", [new_text, message_id])
    if _has(conn, "memory_vectors"):
        conn.execute("DELETE FROM memory_vectors WHERE memory_id = ?", [memory_id])  # re-embedded if restored
    edit_rows(conn, memory_id, message_id, new_text)


def keep_ledger(store: Store) -> None:
    """At open: a database older than the ledger starts it with every id it has lost (all erased:
    only forgetting deletes rows); no new row may take an id the ledger names (a fresh database in
    a data dir that had one)."""
    try:
        if not store.ledger.exists():
            store.ledger.record(gaps(store.db.conn))
        erased = store.ledger.read()
    except OSError as exc:  # read-only media: reading works, a forget will say what is wrong
        log.info("could not keep %s: %s", store.ledger.path, exc)
        return
    have = watermarks(store.db.conn)
    want = {t: erased.high(t) for t in ("memories", "messages", "conversations") if erased.high(t) > have.get(t, 0)}
    if want:
        with store.write() as db:
            raise_watermarks(db.conn, want)


def resume(store: Store, backups: BackupShelf | None) -> int:
    """Complete forgets and edits that a killed process left half-done; returns how many. The saved
    vector index is rewritten too: no MemoryStore is open yet, and the next command may open none."""
    jobs = pending(store.db.conn)
    for job, erasure, kind in jobs:
        if kind == "edit":
            created = store.db.conn.execute("SELECT created FROM erasures WHERE id = ?", [job]).fetchone()
            if erasure.memory_ids and created:
                store.ledger.record_edit(
                    erasure.memory_ids[0], erasure.message_ids[0] if erasure.message_ids else None, str(created[0])
                )
        else:  # journalled before the ledger was written at each forget
            store.ledger.record({"memories": erasure.memory_ids, "messages": erasure.message_ids})
        _finish(store, job, erasure, backups, kind=kind)
    return len(jobs)


def purge_now(store: Store) -> None:
    """Merge the keyword index and checkpoint the WAL, so deleted text leaves the files."""
    with store.write() as db:
        purge(db.conn)
    store.checkpoint()


def _finish(
    store: Store,
    job: int | None,
    erasure: Erasure,
    backups: BackupShelf | None,
    *,
    kind: str = "forget",
    index: SaveIndex | None = None,
) -> None:
    purge_now(store)
    if kind != "edit" and erasure.memory_ids:
        # Before the journal row goes: a kill after it must not leave the vectors in the file.
        if index is not None:
            index()
        else:
            scrub_index_file(store, erasure.memory_ids)
    if backups is not None:
        if kind == "edit":
            _edit_backups(store, erasure, backups)
        else:
            backups.scrub(erasure)
    if job is not None:
        with store.write() as db:
            db.execute("DELETE FROM erasures WHERE id = ?", [job])
    store.checkpoint()


def scrub_index_file(store: Store, memory_ids: Sequence[int]) -> None:
    """Rewrite the saved FAISS file (``index/memories.faiss`` beside the database) without these
    vectors; its checksum in the database follows when the file was the trusted one."""
    from assistant.vector_index import remove_from_file

    path = index_file(store.path)
    if not path.is_file():
        return
    changed = remove_from_file(path, memory_ids)
    if changed is None:
        return
    old_sha, new_sha = changed
    with store.write() as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'vector_index'").fetchone()
        try:
            record = json.loads(row[0]) if row else None
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("sha256") == old_sha:
            record["sha256"] = new_sha
            db.execute("UPDATE meta SET value = ? WHERE key = 'vector_index'", [json.dumps(record)])


def index_file(db_path: Path) -> Path:
    """Where the saved vector index of the database at ``db_path`` lives (see assistant.paths)."""
    return db_path.parent / "index" / "memories.faiss"


# -- the ledger applied to a copy (a restore) ---------------------------------------------------


def gaps(conn: sqlite3.Connection) -> dict[str, list[int]]:
    """Ids a table once had and has no more: every one was erased (only forgetting deletes these
    rows, and ids are never reused), so a copy of the database made earlier must lose them too."""
    out: dict[str, list[int]] = {}
    if not _has(conn, "id_watermark"):
        return out
    highs = dict(conn.execute("SELECT name, high FROM id_watermark").fetchall())
    for table in TABLES:
        high = int(highs.get(table) or 0)
        missing: list[int] = []
        nxt = 1
        for (rid,) in conn.execute(f"SELECT id FROM {table} WHERE id <= ? ORDER BY id", [high]):
            missing.extend(range(nxt, int(rid)))
            nxt = int(rid) + 1
        missing.extend(range(nxt, high + 1))
        out[table] = missing
    return out


def watermarks(conn: sqlite3.Connection) -> dict[str, int]:
    if not _has(conn, "id_watermark"):
        return {}
    return {str(n): int(h) for n, h in conn.execute("SELECT name, high FROM id_watermark").fetchall()}


def current_edits(conn: sqlite3.Connection, erased: Erased) -> dict[int, str]:
    """The text each edited memory has now, in the newest database: a restored copy takes it."""
    ids = sorted({m for m, _, _ in erased.edits})
    out: dict[int, str] = {}
    for chunk in _chunks(ids):
        out.update({int(i): str(t) for i, t in conn.execute(
            f"SELECT id, text FROM memories WHERE id IN ({_marks(chunk)})", chunk
        ).fetchall()})
    return out


def settle(
    conn: sqlite3.Connection,
    erased: Erased,
    *,
    texts: dict[int, str] | None = None,
    highs: dict[str, int] | None = None,
) -> int:
    """Inside the caller's transaction on a copy of the database (a backup, a database a restore puts
    back): erase every row the ledger names, give each edited memory its newest text (``texts``, from
    the newest database) or, with none known, erase it when the copy's text is older than the edit;
    raise the id watermarks above the ledger's ids and ``highs``. Works on older schemas. Returns the
    memories and messages erased."""
    if not (_has(conn, "memories") and _has(conn, "messages")):  # older than memory itself: nothing of it
        return 0
    mem = [i for i in _ids(conn.execute("SELECT id FROM memories")) if erased.has("memories", i)]
    msg = [i for i in _ids(conn.execute("SELECT id FROM messages")) if erased.has("messages", i)]
    convs = [i for i in _ids(conn.execute("SELECT id FROM conversations")) if erased.has("conversations", i)]
    for chunk in _chunks(convs):
        msg += _ids(conn.execute(f"SELECT id FROM messages WHERE conversation_id IN ({_marks(chunk)})", chunk))
    texts = texts or {}
    for memory_id, message_id, stamp in erased.edits:
        row = conn.execute("SELECT text, updated, message_id FROM memories WHERE id = ?", [memory_id]).fetchone()
        if row is None or memory_id in mem:
            continue
        if memory_id in texts:
            if row[0] != texts[memory_id]:
                apply_edit(conn, memory_id, row[2] if row[2] is not None else message_id, texts[memory_id])
        elif row[1] is None or str(row[1]) < stamp:
            mem.append(memory_id)  # the old text, and the new one is nowhere: it must not come back
    gone = close_over(conn, mem, msg)
    if gone.memory_ids or gone.message_ids:
        erase_rows(conn, gone, journal=False)
    for chunk in _chunks(convs):
        if _has(conn, "turns"):
            conn.execute(f"DELETE FROM turns WHERE conversation_id IN ({_marks(chunk)})", chunk)
        conn.execute(f"DELETE FROM conversations WHERE id IN ({_marks(chunk)})", chunk)
    if _has(conn, "id_watermark"):
        want = dict(highs or {})
        for table in TABLES:
            want[table] = max(want.get(table, 0), erased.high(table))
        raise_watermarks(conn, want)
    return len(gone.memory_ids) + len(gone.message_ids)


def raise_watermarks(conn: sqlite3.Connection, highs: dict[str, int]) -> None:
    """No id at or below ``highs`` is given to a new row of its table (inside the caller's write)."""
    for table, high in highs.items():
        if high > 0:
            conn.execute(
                "INSERT INTO id_watermark (name, high) VALUES (?, ?) ON CONFLICT(name) "
                "DO UPDATE SET high = max(high, excluded.high)",
                [table, high],
            )


def _edit_backups(store: Store, erasure: Erasure, backups: BackupShelf) -> None:
    memory_id = erasure.memory_ids[0]
    message_id = erasure.message_ids[0] if erasure.message_ids else None
    rows = store.query("SELECT text FROM memories WHERE id = ?", [memory_id])
    if not rows:  # forgotten since: erase it from the backups altogether
        backups.scrub(erasure)
        return
    text = rows[0]["text"]
    backups.rewrite(lambda conn: apply_edit(conn, memory_id, message_id, text))
