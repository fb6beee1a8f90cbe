"""Download a GGUF model file: the one place Glassmind opens a network connection, and only when asked.

The file grows in ``<models dir>/<name>.gguf.part`` (with a ``.part.json`` note of where it comes
from), so an interrupted download resumes with an HTTP Range request; the sha256 is computed as
the bytes arrive (after re-reading the part already on disk). Free space is checked before the
first byte is written, the first bytes must be the GGUF magic, and only a complete, verified file
is moved (atomically) into the models folder, where the registry lists it.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse, urlunparse

from models.catalog import CatalogEntry, find, gib, load_catalog
from models.errors import GlassmindError, ModelFileError
from models.gguf import read_gguf
from models.registry import ModelEntry, ModelRegistry
from models.system import free_disk_bytes

try:  # advisory lock on the part file, so two windows cannot write one download (not on Windows)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CHUNK = 1 << 20
TIMEOUT_S = 30
RETRIES = 3  # reconnections (with Range) after a dropped connection, before giving up
SPACE_MARGIN = 64 * 2**20  # beyond the file itself, so the disk is not filled to the last byte
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MAGIC = b"GGUF"
USER_AGENT = "Glassmind (model download)"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class DownloadError(GlassmindError):
    """A download failed; the text says what happened and what to do."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the part downloaded so far is kept for a later resume."""


class ChecksumMismatch(DownloadError):
    """The complete file is not the one expected; it was deleted."""


class NotEnoughSpace(DownloadError):
    """The models folder's disk cannot hold the file."""


class NotAGGUF(DownloadError):
    """The URL does not lead to a GGUF model file."""


@dataclass(frozen=True)
class DownloadProgress:
    stage: str  # "checking" (re-reading a part on disk), "downloading", "verifying"
    done: int
    total: int | None
    bytes_per_s: float
    eta_s: float | None

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None

    def describe(self) -> str:
        of = f" of {gib(self.total)}" if self.total else ""
        if self.stage == "checking":
            return f"Checking the part already downloaded: {gib(self.done)}{of}"
        if self.stage == "verifying":
            return f"Verifying {gib(self.done)}…"
        speed = f"{self.bytes_per_s / 2**20:.1f} MiB/s" if self.bytes_per_s else "starting"
        eta = f", {_clock(self.eta_s)} left" if self.eta_s is not None else ""
        return f"{gib(self.done)}{of} · {speed}{eta}"


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size_bytes: int
    checksum_verified: bool  # False: no checksum was known; the GGUF structure was checked instead
    resumed_from: int  # bytes that were already on disk when this download started
    already_present: bool = False


def normalise_url(url: str) -> str:
    """Check a model URL: https (plain http only to this machine) and a .gguf path.

    A Hugging Face "blob" page link is turned into its "resolve" (file) link.
    """
    url = url.strip()
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme == "http" and host in LOCAL_HOSTS:
        pass
    elif parsed.scheme != "https" or not host:
        raise DownloadError(f"{url} is not an https address: Glassmind downloads models over https only.")
    if not unquote(parsed.path).lower().endswith(".gguf"):
        raise NotAGGUF(
            f"{url} does not point to a .gguf file: give the address of the .gguf file itself "
            "(on Hugging Face, the file's download link)."
        )
    if host in ("huggingface.co", "hf.co") and "/blob/" in parsed.path:
        parsed = parsed._replace(path=parsed.path.replace("/blob/", "/resolve/", 1))
    return urlunparse(parsed)


def file_name_for(url: str) -> str:
    name = unquote(urlparse(url).path).rsplit("/", 1)[-1]
    if not name or name in (".gguf", "..gguf") or "\\" in name or name.startswith("."):
        raise NotAGGUF(f"{url} does not name a .gguf file: give the address of the file itself.")
    return name


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (Hugging Face sends downloads to its CDN) but never to plain http elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        target, origin = urlparse(newurl), urlparse(req.full_url)
        local = target.hostname in LOCAL_HOSTS and origin.hostname in LOCAL_HOSTS
        if target.scheme != "https" and not (target.scheme == "http" and local):
            raise DownloadError(f"The server redirected the download to {newurl}, which is not https: it was refused.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_HttpsOnlyRedirects())


class _Rate:
    """Bytes per second over the last few seconds."""

    def __init__(self, window_s: float = 4.0) -> None:
        self._window = window_s
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, done: int) -> float:
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0


@dataclass
class _Response:
    stream: Any
    offset: int  # where the body starts in the file
    total: int | None
    content_type: str


