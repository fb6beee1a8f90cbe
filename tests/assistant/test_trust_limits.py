"""Issue 21, items 6-10, each tried the way it broke: a full disk, a damaged page, endless files,
export targets that are not plain files, ids and text that only look plain."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import paths, repository
from assistant import text as text_module
from assistant.app import Assistant, Failed
from assistant.opening import open_store
from assistant.store import Store
from assistant.transfer import export_data, read_export, write_export
from models.errors import InvalidInputError, StoreError
from tests.messages import add_message

SECRET = "K7QZ2"


def _fill(conn: sqlite3.Connection) -> None:
    """The database can grow no more: SQLite answers SQLITE_FULL ("database or disk is full") and
    rolls the transaction back itself, as on a full disk."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _messages(store: Store) -> list[str]:
    return [r["content"] for r in store.query("SELECT content FROM messages ORDER BY id")]


# -- 6: a full disk ---------------------------------------------------------------------------


def test_a_full_database_says_so_in_one_sentence_and_writes_nothing_half(assistant: Assistant) -> None:
    assistant.open_memory()
    kept = assistant.memories.add("A note written before the disk filled up.")
    assistant.memories.flush()
    _fill(assistant.store.db.conn)
    long = "x" * 12_000  # needs new pages: it cannot fit in the free space of the pages there are
    with pytest.raises(StoreError, match="disk is full") as err:
        assistant.memories.add(f"{SECRET} {long}")
    assert "no transaction is active" not in str(err.value) and str(err.value).count(". ") <= 1
    # A message that cannot be stored is refused before anything else happens, with a sentence.
    with pytest.raises(StoreError, match="disk is full"):
        for event in assistant.turn(None, f"{SECRET} {long}"):
            assert not isinstance(event, Failed) or "disk" in event.error
    assert not any(SECRET in text for text in _messages(assistant.store))
    assert [m.id for m in assistant.memories.browse()] == [kept.id]
    # The connection is still usable: once there is room, the same message goes through.
    assistant.store.db.conn.execute("PRAGMA max_page_count = 1073741823")
    assistant.memories.add(f"{SECRET} {long}")
    assert not list((assistant.store.path.parent / "index").glob("*.tmp"))


