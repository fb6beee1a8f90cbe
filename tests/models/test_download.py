"""Downloads against a local HTTP server on 127.0.0.1 serving the bundled GGUF: resume, dropped
connections, checksums, disk space, URLs that are not GGUFs, cancel, and registration."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from models import download as dl
from models.catalog import CatalogEntry
from models.download import (
    ChecksumMismatch,
    DownloadCancelled,
    Downloader,
    DownloadError,
    DownloadProgress,
    NotAGGUF,
    NotEnoughSpace,
    download_model,
)
from models.registry import ModelRegistry
from tests.file_server import SERVED, FileServer, catalog_entry, sha256_of

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

NAME = SERVED

pytest_plugins = ("tests.file_server",)  # its fixtures: server, bundled_sha


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect at once after a drop (the real pause is half a second and more)."""
    monkeypatch.setattr(dl, "_backoff", lambda attempt: 0.0)


def _entry(server: FileServer, bundled_model_path: Path, sha: str) -> CatalogEntry:
    return catalog_entry(server, bundled_model_path, sha, name="tiny")


def _ranges(server: FileServer) -> list[str]:
    return [r["range"] for r in server.behaviour.requests]


def test_download_verifies_moves_and_registers(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "home")
    seen: list[DownloadProgress] = []
    entry, result = download_model(
        reg, "tiny", catalog=[_entry(server, bundled_model_path, bundled_sha)], progress=seen.append
    )
    target = reg.models_dir / NAME
    assert result.path == target and result.checksum_verified and result.sha256 == bundled_sha
    assert target.stat().st_size == bundled_model_path.stat().st_size
    assert not list(reg.models_dir.glob("*.part*"))  # the part and its note are gone
    # In the registry, with where it came from, and selectable by name.
    assert entry.source == "models_dir" and entry.url == server.url(NAME) and entry.sha256 == bundled_sha
    assert reg.resolve(entry.name).path == entry.path and not entry.error
    # Progress: bytes, total, speed and ETA, ending at the full size.
    downloading = [p for p in seen if p.stage == "downloading"]
    assert downloading and all(p.total == target.stat().st_size for p in downloading)
    assert [p.done for p in downloading] == sorted(p.done for p in downloading)
    assert any(p.bytes_per_s > 0 and p.eta_s is not None for p in downloading)
    assert "MiB" in downloading[-1].describe()
    # Asking again finds it installed (checked, not downloaded twice).
    requests = len(server.behaviour.requests)
    _, again = download_model(reg, "tiny", catalog=[_entry(server, bundled_model_path, bundled_sha)])
    assert again.already_present and len(server.behaviour.requests) == requests


def test_dropped_connection_reconnects_with_range(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path) -> None:
    server.behaviour.drop_after = 10 * 2**20
    server.behaviour.drops = 1
    reg = ModelRegistry(tmp_path)
    _, result = download_model(reg, "tiny", catalog=[_entry(server, bundled_model_path, bundled_sha)])
    assert result.checksum_verified and sha256_of(result.path) == bundled_sha
    assert _ranges(server) == ["", f"bytes={10 * 2**20}-"]


def test_interrupted_download_resumes_next_time(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path) -> None:
    server.behaviour.drop_after = 12 * 2**20
    server.behaviour.drops = 100  # every connection drops: the download gives up, keeping the part
    reg = ModelRegistry(tmp_path)
    entry = _entry(server, bundled_model_path, bundled_sha)
    with pytest.raises(DownloadError, match="connection dropped .* kept, so downloading again resumes"):
        download_model(reg, "tiny", catalog=[entry])
    part = reg.models_dir / (NAME + ".part")
    kept = part.stat().st_size
    assert kept >= 12 * 2**20 and not (reg.models_dir / NAME).exists()

    server.behaviour.drops = 0
    server.behaviour.requests.clear()
    _, result = download_model(reg, "tiny", catalog=[entry])
    # Only the rest was asked for, and the part already on disk was re-hashed into the checksum.
    assert _ranges(server) == [f"bytes={kept}-"]
    assert result.resumed_from == kept and result.checksum_verified
    assert sha256_of(result.path) == bundled_sha