class Downloader:
    """One resumable, verified download of ``url`` into ``models_dir``."""

    def __init__(
        self,
        url: str,
        models_dir: str | Path,
        *,
        sha256: str | None = None,
        size_bytes: int | None = None,
        file_name: str | None = None,
        cancel: threading.Event | None = None,
        progress: ProgressCallback | None = None,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self.url = normalise_url(url)
        if sha256 is not None and not _HEX64.match(sha256.strip()):
            raise DownloadError(f"'{sha256}' is not a sha256 checksum (64 hexadecimal digits): check it and try again.")
        self.sha256 = sha256.strip().lower() if sha256 else None
        self.size_bytes = size_bytes
        self.models_dir = Path(models_dir)
        name = file_name or file_name_for(self.url)
        if not name.lower().endswith(".gguf") or "/" in name or "\\" in name:
            raise NotAGGUF(f"'{name}' is not a .gguf file name: choose a name that ends in .gguf.")
        self.target = self.models_dir / name
        self.part = self.target.with_name(name + ".part")
        self.note = self.target.with_name(name + ".part.json")
        self.cancel = cancel or threading.Event()
        self._progress = progress
        self._opener = opener or _opener()
        self._rate = _Rate()
        self._last_report = 0.0
        self._hash = hashlib.sha256()

    # -- the whole download ---------------------------------------------------------

    def run(self) -> DownloadResult:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if self.target.exists():
            return self._already_present()
        on_disk = self.part.stat().st_size if self.part.exists() else 0
        self._check_space(self.size_bytes, on_disk)  # before connecting, when the size is known
        try:
            with self._locked():
                offset = self._resume_point()
                resumed_from = offset
                self._write_note()
                with self.part.open("r+b") as f:
                    f.seek(offset)
                    f.truncate()
                    done, total = self._fetch(f, offset)
                    f.flush()
                    os.fsync(f.fileno())
                self._report("verifying", done, total, force=True)
                digest = self._hash.hexdigest()
                self._verify(digest, done, total)
                os.replace(self.part, self.target)
        except BaseException:
            if self.part.exists() and self.part.stat().st_size == 0:
                self._discard()  # nothing to resume from: leave no trace
            raise
        self.note.unlink(missing_ok=True)
        _fsync_dir(self.models_dir)
        return DownloadResult(self.target, digest, done, self.sha256 is not None, resumed_from)

    def _already_present(self) -> DownloadResult:
        size = self.target.stat().st_size
        if self.sha256 is None:
            read_gguf(self.target)
            return DownloadResult(self.target, "", size, False, 0, already_present=True)
        digest = _hash_file(self.target, self.cancel, lambda done: self._report("checking", done, size))
        if digest != self.sha256:
            raise DownloadError(
                f"A different file called {self.target.name} is already in {self.models_dir}: "
                "rename or remove it, then download again."
            )
        return DownloadResult(self.target, digest, size, True, 0, already_present=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an advisory lock on the part file (POSIX), so two windows cannot write one download."""
        self.part.touch()
        if fcntl is None:
            yield
            return
        with self.part.open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise DownloadError(
                    f"{self.target.name} is already being downloaded (by another Glassmind window or command): "
                    "wait for that download to finish."
                ) from None
            yield

    def _resume_point(self) -> int:
        """Where to resume: the part already on disk (re-hashed), or 0 when it belongs to another download."""
        self._hash = hashlib.sha256()
        size = self.part.stat().st_size
        if size == 0:
            return 0
        try:
            note = json.loads(self.note.read_text())
        except (OSError, ValueError):
            note = None
        same = isinstance(note, dict) and note.get("url") == self.url and note.get("sha256") == self.sha256
        if not same or (self.size_bytes and size > self.size_bytes):
            return 0  # run() truncates the part
        with self.part.open("rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return 0
        _hash_file(self.part, self.cancel, lambda d: self._report("checking", d, self.size_bytes), self._hash)
        return size

    def _write_note(self) -> None:
        tmp = self.note.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": self.url, "sha256": self.sha256, "size_bytes": self.size_bytes}))
        os.replace(tmp, self.note)

    # -- transfer ----------------------------------------------------------------------

    def _fetch(self, f: BinaryIO, offset: int) -> tuple[int, int | None]:
        """Write the rest of the file from ``offset``; reconnect (with Range) when the connection drops."""
        done = offset
        total = self.size_bytes
        drops = 0
        while True:
            self._check_cancel(done)
            try:
                response = self._open(done)
            except _RangeNotSatisfiable:
                if total is not None and done == total:
                    return done, total  # the part was already complete
                done = self._restart(f)
                response = self._open(0)
            except _Unreachable:
                if drops == 0 or drops > RETRIES:
                    raise
                drops += 1  # reconnecting after a drop: the link may still be down for a moment
                self.cancel.wait(_backoff(drops))
                continue
            if response.offset != done:  # the server ignored Range (or sent another piece): start over
                done = self._restart(f)
                if response.offset != 0:
                    response.stream.close()
                    response = self._open(0)
            if response.total is not None:
                if self.size_bytes is not None and response.total != self.size_bytes:
                    response.stream.close()
                    raise DownloadError(
                        f"The server's {self.target.name} is {response.total:,} bytes but the catalogue expects "
                        f"{self.size_bytes:,}: the file was changed upstream, so this catalogue entry is outdated; "
                        "update Glassmind or download it by URL."
                    )
                total = response.total
            self._check_space(total, done)
            try:
                done = self._copy(response, f, done, total)
            except (http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise NotEnoughSpace(
                        f"The disk filled up while downloading {self.target.name}: free some space and download "
                        "again; the part downloaded so far is kept."
                    ) from exc
                drops += 1
                if drops > RETRIES:
                    raise DownloadError(
                        f"The connection dropped after {gib(done)}{' of ' + gib(total) if total else ''} of "
                        f"{self.target.name} ({_reason(exc)}); the part downloaded so far is kept, so downloading "
                        "again resumes from there."
                    ) from exc
                f.flush()
                self.cancel.wait(_backoff(drops))
                continue
            finally:
                response.stream.close()
            if total is None or done >= total:
                return done, total
            drops += 1  # the body ended early without an error
            if drops > RETRIES:
                raise DownloadError(
                    f"The connection dropped after {gib(done)} of {gib(total)} of {self.target.name}; the part "
                    "downloaded so far is kept, so downloading again resumes from there."
                )
            f.flush()
            self.cancel.wait(_backoff(drops))

    def _open(self, offset: int) -> _Response:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(self.url, headers=headers)
        try:
            resp = self._opener.open(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:
                raise _RangeNotSatisfiable() from None
            hint = (
                " (Hugging Face asks you to accept the model's licence on its page first)"
                if exc.code in (401, 403)
                else ""
            )
            raise DownloadError(
                f"The server answered {exc.code} {exc.reason} for {self.url}{hint}: check the address and try again."
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, DownloadError):  # a redirect that was refused
                raise exc.reason from None
            raise _Unreachable(
                f"Could not reach {urlparse(self.url).hostname} ({_reason(exc.reason)}): check the internet "
                "connection and try again; a partial download is kept and resumes."
            ) from None
        except (http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
            raise _Unreachable(
                f"Could not start downloading {self.target.name} ({_reason(exc)}): try again; a partial download "
                "is kept and resumes."
            ) from None
        start, total = 0, None
        length = resp.headers.get("Content-Length")
        if resp.status == 206:
            match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if match:
                start = int(match.group(1))
                total = int(match.group(3)) if match.group(3) != "*" else None
        elif length and length.isdigit():
            total = int(length)
        return _Response(resp, start, total, resp.headers.get("Content-Type", ""))

    def _restart(self, f: BinaryIO) -> int:
        f.seek(0)
        f.truncate()
        self._hash = hashlib.sha256()
        return 0

    def _copy(self, response: _Response, f: BinaryIO, done: int, total: int | None) -> int:
        first = done == 0
        chunks = _chunks(response.stream)
        for chunk in chunks:
            if first:
                first = False
                while len(chunk) < len(MAGIC) and (more := next(chunks, b"")):
                    chunk += more
                if not chunk.startswith(MAGIC):
                    self._discard()
                    page = " (the server sent a web page: on Hugging Face use the file's download link)" if (
                        "html" in response.content_type.lower()
                    ) else ""
                    raise NotAGGUF(
                        f"{self.url} is not a GGUF model file{page}: check the address; nothing was kept."
                    )
            f.write(chunk)
            self._hash.update(chunk)
            done += len(chunk)
            if total is not None and done > total:
                raise DownloadError(
                    f"The server sent more than the {total:,} bytes it announced for {self.target.name}: "
                    "try again later."
                )
            self._report("downloading", done, total)
            self._check_cancel(done)
        return done

    # -- checks ----------------------------------------------------------------------------

    def _check_space(self, total: int | None, done: int) -> None:
        if total is None:
            return
        free = free_disk_bytes(self.models_dir)
        need = total - done + SPACE_MARGIN
        if free is not None and free < need:
            raise NotEnoughSpace(
                f"Not enough disk space for {self.target.name}: it needs {gib(total - done)} more and only "
                f"{gib(free)} is free in {self.models_dir}; free some space and try again."
            )

    def _check_cancel(self, done: int) -> None:
        if self.cancel.is_set():
            kept = (
                f"the {gib(done)} downloaded so far are kept, so downloading it again resumes from there"
                if done
                else "nothing was kept"
            )
            raise DownloadCancelled(f"Download of {self.target.name} cancelled; {kept}.")

    def _verify(self, digest: str, done: int, total: int | None) -> None:
        if total is not None and done != total:
            raise DownloadError(
                f"{self.target.name} arrived incomplete ({done:,} of {total:,} bytes): download it again."
            )
        if self.sha256 is not None and digest != self.sha256:
            self._discard()
            raise ChecksumMismatch(
                f"The downloaded {self.target.name} does not match its checksum (expected {self.sha256[:12]}…, got "
                f"{digest[:12]}…), so it was deleted: download it again, and if it fails again the file was "
                "changed upstream or the checksum you gave is wrong."
            )
        try:
            read_gguf(self.part)
        except ModelFileError as exc:
            self._discard()
            raise NotAGGUF(
                f"The downloaded {self.target.name} is not a usable GGUF file ({exc}); it was deleted."
            ) from exc

    def _discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.note.unlink(missing_ok=True)

    def _report(self, stage: str, done: int, total: int | None, *, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_report < 0.1:
            return
        self._last_report = now
        rate = self._rate.add(now, done) if stage == "downloading" else 0.0
        eta = (total - done) / rate if rate > 0 and total is not None else None
        self._progress(DownloadProgress(stage, done, total, rate, eta))


class _RangeNotSatisfiable(Exception):
    pass


class _Unreachable(DownloadError):
    """The server could not be reached, or the connection failed before a response."""


def _backoff(attempt: int) -> float:
    return min(0.5 * 2.0 ** (attempt - 1), 8.0)


def _chunks(stream: Any) -> Iterator[bytes]:
    # read1 returns what has arrived (up to CHUNK), so Cancel answers at once even on a slow link.
    read = getattr(stream, "read1", None) or stream.read
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return
        yield chunk


def _hash_file(
    path: Path, cancel: threading.Event, report: Callable[[int], None], hasher: Any | None = None
) -> str:
    hasher = hashlib.sha256() if hasher is None else hasher
    done = 0
    with path.open("rb") as f:
        for chunk in _chunks(f):
            if cancel.is_set():
                raise DownloadCancelled(f"Checking {path.name} was cancelled; nothing was changed.")
            hasher.update(chunk)
            done += len(chunk)
            report(done)
    return hasher.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:120]


def source_for(name_or_url: str, catalog: list[CatalogEntry]) -> CatalogEntry | str:
    """A catalogue entry for a name, or the checked URL for anything that looks like one."""
    if "://" in name_or_url:
        return normalise_url(name_or_url)
    return find(catalog, name_or_url)


def download_model(
    registry: ModelRegistry,
    name_or_url: str,
    *,
    sha256: str | None = None,
    catalog: list[CatalogEntry] | None = None,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[ModelEntry, DownloadResult]:
    """Download a catalogue model (by name) or any .gguf URL into the registry's models folder.

    A catalogue entry's URL given without a checksum gets the entry's checksum and size. Returns
    the registry entry of the verified file and what the download did.
    """
    catalog = load_catalog() if catalog is None else catalog
    source = source_for(name_or_url, catalog)
    if isinstance(source, str) and not sha256:
        source = next((e for e in catalog if e.url == source), source)
    if isinstance(source, CatalogEntry):
        if sha256 and sha256.strip().lower() != source.sha256:
            raise DownloadError(
                f"The checksum you gave is not the catalogue's for {source.name}: leave it out, and the "
                "catalogue's is used."
            )
        downloader = Downloader(
            source.url, registry.models_dir, sha256=source.sha256, size_bytes=source.size_bytes,
            cancel=cancel, progress=progress,
        )
        name = source.name
    else:
        downloader = Downloader(source, registry.models_dir, sha256=sha256, cancel=cancel, progress=progress)
        name = None
    result = downloader.run()
    entry = registry.record_download(
        result.path, url=downloader.url, sha256=result.sha256 or None, catalog_name=name,
        checksum_verified=result.checksum_verified,
    )
    return entry, result
