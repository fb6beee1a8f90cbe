"""Model servers the user added: what is kept (name, URL, kind, model id; never the key), where the key
is found (the OS keyring, else an environment variable the user named, else asked once per run), the
connection test, and opening a server as a ``ChatRuntime``.

Kept in ``<data dir>/servers.json``; the key goes to the keyring (service ``glassmind``, the server's
name as user) or nowhere on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.errors import InvalidInputError, NotFoundError, ServedModelError
from models.runtime import ChatRuntime
from models.server_http import Endpoint, parse_address

KEYRING_SERVICE = "glassmind"
LLAMA_SERVER = "llama-server"  # exact counts: /props, /tokenize, /completion with token ids
OPENAI = "openai"  # estimated counts: /v1/models, /v1/chat/completions

WHAT_LEAVES = (
    "With a served model, everything in the context window -- the system prompt, your pinned notes, the memories "
    "retrieved for each turn and the conversation -- is sent to {where} on every turn. Forgetting a memory here "
    "cannot reach that server's logs or caches."
)


@dataclass(frozen=True)
class ServerEntry:
    """A model server as the registry keeps it (no key)."""

    name: str
    url: str
    kind: str  # LLAMA_SERVER or OPENAI
    model_id: str | None = None  # the /v1/models id (OPENAI)
    key_env: str | None = None  # the environment variable holding the key, if the user named one
    plain_http: bool = False  # the user confirmed plain http to a public address
    n_ctx: int | None = None  # the server's context size, when the user gave it (OPENAI)

    @property
    def location(self) -> str:
        return parse_address(self.url, allow_plain_http=True).location

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServerOffer:
    """What a connection test found: the kind of server, its models, counts and context."""

    kind: str
    models: tuple[str, ...]
    n_ctx: int | None
    exact_counts: bool
    template: bool

    def describe(self) -> str:
        counts = "exact token counts (llama-server)" if self.exact_counts else "estimated token counts (≈)"
        ctx = f"context {self.n_ctx:,} tokens" if self.n_ctx else "context size not stated"
        template = ", its own chat template" if self.template else ""
        return f"{', '.join(self.models[:5]) or 'no model listed'}: {counts}, {ctx}{template}"


class ServerRegistry:
    """The servers the user added, in ``<data dir>/servers.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.file = Path(data_dir) / "servers.json"

    def entries(self) -> list[ServerEntry]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return []
        rows = data.get("servers", []) if isinstance(data, dict) else []
        known = set(ServerEntry.__dataclass_fields__)
        return [ServerEntry(**{k: v for k, v in row.items() if k in known}) for row in rows if isinstance(row, dict)]

    def get(self, name: str | None) -> ServerEntry | None:
        return next((e for e in self.entries() if e.name == name), None) if name else None

    def add(self, entry: ServerEntry) -> ServerEntry:
        if not entry.name.strip():
            raise InvalidInputError("A server needs a name: give one with --name.")
        entries = [e for e in self.entries() if e.name != entry.name] + [entry]
        self._save(entries)
        return entry

    def remove(self, name: str) -> None:
        entries = self.entries()
        if not any(e.name == name for e in entries):
            raise NotFoundError(f"There is no server named {name}: `glassmind models` lists them.")
        self._save([e for e in entries if e.name != name])
        forget_key(name)

    def _save(self, entries: list[ServerEntry]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"servers": [e.to_json() for e in entries]}, indent=2))
        tmp.replace(self.file)


# -- keys ----------------------------------------------------------------------

_asked: dict[str, str] = {}  # keys typed this run, by server name: asked once, kept in memory only


def _keyring() -> Any | None:
    """The keyring module when a real backend exists (not the "fail" one of a headless box)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    return None if isinstance(backend, fail.Keyring) else keyring


def store_key(name: str, key: str) -> bool:
    """Put ``key`` in the OS keyring for server ``name``; False when there is no keyring (then it is
    kept for this run only)."""
    _asked[name] = key
    ring = _keyring()
    if ring is None:
        return False
    try:
        ring.set_password(KEYRING_SERVICE, name, key)
    except Exception:
        return False
    return True


def forget_key(name: str) -> None:
    _asked.pop(name, None)
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):  # none stored: nothing to forget
            ring.delete_password(KEYRING_SERVICE, name)


def find_key(entry: ServerEntry, ask: Callable[[str], str | None] | None = None) -> str | None:
    """The key for ``entry``: the keyring, else the environment variable it names, else asked (once per run)."""
    ring = _keyring()
    if ring is not None:
        try:
            stored = ring.get_password(KEYRING_SERVICE, entry.name)
        except Exception:
            stored = None
        if stored:
            return str(stored)
    if entry.key_env and os.environ.get(entry.key_env):
        return os.environ[entry.key_env]
    if entry.name in _asked:
        return _asked[entry.name]
    if ask is not None:
        typed = ask(entry.name)
        if typed:
            _asked[entry.name] = typed
            return typed
    return None


# -- connecting ----------------------------------------------------------------


def probe(
    url: str, *, api_key: str | None = None, allow_plain_http: bool = False, timeout: float = 15.0
) -> ServerOffer:
    """The connection test: what the server at ``url`` offers (llama-server's /props, else /v1/models)."""
    endpoint = Endpoint(parse_address(url, allow_plain_http=allow_plain_http), api_key=api_key, timeout=timeout)
    try:
        props: Any = None
        try:
            props = endpoint.get("/props")
        except ServedModelError as exc:
            if exc.status is None or exc.status in (401, 403):
                raise
        if isinstance(props, dict) and "default_generation_settings" in props:
            endpoint.post("/tokenize", {"content": "a"})  # the key is checked here (/props is public)
            name = str(props.get("model_alias") or str(props.get("model_path") or "").rsplit("/", 1)[-1])
            n_ctx = props["default_generation_settings"].get("n_ctx")
            return ServerOffer(LLAMA_SERVER, (name,) if name else (), int(n_ctx) if n_ctx else None, True,
                               bool(props.get("chat_template")))
        answer = endpoint.get("/v1/models")
        data = answer.get("data") if isinstance(answer, dict) else answer
        rows = [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []
        from models.openai_compat import listed_context

        sizes = [listed_context(m) for m in rows]
        return ServerOffer(OPENAI, tuple(str(m.get("id")) for m in rows), next((s for s in sizes if s), None),
                           False, False)
    finally:
        endpoint.close()


def open_server(
    entry: ServerEntry, *, api_key: str | None, tokenizer: Callable[[], ChatRuntime], timeout: float | None = None,
) -> ChatRuntime:
    """``entry`` as a runtime. ``tokenizer`` gives the local model that estimates counts (OpenAI kind only)."""
    from models.server_http import DEFAULT_TIMEOUT_S

    wait = timeout or DEFAULT_TIMEOUT_S
    if entry.kind == LLAMA_SERVER:
        from models.served import LlamaServerModel

        return LlamaServerModel(entry.url, api_key=api_key, name=entry.name, timeout=wait,
                                allow_plain_http=entry.plain_http)
    from models.openai_compat import OpenAICompatModel

    return OpenAICompatModel(entry.url, tokenizer=tokenizer(), model=entry.model_id, api_key=api_key,
                             n_ctx=entry.n_ctx, name=entry.name, timeout=wait, allow_plain_http=entry.plain_http)
