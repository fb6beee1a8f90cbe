"""The `glassmind` command line, run as a user would (a subprocess, an empty data dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.store import Store


def run(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLASSMIND_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ui.launcher", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_chat_once_prints_a_reply_and_stores_both(glassmind_home: Path) -> None:
    res = run("chat", "--once", "Say hello", home=glassmind_home)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()
    assert res.stderr.strip() == ""  # llama.cpp's chatter stays out of the terminal
    store = Store(glassmind_home / "glassmind.db")
    conv = store.conversations()[0]
    msgs = store.messages(conv.id)
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].content == res.stdout.strip()
    # Continue the same conversation, and see it in the context window.
    res = run("chat", "--once", "Thanks!", "--conversation", str(conv.id), home=glassmind_home)
    assert res.returncode == 0, res.stderr
    ctx = run("context", "--conversation", str(conv.id), "--message", "next", "--json", home=glassmind_home)
    data = json.loads(ctx.stdout)
    assert {"n_ctx", "reserve", "prompt_tokens", "prompt", "items"} <= data.keys()
    assert sum(i["tokens"] for i in data["items"] if i["state"] == "included") == data["prompt_tokens"]
    assert [i["kind"] for i in data["items"]].count("history") == 4


def test_models_json(glassmind_home: Path) -> None:
    res = run("models", "--json", home=glassmind_home)
    assert res.returncode == 0, res.stderr
    entries = json.loads(res.stdout)
    keys = {"name", "path", "size_bytes", "architecture", "quantization", "context_length", "has_chat_template", "default", "backend"}
    assert keys <= entries[0].keys()
    assert [e["default"] for e in entries].count(True) == 1


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (("chat", "--once", ""), None, "empty"),
        (("chat", "--once", "-"), "word " * 40_000, "Shorten it"),
        (("chat", "--once", "-"), "x" * 200_001, "at most 200,000"),
        (("chat", "--once", "hi", "--model", "/nowhere/model.gguf"), None, "No model file"),
        (("chat", "--once", "hi", "--conversation", "42"), None, "no conversation 42"),
        (("memory", "forget", "7"), None, "No memory with id 7"),
        (("memory", "add", " "), None, "cannot be empty"),
    ],
)
def test_bad_input_gets_one_sentence_and_nonzero_exit(glassmind_home: Path, args, stdin, message: str) -> None:
    res = run(*args, home=glassmind_home, stdin=stdin)
    assert res.returncode != 0
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_corrupt_database_is_reported_and_kept(glassmind_home: Path) -> None:
    db = glassmind_home / "glassmind.db"
    db.write_bytes(b"garbage " * 100)
    res = run("chat", "--once", "hi", home=glassmind_home)
    assert res.returncode == 1 and "damaged" in res.stderr and "Traceback" not in res.stderr
    assert db.read_bytes() == b"garbage " * 100


def test_memory_commands(glassmind_home: Path) -> None:
    assert run("memory", "add", "My", "bike", "is", "green", home=glassmind_home).returncode == 0
    listed = json.loads(run("memory", "list", "--json", home=glassmind_home).stdout)
    mid = str(listed[0]["id"])
    assert run("memory", "pin", mid, home=glassmind_home).returncode == 0
    found = json.loads(run("memory", "search", "bicycle", "colour", "--json", home=glassmind_home).stdout)
    assert found[0]["memory_id"] == int(mid) and found[0]["pinned"]
    assert run("memory", "edit", mid, "My bike is red", home=glassmind_home).returncode == 0
    assert run("memory", "forget", mid, home=glassmind_home).returncode == 0
    assert json.loads(run("memory", "list", "--json", home=glassmind_home).stdout) == []


def test_export_and_import_round_trip(glassmind_home: Path, tmp_path: Path) -> None:
    assert run("chat", "--once", "Hello, remember that I like tea.", home=glassmind_home).returncode == 0
    assert run("memory", "add", "--pin", "Tea", "with", "milk", home=glassmind_home).returncode == 0
    out = tmp_path / "export.json"
    assert run("export", "--output", str(out), home=glassmind_home).returncode == 0
    data = json.loads(out.read_text())
    assert data["format"] == "glassmind-export" and len(data["conversations"]) == 1
    assert data["notes"][0]["pinned"] is True

    other = tmp_path / "other-home"
    other.mkdir()
    res = run("import", str(out), home=other)
    assert res.returncode == 0 and "1 conversations (2 messages) and 1 notes" in res.stdout
    found = json.loads(run("memory", "search", "tea", "--json", home=other).stdout)
    assert {h["kind"] for h in found} == {"message", "note"}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = run("import", str(bad), home=other)
    assert res.returncode == 1 and "not valid JSON" in res.stderr
