"""Issue 21's promises, items 1-5, each tried the way it broke: a forget killed after its commit
(the index file, a restore), a killed approve, an edited message's suggestions, a forget racing a turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from assistant import erasure, paths, repository
from assistant.app import Assistant, ContextReady, Finished
from assistant.backup import Backups
from assistant.opening import open_store
from assistant.suggestions import Candidate
from models.errors import GlassmindError
from tests.messages import add_message

SECRET, SECOND = "K7WQ2Z", "VX9PL3"


class Killed(BaseException):
    """Stands for SIGKILL at one point of an operation: nothing after it runs, nothing is cleaned up."""


def _die(*_args: object, **_kwargs: object) -> None:
    raise Killed


def _files_with(home: Path, needle: str) -> list[str]:
    return [str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def _index_file(home: Path) -> Path:
    return paths.index_dir(home) / "memories.faiss"


def _damage(db: Path) -> None:
    """The current database unreadable, its WAL gone: nothing can be learnt from it."""
    db.write_bytes(b"this is not a database" * 400)
    for side in ("-wal", "-shm"):
        db.with_name(db.name + side).unlink(missing_ok=True)


def _restore(name: str | None = None) -> None:
    from assistant.cli import main

    assert main(["backup", "restore", *([name] if name else [])]) == 0


# -- 1. a forget killed after its commit: the next command, whatever it is, rewrites the index file


@pytest.mark.parametrize("command", [["memory", "list"], ["memory", "pin", "{keep}"], ["backup", "now"]])
def test_a_killed_forget_leaves_no_vector_in_the_index_file(
    assistant: Assistant, glassmind_home: Path, embedder, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    import assistant.cli as cli

    assistant.open_memory()
    note = assistant.memories.add(f"Gate code {SECRET}")
    keep = assistant.memories.add("The bike is blue.")
    vector = assistant.store.query("SELECT vector FROM memory_vectors WHERE memory_id = ?", [note.id])[0]["vector"]
    assistant.memories.flush()
    assert vector in _index_file(glassmind_home).read_bytes()
    # The forget commits, then the process dies before its slow steps.
    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(erasure, "_finish", _die)
        assistant.memories.forget([note.id])
    assert erasure.pending(assistant.store.db.conn)
    monkeypatch.setattr(cli, "Assistant", lambda: Assistant(embedder=embedder))
    assert cli.main([c.format(keep=keep.id) for c in command]) == 0  # a command that opens no index
    assert vector not in _index_file(glassmind_home).read_bytes()
    assert not _files_with(glassmind_home, SECRET)
    # The rewritten file is still the trusted cache: the next open loads it, without the note.
    fresh = Assistant(glassmind_home, embedder=embedder)
    try:
        assert fresh.open_memory() == "loaded"
        assert set(fresh.memories.index.ids().tolist()) == {keep.id}
    finally:
        fresh.store.close()


# -- 2. a restore after a killed forget or edit brings nothing back


def _note_in_a_backup(assistant: Assistant) -> tuple[int, int, str]:
    assistant.open_memory()
    keep = assistant.memories.add("The bike is blue.")
    note = assistant.memories.add(f"Locker code {SECRET}\nsecond line {SECOND}")
    backup = assistant.store.backups.make(assistant.store.db.conn, "test")
    return note.id, keep.id, backup.name


def _killed_forget(assistant: Assistant, note_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget, killed between its commit and the rewrite of the backups."""
    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(Backups, "scrub", _die)
        assistant.memories.forget([note_id])
    assistant.store.close()  # the process is gone


