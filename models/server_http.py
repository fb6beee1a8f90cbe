"""HTTP to a model server, on the standard library alone: JSON calls, server-sent event streams,
the address policy (TLS verified; plain http only for this machine and private networks) and every
failure turned into one sentence (``ServedModelError``).

One ``Endpoint`` per server. JSON calls share one kept-alive connection; each stream gets a
connection of its own, so closing it (Stop) tells the server to stop generating.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from models.errors import InvalidInputError, ServedModelError

DEFAULT_TIMEOUT_S = 60.0
# Names that only resolve inside a home or office network.
_LOCAL_SUFFIXES = (".local", ".lan", ".home", ".home.arpa", ".internal", ".localdomain")


def is_private_host(host: str) -> bool:
    """Whether ``host`` is this machine or a private-network address: where plain http is acceptable
    without asking (a literal loopback/private/link-local IP, ``localhost``, a one-label LAN name or a
    ``.local``-style name)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host or host.endswith(_LOCAL_SUFFIXES)
    return address.is_loopback or address.is_private or address.is_link_local


@dataclass(frozen=True)
class ServerAddress:
    """A parsed server URL."""

    scheme: str
    host: str
    port: int
    base_path: str  # "" or "/prefix" (no trailing slash)

    @property
    def location(self) -> str:
        """``host:port`` as the status bar shows it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.location}{self.base_path}"


def parse_address(url: str, *, allow_plain_http: bool = False) -> ServerAddress:
    """Check a server URL: http(s) with a host; plain http only for a private host unless
    ``allow_plain_http`` (the user asked for it knowing the window travels unencrypted)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"{url!r} is not a server address: give one like http://192.168.1.20:8080.")
    if parts.username or parts.password:
        raise InvalidInputError("Put the API key in the key field, not in the address.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInputError(f"{url!r} has a port that is not a number: give one like host:8080.") from exc
    if parts.scheme == "http" and not allow_plain_http and not is_private_host(parts.hostname):
        raise InvalidInputError(
            f"{parts.hostname} is not on this computer or a private network, and http would send your "
            "conversation unencrypted: use https, or confirm plain http explicitly."
        )
    base = parts.path.rstrip("/")
    for suffix in ("/v1", "/completion", "/props"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return ServerAddress(parts.scheme, parts.hostname, port, base)


class Endpoint:
    """One model server: JSON requests and event streams, errors as sentences.

    Thread-safe for JSON calls (a lock around the shared connection); streams are independent.
    """

    def __init__(self, address: ServerAddress, *, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.address = address
        self.timeout = timeout
        self._api_key = api_key
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"Endpoint({self.address.url})"

    # -- connections ------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        a = self.address
        if a.scheme == "https":
            return http.client.HTTPSConnection(a.host, a.port, timeout=self.timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(a.host, a.port, timeout=self.timeout)

    def _headers(self, body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- requests ---------------------------------------------------------

    def get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        with self._lock:
            for attempt in range(2):
                if self._conn is None:
                    self._conn = self._connect()
                try:
                    self._conn.request(method, self.address.base_path + path, body=data,
                                       headers=self._headers(data is not None))
                    response = self._conn.getresponse()
                    raw = response.read()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    # A kept-alive connection the server closed meanwhile: one fresh try.
                    self._conn.close()
                    self._conn = None
                    if attempt == 0:
                        continue
                    raise self.failure(exc) from exc
                except (OSError, http.client.HTTPException) as exc:
                    self._conn.close()
                    self._conn = None
                    raise self.failure(exc) from exc
                break
        self._check_status(response.status, raw, path)
        if not raw.strip():
            raise ServedModelError(
                f"The model server at {self.address.location} sent an empty answer to {path}: "
                "it may have run out of memory or context; check its log."
            )
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ServedModelError(
                f"The model server at {self.address.location} answered {path} with something that is not JSON: "
                "check that the address points at a model server."
            ) from exc

    def stream(self, path: str, body: dict[str, Any], *, cancel: threading.Event | None = None) -> EventStream:
        """POST ``body`` and read the answer's server-sent events on a connection of its own."""
        conn = self._connect()
        try:
            conn.request("POST", self.address.base_path + path, body=json.dumps(body).encode(),
                         headers={**self._headers(True), "Accept": "text/event-stream"})
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self.failure(exc) from exc
        if response.status != 200:
            raw = response.read()
            conn.close()
            self._check_status(response.status, raw, path)
        return EventStream(self, conn, response, cancel)

    # -- failures as sentences --------------------------------------------

    def failure(self, exc: BaseException) -> ServedModelError:
        where = self.address.location
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ServedModelError(
                f"The certificate of {where} could not be verified ({exc.verify_message}): check the address, "
                "or install the certificate authority of that server on this computer."
            )
        if isinstance(exc, ssl.SSLError):
            return ServedModelError(
                f"A secure connection to {where} failed ({exc.reason}): check that it serves https."
            )
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return ServedModelError(
                f"The model server at {where} did not answer within {self.timeout:.0f} s: it may be busy or down; "
                "try again."
            )
        if isinstance(exc, socket.gaierror):
            return ServedModelError(f"The server name {self.address.host} could not be found: check the address.")
        if isinstance(exc, ConnectionRefusedError):
            return ServedModelError(
                f"Could not reach the model server at {where} (connection refused): check that it is running."
            )
        if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead)):
            return ServedModelError(
                f"The model server at {where} closed the connection: it may have stopped; check it and try again."
            )
        return ServedModelError(f"Could not talk to the model server at {where} ({exc}): check the address.")

    def _check_status(self, status: int, raw: bytes, path: str) -> None:
        if status < 300:
            return
        where = self.address.location
        if status in (401, 403):
            raise ServedModelError(
                f"The model server at {where} refused the API key (HTTP {status}): check the key in Settings → Models.",
                status=status,
            )
        detail = _error_text(raw)
        if status == 404:
            raise ServedModelError(
                f"The model server at {where} has no {path} ({detail or 'not found'}): the model may have been "
                "removed, or this is another kind of server; check it in Settings → Models.",
                status=status,
            )
        raise ServedModelError(f"The model server at {where} answered HTTP {status}" +
                               (f" ({detail})" if detail else "") + ": check its log and try again.", status=status)


def _error_text(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace").strip()[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:200]
    return str(error or body.get("detail", "") if isinstance(body, dict) else "")[:200]


class EventStream:
    """The data events of one streamed answer, parsed as JSON; ``close()`` hangs up (Stop).

    While it is open, a watcher closes the socket as soon as ``cancel`` is set, so a read waiting
    on a server still reading a long prompt returns at once.
    """

    def __init__(self, endpoint: Endpoint, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse, cancel: threading.Event | None) -> None:
        self._endpoint = endpoint
        self._conn = conn
        self._response = response
        self._done = threading.Event()
        self.cancelled = False
        if cancel is not None:
            threading.Thread(target=self._watch, args=(cancel,), daemon=True, name="glassmind-stream-stop").start()

    def _watch(self, cancel: threading.Event) -> None:
        while not self._done.is_set():
            if cancel.wait(0.05):
                self.cancelled = True
                self._hang_up()
                return

    def _hang_up(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            while True:
                try:
                    line = self._response.readline()
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    if self.cancelled:
                        return
                    raise self._endpoint.failure(exc) from exc
                if not line:
                    if self.cancelled:
                        return
                    return
                text = line.decode("utf-8", errors="replace").strip()
                if not text.startswith("data:"):
                    continue
                data = text[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if isinstance(event, dict) and "error" in event:
                    error = event["error"]
                    message = error.get("message", error) if isinstance(error, dict) else error
                    raise ServedModelError(
                        f"The model server at {self._endpoint.address.location} stopped the reply ({message})."
                    )
                if isinstance(event, dict):
                    yield event
        finally:
            self.close()

    def close(self) -> None:
        self._done.set()
        self._hang_up()
        self._conn.close()
