"""A small HTTP server on 127.0.0.1 for download tests: serves files with Range support, and can
drop a connection mid-file, ignore Range, throttle, or lie about a file, as real servers do.

Tests that use it need ``@pytest.mark.allow_hosts(["127.0.0.1"])``: pytest-socket then lets them
create sockets but connect to 127.0.0.1 only. Its fixtures (``server``, ``bundled_sha``) come in with
``pytest_plugins = ("tests.file_server",)``; it asserts nothing, hence PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from models.catalog import CatalogEntry

# The bundled model, served under a name of its own (so it is not taken for the bundled file).
SERVED = "Tiny-Chat-135M.Q4_1.gguf"


@dataclass
class Behaviour:
    drop_after: int | None = None  # close the connection after sending this many body bytes...
    drops: int = 0  # ...for this many requests (then serve normally)
    ignore_range: bool = False  # answer 200 with the whole file even to a Range request
    bytes_per_s: float | None = None  # throttle (so a test can cancel mid-file)
    content_type: str = "application/octet-stream"
    redirect_to: str | None = None  # answer 302 with this Location instead
    requests: list[dict[str, str]] = field(default_factory=list)  # what the server was asked


class FileServer:
    """Serves ``files`` (URL name -> path) on http://127.0.0.1:<port>/<name>."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = dict(files)
        self.behaviour = Behaviour()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="test-file-server", daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        b = self.behaviour
        b.requests.append({"path": h.path, "range": h.headers.get("Range", "")})
        if b.redirect_to:
            h.send_response(302)
            h.send_header("Location", b.redirect_to)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        path = self.files.get(h.path.lstrip("/").split("?")[0])
        if path is None:
            h.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        start = 0
        match = re.match(r"bytes=(\d+)-$", h.headers.get("Range", ""))
        if match and not b.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Type", b.content_type)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        limit = len(body)
        if b.drops > 0 and b.drop_after is not None:
            b.drops -= 1
            limit = min(limit, b.drop_after)
        sent = 0
        step = 64 * 1024
        began = time.monotonic()
        try:
            while sent < limit:
                piece = body[sent : min(sent + step, limit)]
                h.wfile.write(piece)
                sent += len(piece)
                if b.bytes_per_s:
                    ahead = sent / b.bytes_per_s - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a cancelled download)
        if limit < len(body):
            h.close_connection = True  # the connection drops mid-file


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def bundled_sha(bundled_model_path: Path) -> str:
    return sha256_of(bundled_model_path)


@pytest.fixture
def server(bundled_model_path: Path, tmp_path: Path) -> Iterator[FileServer]:
    """The bundled GGUF as SERVED and as other.gguf, and a web page called page.gguf."""
    page = tmp_path / "page.gguf"
    page.write_text("<!doctype html><html><body>A model card, not a model.</body></html>")
    with FileServer({SERVED: bundled_model_path, "other.gguf": bundled_model_path, "page.gguf": page}) as s:
        yield s


def catalog_entry(server: FileServer, bundled_model_path: Path, sha: str, **changes: Any) -> CatalogEntry:
    """A catalogue entry for the served bundled model (SmolLM2-135M's shape)."""
    entry = CatalogEntry(
        name="tiny-chat", title="Tiny Chat 135M (test)", architecture="llama", parameters_b=0.135,
        quantization="Q4_1", size_bytes=bundled_model_path.stat().st_size, sha256=sha, url=server.url(SERVED),
        licence="Apache-2.0", licence_url="https://example.invalid/licence", context_length=8192,
        n_layers=30, n_kv_heads=3, head_dim=64, description="The bundled model, served locally.",
    )
    return replace(entry, **changes)