@pytest.mark.parametrize("current", ["readable", "damaged"])
def test_restore_after_a_killed_forget_brings_nothing_back(
    assistant: Assistant, glassmind_home: Path, monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    note_id, keep_id, name = _note_in_a_backup(assistant)
    late = assistant.memories.add("A note the backup never saw.")
    assistant.memories.forget([late.id])
    _killed_forget(assistant, note_id, monkeypatch)
    db = paths.database_path(glassmind_home)
    if current == "damaged":  # the reason to restore: nothing can be read from the current database
        _damage(db)
    _restore(name)
    assert not _files_with(glassmind_home, SECRET) and not _files_with(glassmind_home, SECOND)
    back = open_store(db)
    try:
        assert [r["id"] for r in back.query("SELECT id FROM memories")] == [keep_id]
        assert not erasure.pending(back.db.conn)
        # The erased id is never given again, though the restored copy was made before it went.
        with back.write() as w:
            assert repository.new_id(w, "memories") > late.id
    finally:
        back.close()
    assert Backups(glassmind_home / "backups").list()  # rewritten, not dropped
    ledger = (glassmind_home / "glassmind.db.erased").read_text()
    assert SECRET not in ledger and str(note_id) in ledger  # ids only


def test_restore_of_a_backup_older_than_the_ledger(
    assistant: Assistant, glassmind_home: Path
) -> None:
    """A data dir from before the ledger: a backup that a forget did not reach (copied back by hand,
    or left by an old kill) is settled by the ids the database has lost."""
    note_id, keep_id, name = _note_in_a_backup(assistant)
    backup = glassmind_home / "backups" / name
    kept = backup.read_bytes()
    assistant.memories.forget([note_id])
    backup.write_bytes(kept)  # the backup as it was before the forget
    assistant.store.close()
    (glassmind_home / "glassmind.db.erased").unlink(missing_ok=True)  # no ledger yet: an older Glassmind
    open_store(paths.database_path(glassmind_home)).close()  # the first start with it: made from the gaps
    db = paths.database_path(glassmind_home)
    _damage(db)  # only the ledger knows what went
    _restore(name)
    assert not _files_with(glassmind_home, SECRET)
    back = open_store(paths.database_path(glassmind_home))
    try:
        assert [r["id"] for r in back.query("SELECT id FROM memories")] == [keep_id]
    finally:
        back.close()


@pytest.mark.parametrize("current", ["readable", "damaged"])
def test_restore_after_a_killed_edit_brings_no_old_text_back(
    assistant: Assistant, glassmind_home: Path, monkeypatch: pytest.MonkeyPatch, current: str
) -> None:
    note_id, keep_id, name = _note_in_a_backup(assistant)
    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(Backups, "rewrite", _die)
        assistant.memories.edit(note_id, "The locker code changed; ask Sam.")
    assistant.store.close()
    db = paths.database_path(glassmind_home)
    if current == "damaged":
        _damage(db)
    _restore(name)
    assert not _files_with(glassmind_home, SECRET) and not _files_with(glassmind_home, SECOND)
    back = open_store(db)
    try:
        texts = {r["id"]: r["text"] for r in back.query("SELECT id, text FROM memories")}
    finally:
        back.close()
    if current == "readable":  # the edited text comes from the current database
        assert texts == {note_id: "The locker code changed; ask Sam.", keep_id: "The bike is blue."}
    else:  # the new text is lost with the database; the old one must not come back instead
        assert texts == {keep_id: "The bike is blue."}


# -- 3. approve: the note and the suggestion's status in one transaction


def _suggestion(assistant: Assistant, text: str, fact: str) -> tuple[int, int]:
    conv = assistant.store.create_conversation("Notes")
    msg = add_message(assistant.store, conv.id, "user", text)
    made = assistant.suggestions.record(msg.id, [(Candidate(fact, "fact", None, msg.id), None)])
    return msg.id, made[0].id


def test_a_failed_approve_leaves_no_note_and_approving_again_makes_one(assistant: Assistant) -> None:
    _, sid = _suggestion(assistant, "My sister Jo lives in Lisbon.", "Sister Jo lives in Lisbon")
    conn = assistant.store.db.conn
    # The status write fails (as a kill between the two writes did): the note must not stay behind.
    conn.execute(
        "CREATE TRIGGER fail_status BEFORE UPDATE OF status ON suggestions "
        "BEGIN SELECT RAISE(ABORT, 'killed here'); END"
    )
    with pytest.raises(GlassmindError):
        assistant.suggestions.approve(sid)
    conn.execute("DROP TRIGGER fail_status")
    notes = assistant.store.query("SELECT id FROM memories WHERE text = 'Sister Jo lives in Lisbon'")
    assert notes == [] and assistant.suggestions.get(sid).status == "pending"
    note = assistant.suggestions.approve(sid)
    notes = assistant.store.query("SELECT id FROM memories WHERE text = 'Sister Jo lives in Lisbon'")
    assert [n["id"] for n in notes] == [note.id]
    assert assistant.suggestions.get(sid).note_id == note.id
    with pytest.raises(GlassmindError):  # a second approve adds nothing
        assistant.suggestions.approve(sid)
    assert len(assistant.store.query("SELECT id FROM memories WHERE text = 'Sister Jo lives in Lisbon'")) == 1


# -- 4. editing a message takes the suggestions read from its old text


def test_editing_a_message_takes_its_suggestions(assistant: Assistant, glassmind_home: Path) -> None:
    assistant.open_memory()
    msg_id, _ = _suggestion(assistant, f"My locker code is {SECRET} now.", f"Locker code is {SECRET}")
    assistant.memories.index_orphan_messages()  # the message's memory, as a turn makes it
    memory = assistant.memories.for_message(msg_id)
    assert memory is not None
    assistant.memories.edit(memory.id, "My locker code changed.")
    assert assistant.suggestions.rows(None) == []
    assert not assistant.suggestions.was_read(msg_id)  # the new text may be read again
    assistant.memories.flush()
    assert not _files_with(glassmind_home, SECRET)


def test_edit_and_resend_takes_the_suggestions_of_the_message(assistant: Assistant, glassmind_home: Path) -> None:
    assistant.open_memory()
    events = list(assistant.turn(None, f"My locker code is {SECRET} now."))
    assert isinstance(events[-1], Finished)
    msg_id = events[0].user_message.id if isinstance(events[0], ContextReady) else 0
    assistant.suggestions.record(msg_id, [(Candidate(f"Locker code is {SECRET}", "fact", None, msg_id), None)])
    events = list(assistant.edit_and_resend(msg_id, "What day is it?"))
    assert isinstance(events[-1], Finished)
    assert [s.text for s in assistant.suggestions.rows(None) if SECRET in s.text] == []
    echoes = [m.id for m in assistant.memories.browse() if SECRET in m.text]  # a reply cannot echo it: gone
    assert echoes == []
    assistant.memories.flush()
    assert not _files_with(glassmind_home, SECRET)


# -- 5. a forget that lands while a turn runs: the turn's record must not keep what it erased


def test_a_turn_recorded_after_a_concurrent_forget_holds_none_of_it(
    assistant: Assistant, glassmind_home: Path, embedder
) -> None:
    assistant.open_memory()
    note = assistant.memories.add(f"The locker code is {SECRET}.", pinned=True)  # in every window
    conv = assistant.store.create_conversation("Race")
    said = add_message(assistant.store, conv.id, "user", f"Remember {SECOND} for the gym.")
    events = assistant.turn(conv.id, "What is the locker code?")
    ready = next(events)
    assert isinstance(ready, ContextReady)
    assert SECRET in ready.window.prompt and SECOND in ready.window.prompt
    # Another process (its own connection) forgets the note and the message while the turn runs.
    other = Assistant(glassmind_home, embedder=embedder)
    try:
        other.open_memory(embed=False)
        other.memories.forget([note.id], message_ids=[said.id])
    finally:
        other.store.close()
    rest = list(events)
    assert isinstance(rest[-1], Finished), rest[-1]
    row = assistant.store.query("SELECT prompt, items, prompt_parts FROM turns WHERE id = ?", [rest[-1].turn_id])[0]
    for column in ("prompt", "items", "prompt_parts"):
        assert SECRET not in row[column] and SECOND not in row[column], column
    items = json.loads(row["items"])
    gone = [i for i in items if i.get("source") in (f"memory:{note.id}", f"message:{said.id}")]
    assert gone and all(i["state"] == "forgotten" for i in gone)
    # The parts still add up to the prompt, and the rest of the record stands.
    assert "".join(p[1] for p in json.loads(row["prompt_parts"])) == row["prompt"]
    assert "What is the locker code?" in row["prompt"]


def test_a_forget_that_commits_after_the_turn_is_recorded_redacts_it(assistant: Assistant) -> None:
    """The other order: the journal's redaction finds the record (no regression)."""
    assistant.open_memory()
    note = assistant.memories.add(f"The locker code is {SECRET}.", pinned=True)
    events = list(assistant.turn(None, "What is the locker code?"))
    assert isinstance(events[-1], Finished)
    assistant.memories.forget([note.id] + [m.id for m in assistant.memories.browse() if SECRET in m.text])
    rows = assistant.store.query("SELECT prompt, items, prompt_parts FROM turns")
    assert rows and all(SECRET not in r[c] for r in rows for c in ("prompt", "items", "prompt_parts"))


def test_the_ledger_skips_a_torn_line(tmp_path: Path) -> None:
    from assistant.ledger import Ledger

    ledger = Ledger(tmp_path / "glassmind.db")
    ledger.record({"memories": [3, 4, 5, 9], "messages": [7]})
    with open(ledger.path, "a", encoding="utf-8") as f:
        f.write('{"memories": [[11, ')  # a kill in the middle of an append
    erased = ledger.read()
    assert [i for i in range(12) if erased.has("memories", i)] == [3, 4, 5, 9]
    assert erased.has("messages", 7) and erased.high("memories") == 9
    assert sqlite3.sqlite_version  # the ledger needs no database


def test_a_killed_rewrite_leaves_no_journal_of_its_copy(glassmind_home: Path) -> None:
    """A kill during a backup's rewrite left ``*.scrub-journal`` (the copy's rollback journal: the
    pages it was changing, forgotten text included) beside or without its ``*.scrub``; the crash
    harness found one. The next start removes both."""
    store = open_store(paths.database_path(glassmind_home))
    conv = store.create_conversation("x")
    add_message(store, conv.id, "user", f"my pin is {SECRET}")
    made = store.backups.make(store.db.conn, "test")
    store.close()
    data = made.path.read_bytes()
    for suffix in (".scrub-journal", ".tmp-journal"):
        made.path.with_suffix(suffix).write_bytes(data)
    other = made.path.with_name(made.path.stem + "-2.scrub")
    other.write_bytes(data)
    other.with_name(other.name + "-journal").write_bytes(data)
    open_store(paths.database_path(glassmind_home)).close()
    assert sorted(p.name for p in made.path.parent.iterdir()) == [made.name]


def test_a_restore_after_a_forget_killed_mid_rewrite(assistant: Assistant, glassmind_home: Path) -> None:
    """bench crash, trial 13: a forget killed while it rewrote a backup left ``*.scrub`` and its hot
    journal; `backup restore` (which opens no Store) rewrote that backup through the same path."""
    note_id, keep_id, name = _note_in_a_backup(assistant)
    backup = glassmind_home / "backups" / name
    stale = backup.read_bytes()
    assistant.memories.forget([note_id])
    assistant.store.close()
    backup.with_suffix(".scrub").write_bytes(stale)
    backup.with_suffix(".scrub-journal").write_bytes(stale)  # the pages a killed rewrite was changing
    _restore(name)
    assert not _files_with(glassmind_home, SECRET)
    back = open_store(paths.database_path(glassmind_home))
    try:
        assert [r["id"] for r in back.query("SELECT id FROM memories")] == [keep_id]
    finally:
        back.close()
    for b in Backups(glassmind_home / "backups").list():
        conn = sqlite3.connect(b.path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