def test_a_failed_commit_that_sqlite_rolled_back_is_one_sentence(glassmind_home: Path) -> None:
    """The COMMIT itself fails (the WAL cannot grow): SQLite has already rolled back, and the
    store must not try again over the real error."""
    store = open_store(paths.database_path(glassmind_home))
    conv = store.create_conversation("before")
    real = store.db.conn

    class FullAtCommit:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self._conn = conn

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql == "COMMIT":
                self._conn.execute("ROLLBACK")  # what SQLite does when the commit's write fails
                raise sqlite3.OperationalError("database or disk is full")
            return self._conn.execute(sql, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(self._conn, name)

    store.db.conn = FullAtCommit(real)  # type: ignore[assignment]
    try:
        with pytest.raises(StoreError, match="disk is full"):
            add_message(store, conv.id, "user", SECRET)
    finally:
        store.db.conn = real
    assert SECRET not in _messages(store)
    add_message(store, conv.id, "user", "after")  # nothing was left open
    assert _messages(store) == ["after"]
    store.close()


def test_the_index_file_on_a_full_disk_leaves_no_empty_copy(assistant: Assistant, monkeypatch) -> None:
    assistant.open_memory()
    assistant.memories.add("first")
    index_dir = assistant.store.path.parent / "index"

    def no_space(self: Path, data: bytes) -> int:
        with open(self, "wb") as fh:  # created, then the write fails: a 0-byte file
            fh.write(data[:0])
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(StoreError, match="your data is safe"):
        assistant.memories.flush()
    monkeypatch.undo()
    assert not list(index_dir.glob("*.tmp"))
    assert [m.text for m in assistant.memories.browse()] == ["first"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (as root): a real ENOSPC, not a simulated one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8); the portable tests above cover the logic")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _leave_free(where: Path, free: int) -> None:
    """Fill the file system at ``where`` until ``free`` bytes are left."""
    filler = where / "filler"
    st = os.statvfs(where)
    room = st.f_bavail * st.f_frsize - free
    if room > 0:
        with open(filler, "ab") as fh:
            fh.write(b"\0" * room)


@pytest.mark.parametrize("free_kib", [64, 192])
def test_commands_on_a_nearly_full_disk_give_one_sentence_and_lose_nothing(
    small_disk: Path, embedder, chat_model, monkeypatch, capsys, caplog, free_kib: int
) -> None:
    import assistant.cli as cli

    home = small_disk / "home"
    monkeypatch.setenv("GLASSMIND_HOME", str(home))

    def app() -> Assistant:
        made = Assistant(embedder=embedder, model=chat_model)
        made.settings.max_tokens = 8
        real_close = made.close

        def close() -> None:
            made._model = None  # the session owns the model
            real_close()

        made.close = close  # type: ignore[method-assign]
        return made

    monkeypatch.setattr(cli, "Assistant", app)
    assert cli.main(["memory", "add", "the first note, written with room to spare"]) == 0
    assert cli.main(["memory", "add", "the second note, to forget later"]) == 0
    capsys.readouterr()
    shutil.rmtree(home / "backups")  # the next start makes its daily backup: on the full disk
    _leave_free(small_disk, free_kib * 1024)
    typed = f"{SECRET} " + "a long note typed on a full disk " * 300
    codes = {
        "add": cli.main(["memory", "add", typed]),
        "forget": cli.main(["memory", "forget", "2"]),
        "list": cli.main(["memory", "list", "--json"]),
        "chat": cli.main(["chat", "--once", f"{SECRET} a message typed on a full disk " * 80]),
    }
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "no transaction is active" not in err, err
    for line in err.splitlines():  # each problem is one line of its own, said by glassmind
        assert line.startswith(("glassmind: ", "Indexing memories", "\r")) or not line.strip() or "memories" in line
    if codes["add"]:
        assert "disk is full" in err  # told, and the text is still on the command line
    (small_disk / "filler").unlink()
    assert not list(home.rglob("*.tmp")), list(home.rglob("*"))
    store = open_store(paths.database_path(home))
    texts = [r["text"] for r in store.query("SELECT text FROM memories")]
    messages = [r["content"] for r in store.query("SELECT content FROM messages WHERE role = 'user'")]
    store.close()
    typed_chat = f"{SECRET} a message typed on a full disk " * 80
    assert messages in ([], [typed_chat])  # stored whole, or not at all
    if not messages:
        assert codes["chat"] == 1 and "disk is full" in err  # and said so
    assert "the first note, written with room to spare" in texts
    assert (typed.strip() in texts) == (codes["add"] == 0)  # stored whole, or not at all and said so
    assert ("the second note, to forget later" in texts) == (codes["forget"] != 0)



# -- 7: a damaged page --------------------------------------------------------------------------


def _garble_page(db: Path, index: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [index]).fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\x5a" * page_size)


def test_a_damaged_page_is_reported_at_open_with_the_newest_backup(
    assistant: Assistant, glassmind_home: Path, embedder, monkeypatch, capsys
) -> None:
    import assistant.cli as cli

    assistant.open_memory()
    assistant.memories.add("The spare key is under the blue pot.")
    conv = assistant.store.create_conversation("c")
    user = add_message(assistant.store, conv.id, "user", "hello")
    with assistant.store.write() as tx:
        repository.record_turn(
            tx, conversation_id=conv.id, user_message_id=user.id, reply_message_id=None, model=None, n_ctx=1,
            reserve=0, prompt_tokens=0, prompt="", items=[],
        )
    backup = assistant.store.backups.make(assistant.store.db.conn, "manual")
    db = assistant.store.path
    assistant._model = None
    assistant.close()
    _garble_page(db, "idx_turns_conversation_id_id")

    store = open_store(db)
    assert store.damaged and len(store.notices) == 1
    notice = store.notices[0]
    assert "damaged" in notice and "glassmind backup restore" in notice and f"{backup.created:%Y-%m-%d %H:%M}" in notice
    store.close()
    assert [b.name for b in store.backups.list()] == [backup.name]  # no backup was made of the damage

    monkeypatch.setattr(cli, "Assistant", lambda: Assistant(embedder=embedder))
    for argv in (["memory", "list"], ["memory", "search", "spare key"]):
        assert cli.main(argv) == 0
        err = capsys.readouterr().err
        assert "is damaged" in err and "glassmind backup restore" in err and "Traceback" not in err
    app = Assistant(embedder=embedder)  # what the window shows at start (ui/engine.py prints store.notices)
    assert any("is damaged" in n for n in app.store.notices)
    app.close()


def test_a_sound_database_has_no_damage_notice(glassmind_home: Path) -> None:
    store = open_store(paths.database_path(glassmind_home))
    store.create_conversation("fine")
    store.close()
    again = open_store(paths.database_path(glassmind_home))
    assert not again.damaged and not again.notices
    again.close()


# -- 8: endless files and pipes -------------------------------------------------------------------


def test_import_reads_at_most_the_limit_whatever_the_file_says(tmp_path: Path, monkeypatch) -> None:
    """A file whose size says it is small (a device says 0, /proc says 0, a file may grow) is read
    with a bound, never whole."""
    import assistant.transfer as transfer

    monkeypatch.setattr(transfer, "MAX_IMPORT_BYTES", 4096)
    grows = tmp_path / "grows.json"
    grows.write_bytes(b" " * 10_000 + b"{}")
    real_stat, real_fstat = os.stat, os.fstat

    def lie(st: os.stat_result) -> os.stat_result:
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 2, *st[7:10]))

    monkeypatch.setattr(os, "stat", lambda *a, **k: lie(real_stat(*a, **k)))
    monkeypatch.setattr(os, "fstat", lambda fd: lie(real_fstat(fd)))
    with pytest.raises(InvalidInputError, match="too large"):
        read_export(grows)


