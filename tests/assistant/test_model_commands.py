"""`glassmind models catalog | download | set` in-process, against a local server on 127.0.0.1."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

import assistant.cli as cli
from assistant.opening import open_store
from assistant.settings import Settings
from tests.file_server import SERVED, FileServer, catalog_entry, sha256_of

NAME = SERVED

pytest_plugins = ("tests.file_server",)  # its fixtures: server, bundled_sha


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def served(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path, monkeypatch) -> FileServer:
    """The local server, with a catalogue (GLASSMIND_CATALOG) whose one entry it serves."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"models": [asdict(catalog_entry(server, bundled_model_path, bundled_sha))]}))
    monkeypatch.setenv("GLASSMIND_CATALOG", str(catalog))
    return server


def test_catalog_lists_verdicts_without_the_network(capsys) -> None:
    code, out, err = run(capsys, "models", "catalog", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["machine"]["available_bytes"] is None or data["machine"]["available_bytes"] > 0
    names = [m["name"] for m in data["models"]]
    assert "qwen2.5-0.5b-instruct" in names and "llama-3.1-8b-instruct" in names
    for m in data["models"]:
        assert m["fit"]["verdict"] in ("fits", "tight", "too big", "unknown") and m["state"] == "absent"
        assert len(m["sha256"]) == 64 and m["size_bytes"] > 0 and m["licence"]
    long = json.loads(run(capsys, "models", "catalog", "--json", "--ctx", "32768")[1])
    assert all(m["fit"]["n_ctx"] == min(32768, m["context_length"]) for m in long["models"])
    code, out, _ = run(capsys, "models", "catalog")
    assert code == 0 and "qwen2.5-7b-instruct" in out and "Download one with" in out


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_download_by_name_verifies_and_registers(capsys, served, glassmind_home: Path, bundled_model_path: Path) -> None:
    code, out, err = run(capsys, "models", "download", "tiny-chat")
    assert code == 0, err
    assert "sha256 verified" in out and "glassmind chat --model Tiny-Chat-135M.Q4_1" in out
    listed = json.loads(run(capsys, "models", "--json")[1])
    mine = next(m for m in listed if m["path"].endswith(NAME))
    assert mine["sha256"] == sha256_of(bundled_model_path) and mine["url"] == served.url(NAME)
    state = json.loads(run(capsys, "models", "catalog", "--json")[1])["models"][0]["state"]
    assert state == "installed"


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_download_exits_0_only_when_verified(capsys, served, glassmind_home: Path) -> None:
    code, _, err = run(capsys, "models", "download", served.url(NAME), "--sha256", "12" * 32)
    assert code == 1 and "does not match its checksum" in err
    code, _, err = run(capsys, "models", "download", served.url("page.gguf"))
    assert code == 1 and "not a GGUF model file" in err
    code, _, err = run(capsys, "models", "download", served.url(NAME), "--sha256", "xyz")
    assert code == 1 and "64 hexadecimal digits" in err
    code, _, err = run(capsys, "models", "download", "no-such-model")
    assert code == 1 and "no model called 'no-such-model'" in err
    assert not (glassmind_home / "models" / NAME).exists()
    code, out, err = run(capsys, "models", "download", served.url(NAME))  # the catalogue's file: its checksum
    assert code == 0 and "sha256 verified" in out
    code, out, err = run(capsys, "models", "download", served.url("other.gguf"))  # no checksum known
    assert code == 0 and "GGUF structure checked; no checksum was given, its sha256 is" in out


def test_set_per_model_settings(capsys, glassmind_home: Path, tmp_path: Path) -> None:
    from tests.tiny_gguf import write_tiny_gguf

    bare = write_tiny_gguf(tmp_path / "bare.gguf", chat_template=None)
    code, _, err = run(capsys, "models", "--add", str(bare))
    assert code == 0 and "models set bare --template chatml" in err
    assert run(capsys, "models", "set", "bare", "--ctx", "1024", "--temperature", "0.2", "--template", "chatml")[0] == 0
    assert run(capsys, "models", "set", "SmolLM2-135M-Instruct.Q4_1", "--ctx", "2048", "--gpu-layers", "0")[0] == 0
    code, _, err = run(capsys, "models", "set", "bare", "--ctx", "999999")
    assert code == 1 and "trained for 4,096" in err

    store = open_store(glassmind_home / "glassmind.db")
    try:
        settings = Settings.from_json(store.get_setting("settings"))
    finally:
        store.close()
    assert settings.per_model["bare"] == {"n_ctx": 1024, "gpu_layers": None, "temperature": 0.2, "chat_template": "chatml"}
    # The bundled model is the one in use: its values are the current settings as well.
    assert (settings.model, settings.n_ctx, settings.gpu_layers) == (None, 2048, 0)
    chosen = settings.for_model(str(bare))
    assert (chosen.n_ctx, chosen.temperature, chosen.chat_template) == (1024, 0.2, "chatml")
    listed = json.loads(run(capsys, "models", "--json")[1])
    assert next(m for m in listed if m["name"] == "bare")["settings"]["n_ctx"] == 1024