def test_server_that_ignores_range_restarts_from_zero(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    entry = _entry(server, bundled_model_path, bundled_sha)
    server.behaviour.drop_after, server.behaviour.drops = 5 * 2**20, 100
    with pytest.raises(DownloadError):
        download_model(reg, "tiny", catalog=[entry])
    server.behaviour.drops, server.behaviour.ignore_range = 0, True
    _, result = download_model(reg, "tiny", catalog=[entry])
    assert sha256_of(result.path) == bundled_sha and result.checksum_verified


def test_wrong_checksum_deletes_the_file(server: FileServer, bundled_model_path: Path, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch, match="does not match its checksum .* deleted"):
        download_model(reg, "tiny", catalog=[_entry(server, bundled_model_path, wrong)])
    assert list(reg.models_dir.iterdir()) == []
    assert NAME not in [Path(e.path).name for e in reg.entries()]
    # A URL with a --sha256 that does not match fails the same way.
    with pytest.raises(ChecksumMismatch):
        download_model(reg, server.url(NAME), sha256="ab" * 32, catalog=[])
    assert list(reg.models_dir.iterdir()) == []


def test_too_little_disk_space(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dl, "free_disk_bytes", lambda path: 10 * 2**20)
    reg = ModelRegistry(tmp_path)
    # Catalogue size known: refused before connecting.
    with pytest.raises(NotEnoughSpace, match=r"needs \d+ MiB more and only 10 MiB is free"):
        download_model(reg, "tiny", catalog=[_entry(server, bundled_model_path, bundled_sha)])
    assert server.behaviour.requests == []
    # A URL: refused as soon as the server says how big the file is, before writing any of it.
    with pytest.raises(NotEnoughSpace):
        download_model(reg, server.url(NAME), catalog=[])
    assert len(server.behaviour.requests) == 1
    assert not (reg.models_dir / NAME).exists()
    part = reg.models_dir / (NAME + ".part")
    assert not part.exists() or part.stat().st_size == 0


def test_urls_that_are_not_gguf_files(server: FileServer, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    with pytest.raises(NotAGGUF, match="does not point to a .gguf file"):
        download_model(reg, server.url("model.bin"), catalog=[])
    with pytest.raises(DownloadError, match="https only"):
        download_model(reg, "http://example.invalid/model.gguf", catalog=[])
    assert server.behaviour.requests == []
    server.behaviour.content_type = "text/html; charset=utf-8"
    with pytest.raises(NotAGGUF, match="not a GGUF model file .*web page"):
        download_model(reg, server.url("page.gguf"), catalog=[])
    with pytest.raises(DownloadError, match="404"):
        download_model(reg, server.url("missing.gguf"), catalog=[])
    assert list(reg.models_dir.iterdir()) == []


def test_redirect_to_plain_http_elsewhere_is_refused(server: FileServer, tmp_path: Path) -> None:
    server.behaviour.redirect_to = "http://example.invalid/model.gguf"
    with pytest.raises(DownloadError, match="not https: it was refused"):
        download_model(ModelRegistry(tmp_path), server.url(NAME), catalog=[])
    assert len(server.behaviour.requests) == 1


def test_url_without_checksum_is_checked_as_gguf(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    entry, result = download_model(reg, server.url(NAME), catalog=[])
    assert not result.checksum_verified and result.sha256 == bundled_sha
    assert entry.has_chat_template and entry.architecture == "llama"


def test_cancel_keeps_the_part_and_a_new_download_resumes(
    server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path
) -> None:
    server.behaviour.bytes_per_s = 40 * 2**20
    reg = ModelRegistry(tmp_path)
    entry = _entry(server, bundled_model_path, bundled_sha)
    cancel = threading.Event()

    def progress(p: DownloadProgress) -> None:
        if p.done > 4 * 2**20:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="kept, so downloading it again resumes"):
        download_model(reg, "tiny", catalog=[entry], cancel=cancel, progress=progress)
    kept = (reg.models_dir / (NAME + ".part")).stat().st_size
    assert 4 * 2**20 < kept < bundled_model_path.stat().st_size

    server.behaviour.bytes_per_s = None
    _, result = download_model(reg, "tiny", catalog=[entry])
    assert result.resumed_from == kept and sha256_of(result.path) == bundled_sha


def test_two_downloads_of_one_file_are_refused(server: FileServer, bundled_model_path: Path, bundled_sha: str, tmp_path: Path) -> None:
    server.behaviour.bytes_per_s = 20 * 2**20
    reg = ModelRegistry(tmp_path)
    entry = _entry(server, bundled_model_path, bundled_sha)
    started, cancel = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            download_model(reg, "tiny", catalog=[entry], cancel=cancel, progress=lambda p: started.set())
        except DownloadError as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(30)
    try:
        with pytest.raises(DownloadError, match="already being downloaded"):
            download_model(reg, "tiny", catalog=[entry])
    finally:
        cancel.set()
        thread.join(30)
    assert isinstance(errors[0], DownloadCancelled)


def test_bad_checksum_text_and_file_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="64 hexadecimal digits"):
        Downloader("https://example.invalid/a.gguf", tmp_path, sha256="abc")
    with pytest.raises(NotAGGUF):
        Downloader("https://example.invalid/a.gguf", tmp_path, file_name="../a.gguf")
    # Hugging Face "blob" page links become file links.
    d = Downloader("https://huggingface.co/org/repo/blob/main/m.gguf", tmp_path)
    assert d.url == "https://huggingface.co/org/repo/resolve/main/m.gguf"