def test_importing_a_pipe_or_a_device_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    result: list[BaseException | None] = []

    def attempt() -> None:
        try:
            read_export(fifo)
            result.append(None)
        except BaseException as exc:  # the thread reports whatever happened
            result.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(60)  # not a timing check: a blocked open never returns at all
    if worker.is_alive():  # unblock the stuck open so the test process can end
        with open(fifo, "wb"):
            pass
        worker.join(5)
        pytest.fail("importing a FIFO with no writer blocked")
    assert isinstance(result[0], InvalidInputError) and "not a regular file" in str(result[0])
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_export(Path("/dev/zero"))


# -- 9: export targets ---------------------------------------------------------------------------


def _data() -> dict:
    return {"format": "glassmind-export", "version": 1, "conversations": [], "notes": [{"text": SECRET}]}


def test_export_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_export(link, _data())
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert SECRET in real.read_text()
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "new-target.json")
    write_export(dangling, _data())
    assert dangling.is_symlink() and SECRET in (tmp_path / "new-target.json").read_text()


def test_export_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    out = tmp_path / "shared.json"
    out.write_text("old\n")
    out.chmod(0o640)
    write_export(out, _data())
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and SECRET in out.read_text()


def test_export_writes_into_a_pipe_and_never_replaces_it(tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    with pytest.raises(StoreError, match="Nothing is reading"):  # no reader: refused at once, no wait
        write_export(fifo, _data())
    got: list[bytes] = []
    ready = threading.Event()

    def reader() -> None:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        ready.set()
        chunks: list[bytes] = []
        deadline = time.monotonic() + 60
        # Until a writer has come, a read finds no data (EAGAIN) or end of file: wait for the first bytes;
        # after them, end of file means the writer closed the pipe.
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
            elif chunk == b"" and chunks:
                break
            else:
                time.sleep(0.01)
        os.close(fd)
        got.append(b"".join(chunks))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    ready.wait(30)
    write_export(fifo, _data())
    thread.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the pipe, not a regular file
    assert got and SECRET.encode() in got[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]  # no temporary file left


def test_export_writes_into_a_device_and_never_replaces_it(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root; the FIFO test covers the same path")
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
    write_export(null, _data())
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_export_to_a_folder_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        write_export(tmp_path, _data())


def test_the_export_command_leaves_a_symlink_in_place(assistant: Assistant, tmp_path: Path, monkeypatch) -> None:
    import assistant.cli as cli

    assistant.open_memory()
    assistant.memories.add(f"remember {SECRET}")
    target = tmp_path / "target.json"
    link = tmp_path / "export.json"
    link.symlink_to(target)
    monkeypatch.setattr(cli, "Assistant", lambda: assistant)
    monkeypatch.setattr(assistant, "close", lambda: None)
    assert cli.main(["export", "--output", str(link)]) == 0
    assert link.is_symlink() and SECRET in target.read_text()
    assert export_data(assistant)["notes"][0]["text"] == f"remember {SECRET}"


# -- 10: smaller ones ----------------------------------------------------------------------------


def test_backups_that_is_a_file_gets_the_right_advice(glassmind_home: Path, capsys) -> None:
    from assistant.cli import main

    store = open_store(paths.database_path(glassmind_home))
    store.create_conversation("x")
    store.close()
    (glassmind_home / "backups").write_text("not a folder")
    assert main(["backup", "now"]) == 1
    err = capsys.readouterr().err
    assert "should be a folder" in err and "move it away" in err and "Free some space" not in err


@pytest.mark.parametrize("typed", ["１", "+2", "1_0", " 2 ", "2 ", "٢", "-1", "0x1", "", "1e3"])
def test_ids_accept_ascii_digits_only(assistant: Assistant, monkeypatch, capsys, typed: str) -> None:
    import assistant.cli as cli

    assistant.open_memory()
    for n in range(12):
        assistant.memories.add(f"note {n}")
    monkeypatch.setattr(cli, "Assistant", lambda: assistant)
    monkeypatch.setattr(assistant, "close", lambda: None)
    assert cli.main(["memory", "forget", typed]) == 1
    err = capsys.readouterr().err
    assert "is not a memory id" in err and "Traceback" not in err and err.count("\n") == 1
    assert assistant.memories.count() == 12  # nothing was forgotten


def test_an_ascii_id_still_works(assistant: Assistant, monkeypatch, capsys) -> None:
    import assistant.cli as cli

    assistant.open_memory()
    note = assistant.memories.add("note to pin")
    monkeypatch.setattr(cli, "Assistant", lambda: assistant)
    monkeypatch.setattr(assistant, "close", lambda: None)
    assert cli.main(["memory", "pin", str(note.id)]) == 0
    assert assistant.memories.get(note.id).pinned


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b\n\u2060 ", "\u3164", "\u202e"])
def test_a_message_of_only_zero_width_characters_is_empty(assistant: Assistant, text: str) -> None:
    assert text_module.is_blank(text)
    events = list(assistant.turn(None, text))
    assert len(events) == 1 and isinstance(events[0], Failed) and "empty" in events[0].error
    assert assistant.store.query("SELECT count(*) AS n FROM messages")[0]["n"] == 0
    with pytest.raises(InvalidInputError, match="empty"):
        assistant.memories.add(text)


def test_visible_text_with_invisible_characters_is_not_empty() -> None:
    is_blank = text_module.is_blank
    assert not is_blank("a\u200b") and not is_blank("👨\u200d👩") and not is_blank("\u00a0x")


def test_edit_and_resend_with_an_empty_text_keeps_the_message(assistant: Assistant) -> None:
    conv = assistant.store.create_conversation("c")
    kept = add_message(assistant.store, conv.id, "user", "the question I asked")
    events = list(assistant.edit_and_resend(kept.id, "\u200b\u200b"))
    assert isinstance(events[-1], Failed) and "empty" in events[-1].error
    assert assistant.store.message(kept.id).content == "the question I asked"


def test_memory_list_does_not_print_bidi_or_control_characters_raw(assistant: Assistant, monkeypatch, capsys) -> None:
    import assistant.cli as cli

    assistant.open_memory()
    assistant.memories.add("pay \u202eevil\u202c to \u2066x\u2069 now\u200b \x1b[2Jcleared \U000e0041tag")
    assistant.memories.add("family 👨\u200d👩\u200d👧 stays joined")
    monkeypatch.setattr(cli, "Assistant", lambda: assistant)
    monkeypatch.setattr(assistant, "close", lambda: None)
    assert cli.main(["memory", "list"]) == 0
    out = capsys.readouterr().out
    for raw in ("\u202e", "\u202c", "\u2066", "\u2069", "\u200b", "\x1b", "\U000e0041"):
        assert raw not in out
    # A note keeps no invisible characters (they are stripped when it is stored); the escape sequence is
    # not invisible, so it is kept and shown escaped. Text that keeps them (a chat message) is escaped too.
    assert "pay evil to x now \\u001b[2Jcleared tag" in out
    assert text_module.shown("a \u202eb\u202c \U000e0041") == "a \\u202eb\\u202c \\U000e0041"
    assert "👨\u200d👩\u200d👧" in out  # the joiner inside an emoji is not hidden text
    assert text_module.shown("plain text é ✓") == "plain text é ✓"


def test_number_arguments_take_ascii_digits_and_a_minus_only_where_allowed() -> None:
    from assistant.cli import _number

    layers = _number("a number of layers", -1, 100)
    assert layers("-1") == -1 and layers("0") == 0 and layers("12") == 12
    for typed in ("-2", "--1", "-１", "+1", " 1", "1_0", "٣"):
        with pytest.raises(InvalidInputError, match="is not a number of layers"):
            layers(typed)
    with pytest.raises(InvalidInputError):
        _number("a memory id", 1, 10)("-1")
