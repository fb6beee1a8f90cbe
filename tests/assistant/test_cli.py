"""The `glassmind` command line: in-process through ``assistant.cli.main`` (sharing the session's
model and embedder), plus one subprocess run as a user would start it."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import assistant.cli as cli
from assistant.app import Assistant
from assistant.opening import open_store
from assistant.settings import Settings


class Run:
    """Call ``cli.main`` as the shell would, and collect exit code, stdout and stderr."""

    def __init__(self, capsys, monkeypatch, chat_model, embedder) -> None:
        self.capsys, self.monkeypatch = capsys, monkeypatch
        self.chat_model, self.embedder = chat_model, embedder

    def factory(self, *, shared_model: bool):
        chat_model, embedder = self.chat_model, self.embedder

        class SharedAssistant(Assistant):
            def close(self) -> None:
                if self._model is chat_model:
                    self._model = None  # the session owns the model
                super().close()

        def make() -> Assistant:
            app = SharedAssistant(embedder=embedder, model=chat_model if shared_model else None)
            app.settings.temperature = 0.0
            app.settings.max_tokens = 32
            return app

        return make

    def __call__(self, *args: str, stdin: bytes | str | None = None, shared_model: bool = True):
        self.monkeypatch.setattr(cli, "Assistant", self.factory(shared_model=shared_model))
        if stdin is not None:
            data = stdin.encode() if isinstance(stdin, str) else stdin
            self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        self.capsys.readouterr()
        code = cli.main(list(args))
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err


@pytest.fixture
def run(capsys, monkeypatch, chat_model, embedder) -> Run:
    return Run(capsys, monkeypatch, chat_model, embedder)


def stored(home: Path) -> list[tuple[str, str]]:
    store = open_store(home / "glassmind.db")
    try:
        return [(m.role, m.content) for c in reversed(store.conversations()) for m in store.messages(c.id)]
    finally:
        store.close()


# -- the real thing, once ----------------------------------------------------------------------


def test_subprocess_chat_once_with_bytes_that_are_not_utf8(glassmind_home: Path) -> None:
    """The `glassmind` command as pyproject.toml declares it, in a Python of its own."""
    root = Path(__file__).resolve().parents[2]
    module, _, func = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]["glassmind"].partition(":")
    entry_point = f"import sys; from {module} import {func}; sys.exit({func}())"  # what the installed script runs
    env = {**os.environ, "GLASSMIND_HOME": str(glassmind_home), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [sys.executable, "-c", entry_point, "chat", "--once", b"Say hello, caf\xe9"],
        capture_output=True,
        env=env,
        timeout=300,
        cwd=root,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()
    assert res.stderr.strip() == b""  # llama.cpp's chatter stays out of the terminal
    msgs = stored(glassmind_home)
    assert [r for r, _ in msgs] == ["user", "assistant"]
    assert msgs[0][1] == "Say hello, caf\ufffd"
    assert msgs[1][1] == res.stdout.decode().strip()


# -- chat ---------------------------------------------------------------------------------


def test_chat_once_prints_a_reply_and_stores_both(run: Run, glassmind_home: Path) -> None:
    code, out, err = run("chat", "--once", "Say hello", "--print-id")
    assert code == 0, err
    assert out.strip()
    store = open_store(glassmind_home / "glassmind.db")
    conv = store.conversations()[0]
    msgs = store.messages(conv.id)
    store.close()
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].content == out.strip()
    assert f"conversation {conv.id}" in err
    # Continue the same conversation, and see it in the context window.
    code, _, err = run("chat", "--once", "Thanks!", "--conversation", str(conv.id))
    assert code == 0, err
    code, out, err = run("context", "--conversation", str(conv.id), "--message", "next", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"n_ctx", "reserve", "prompt_tokens", "prompt", "items"} <= data.keys()
    assert sum(i["tokens"] for i in data["items"] if i["state"] == "included") == data["prompt_tokens"]
    assert [i["kind"] for i in data["items"]].count("history") == 4


def test_chat_once_with_a_missing_model_keeps_the_message(run: Run, glassmind_home: Path) -> None:
    code, out, err = run("chat", "--once", "Keep this message", "--model", "/nonexistent.gguf", shared_model=False)
    assert code == 1
    assert "glassmind: No model file at /nonexistent.gguf" in err
    assert stored(glassmind_home) == [("user", "Keep this message")]


def test_chat_once_with_a_stored_context_too_big_keeps_the_message(run: Run, glassmind_home: Path) -> None:
    store = open_store(glassmind_home / "glassmind.db")
    store.set_setting("settings", {"n_ctx": 1_000_000})
    store.close()
    code, _, err = run("chat", "--once", "Still here?", shared_model=False)
    assert code == 1 and "more than it supports" in err
    assert stored(glassmind_home) == [("user", "Still here?")]


def test_interactive_chat_with_a_missing_model_is_one_sentence(run: Run) -> None:
    code, _, err = run("chat", "--model", "/nonexistent.gguf", stdin="hello\n", shared_model=False)
    assert code == 1 and err.strip() == "glassmind: No model file at /nonexistent.gguf: check the path, or pick another model."


def test_invalid_utf8_on_stdin_and_argv_is_stored_with_replacement(run: Run, glassmind_home: Path) -> None:
    code, _, err = run("chat", "--once", "-", stdin=b"caf\xe9 au lait \xff")
    assert code == 0, err
    code, _, err = run("chat", "--once", os.fsdecode(b"na\xefve"))
    assert code == 0, err
    users = [text for role, text in stored(glassmind_home) if role == "user"]
    assert users == ["caf\ufffd au lait \ufffd", "na\ufffdve"]
    code, out, err = run("memory", "add", os.fsdecode(b"bike \xe9 red"))
    assert code == 0, err
    code, out, _ = run("memory", "list", "--json", "--search", os.fsdecode(b"bike \xe9"))
    assert [m["text"] for m in json.loads(out)] == ["bike \ufffd red"]


def test_chat_commands_are_not_sent(run: Run, glassmind_home: Path) -> None:
    script = "/help\n/context\nHello there\n/new\n/context what now\n/bogus\n//slash message\n/quit\nnot sent\n"
    code, out, err = run("chat", stdin=script)
    assert code == 0, err
    assert "/new" in err and "/context" in err  # the help text
    assert "there is no command /bogus" in err
    assert out.count("Context window:") == 2
    convs = open_store(glassmind_home / "glassmind.db")
    titles = [c.title for c in convs.conversations()]
    convs.close()
    assert len(titles) == 2  # /new started a second conversation
    assert [t for r, t in stored(glassmind_home) if r == "user"] == ["Hello there", "/slash message"]


def test_stored_settings_of_the_wrong_type_fall_back_with_a_notice(run: Run, glassmind_home: Path) -> None:
    store = open_store(glassmind_home / "glassmind.db")
    store.set_setting("settings", {"n_ctx": "abc", "temperature": "hot", "max_tokens": 64})
    store.close()
    code, out, err = run("chat", "--once", "hi")
    assert code == 0 and out.strip()
    assert "glassmind: The stored setting n_ctx = 'abc' is not a whole number" in err
    assert "temperature = 'hot'" in err


def test_settings_from_json_keeps_good_values_and_names_bad_ones() -> None:
    s = Settings.from_json({"n_ctx": "abc", "temperature": True, "max_tokens": 64, "retrieval": 1, "unknown": 3})
    assert (s.n_ctx, s.temperature, s.max_tokens, s.retrieval) == (None, 0.7, 64, True)
    assert len(s.problems) == 3 and all(p.endswith(".") for p in s.problems)
    assert "problems" not in s.to_json()
    assert Settings.from_json([1, 2]).problems and Settings.from_json(None).problems == []
    assert Settings.from_json({"temperature": 1}).temperature == 1.0


# -- errors are one sentence ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (("chat", "--once", ""), None, "empty"),
        (("chat", "--once", "-"), "word " * 40_000, "Shorten it"),
        (("chat", "--once", "-"), "x" * 200_001, "at most 200,000"),
        (("chat", "--once", "hi", "--conversation", "42"), None, "no conversation 42"),
        (("chat", "--once", "hi", "--conversation", "99999999999999999999"), None, "is not a conversation id"),
        (("memory", "forget", "7"), None, "No memory with id 7"),
        (("memory", "forget", "99999999999999999999"), None, "'99999999999999999999' is not a memory id"),
        (("memory", "pin", "-3"), None, "'-3' is not a memory id"),
        (("memory", "edit", "abc", "text"), None, "'abc' is not a memory id"),
        (("memory", "list", "--limit", "99999999999999999999"), None, "is not a number of memories"),
        (("memory", "add", " "), None, "cannot be empty"),
        (("import", "/nonexistent/export.json"), None, "Could not read"),
    ],
)
def test_bad_input_gets_one_sentence_and_exit_1(run: Run, args, stdin, message: str) -> None:
    code, _, err = run(*args, stdin=stdin)
    assert code == 1
    assert message in err
    assert err.startswith("glassmind: ")


def test_home_that_is_a_file_or_under_a_file(run: Run, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GLASSMIND_HOME", str(blocker))
    code, _, err = run("memory", "list")
    assert code == 1 and err.startswith("glassmind: ") and "is a file, not a folder" in err and str(blocker) in err
    monkeypatch.setenv("GLASSMIND_HOME", str(blocker / "sub"))
    code, _, err = run("chat", "--once", "hi")
    assert code == 1 and f"because {blocker} is a file" in err
    assert blocker.read_text() == "not a folder"


def test_home_that_is_not_writable(run: Run, tmp_path: Path, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("GLASSMIND_HOME", str(locked))
    # As root every folder is writable: ask the check itself to say no.
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != locked)
    code, _, err = run("memory", "add", "kept?")
    assert code == 1 and err == f"glassmind: The data folder {locked} is not writable: give your user write permission on it or set GLASSMIND_HOME to another folder.\n"


def test_os_errors_become_one_sentence(run: Run, monkeypatch) -> None:
    def full(app, args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/glassmind.db")

    monkeypatch.setattr(cli, "cmd_memory", full)
    code, _, err = run("memory", "list")
    assert code == 1 and "The disk is full (/data/glassmind.db)" in err

    def denied(app, args):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/x")

    monkeypatch.setattr(cli, "cmd_memory", denied)
    code, _, err = run("memory", "list")
    assert code == 1 and "Permission denied (/data/x)" in err


def test_corrupt_database_is_reported_and_kept(run: Run, glassmind_home: Path) -> None:
    db = glassmind_home / "glassmind.db"
    db.write_bytes(b"garbage " * 100)
    code, _, err = run("chat", "--once", "hi")
    assert code == 1 and "damaged" in err
    assert db.read_bytes() == b"garbage " * 100


# -- memory, models, export / import -----------------------------------------------------------------


def test_models_json(run: Run) -> None:
    code, out, err = run("models", "--json")
    assert code == 0, err
    entries = json.loads(out)
    keys = {"name", "path", "size_bytes", "architecture", "quantization", "context_length", "has_chat_template", "default", "backend"}
    assert keys <= entries[0].keys()
    assert [e["default"] for e in entries].count(True) == 1


def test_memory_commands(run: Run) -> None:
    assert run("memory", "add", "My", "bike", "is", "green")[0] == 0
    listed = json.loads(run("memory", "list", "--json")[1])
    mid = str(listed[0]["id"])
    assert run("memory", "pin", mid)[0] == 0
    found = json.loads(run("memory", "search", "bicycle", "colour", "--json")[1])
    assert found[0]["memory_id"] == int(mid) and found[0]["pinned"]
    assert run("memory", "edit", mid, "My bike is red")[0] == 0
    assert run("memory", "forget", mid)[0] == 0
    assert json.loads(run("memory", "list", "--json")[1]) == []


def test_export_and_import_round_trip(run: Run, glassmind_home: Path, tmp_path: Path, monkeypatch) -> None:
    assert run("chat", "--once", "Hello, remember that I like tea.")[0] == 0
    assert run("memory", "add", "--pin", "Tea", "with", "milk")[0] == 0
    out = tmp_path / "export.json"
    assert run("export", "--output", str(out))[0] == 0
    data = json.loads(out.read_text())
    assert data["format"] == "glassmind-export" and len(data["conversations"]) == 1
    assert data["notes"][0]["pinned"] is True
    # Into the data it came from: nothing new.
    code, stdout, _ = run("import", str(out))
    assert code == 0 and "Imported 0 conversations (0 messages) and 0 notes" in stdout
    assert "Skipped 1 conversations and 1 notes already present" in stdout

    other = tmp_path / "other-home"
    other.mkdir()
    monkeypatch.setenv("GLASSMIND_HOME", str(other))
    code, stdout, _ = run("import", str(out))
    assert code == 0 and "1 conversations (2 messages) and 1 notes" in stdout
    code, stdout, _ = run("import", str(out))
    assert code == 0 and "Imported 0 conversations" in stdout
    found = json.loads(run("memory", "search", "tea", "--json")[1])
    assert {h["kind"] for h in found} == {"message", "note"}
    assert len(stored(other)) == 2

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run("import", str(bad))
    assert code == 1 and "not valid JSON" in err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    code, _, err = run("import", str(deep))
    assert code == 1 and "nested too deeply" in err
    code, _, err = run("export", "--output", str(tmp_path / "no-such-folder" / "x.json"))
    assert code == 1 and "Could not write" in err
