"""`glassmind models add-server / remove-server` in-process, against real servers on 127.0.0.1: what leaves
the computer is said first, the connection test reports what the server offers, and the key never lands
in the data dir (only in the keyring, an environment variable, or this run's memory)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

import assistant.cli as cli
from models import servers
from models.servers import ServerRegistry, find_key
from tests.served_fixtures import KEY

pytest_plugins = ("tests.served_fixtures",)  # served_url, openai_url
pytestmark = [pytest.mark.slow, pytest.mark.allow_hosts(["127.0.0.1"])]


class MemoryKeyring(KeyringBackend):
    """The OS keyring's stand-in: a test must never write to the keyring of the machine it runs on."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.saved.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.saved[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.saved.pop((service, username), None)


@pytest.fixture
def ring() -> Any:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    servers._asked.clear()
    yield memory
    keyring.set_keyring(previous)
    servers._asked.clear()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _no_key_on_disk(home: Path) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_an_openai_compatible_server_is_added_with_estimated_counts(
    capsys: pytest.CaptureFixture[str], openai_url: str, glassmind_home: Path, ring: MemoryKeyring
) -> None:
    code, out, err = run(capsys, "models", "add-server", openai_url, "--name", "smol", "--ctx", "1024", "--yes")
    assert code == 0, err
    assert "is sent to 127.0.0.1:" in err and "cannot reach that server's logs" in err
    assert "Added smol on 127.0.0.1:" in out and "estimated token counts (≈)" in out
    entry = ServerRegistry(glassmind_home).get("smol")
    assert entry is not None and entry.kind == "openai" and entry.model_id == "smollm2" and entry.n_ctx == 1024
    listed = run(capsys, "models")[1]
    assert "smol" in listed and "served on 127.0.0.1:" in listed and "estimated counts" in listed
    code, out, _ = run(capsys, "models", "remove-server", "smol")
    assert code == 0 and ServerRegistry(glassmind_home).get("smol") is None


def test_a_llama_server_key_from_an_environment_variable_is_never_written(
    capsys: pytest.CaptureFixture[str], served_url: str, glassmind_home: Path, ring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GM_TEST_KEY", KEY)
    code, out, err = run(capsys, "models", "add-server", served_url, "--name", "box", "--key-env", "GM_TEST_KEY",
                         "--yes")
    assert code == 0, err
    assert "exact token counts (llama-server)" in out and "context 2,048 tokens" in out
    entry = ServerRegistry(glassmind_home).get("box")
    assert entry is not None and entry.kind == "llama-server" and entry.key_env == "GM_TEST_KEY"
    assert find_key(entry) == KEY
    assert not ring.saved
    _no_key_on_disk(glassmind_home)


def test_a_typed_key_goes_to_the_keyring_only(
    capsys: pytest.CaptureFixture[str], served_url: str, glassmind_home: Path, ring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY)
    code, out, err = run(capsys, "models", "add-server", served_url, "--name", "box", "--yes")
    assert code == 0, err
    assert "kept in the system keyring" in out
    assert ring.saved == {("glassmind", "box"): KEY}
    _no_key_on_disk(glassmind_home)
    entry = ServerRegistry(glassmind_home).get("box")
    assert entry is not None
    servers._asked.clear()
    assert find_key(entry) == KEY  # read back from the keyring
    run(capsys, "models", "remove-server", "box")
    assert not ring.saved


def test_refusals_are_sentences(
    capsys: pytest.CaptureFixture[str], served_url: str, glassmind_home: Path, ring: MemoryKeyring
) -> None:
    code, _, err = run(capsys, "models", "add-server", served_url, "--yes")  # no key, no terminal to ask on
    assert code != 0 and "refused the API key (HTTP 401)" in err
    code, _, err = run(capsys, "models", "add-server", "http://example.com:8080", "--yes")
    assert code != 0 and "use https, or confirm plain http" in err
    code, _, err = run(capsys, "models", "add-server", served_url)  # not agreed, and no terminal to ask on
    assert code != 0 and "Nothing was added" in err
    assert ServerRegistry(glassmind_home).entries() == []
    assert json.loads(run(capsys, "models", "--json")[1])[-1]["source"] != "server"
