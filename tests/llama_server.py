"""Build llama.cpp's ``llama-server`` once, for the served-model tests.

The llama.cpp source comes from the llama-cpp-python source archive of the
version installed here (its ``vendor/llama.cpp``), so the server and the local
runtime share one llama.cpp. The binary is cached under
``~/.cache/glassmind/llama-server-<version>/`` (like pip caches a wheel) and
reused by every later run; ``python -m tests.llama_server`` builds it ahead of
time (the Makefile's ``llama-server`` target). ``find_or_build`` returns None
with a reason when it cannot be built, and the tests that need it skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGE = "llama-cpp-python"


def version() -> str:
    return metadata.version(PACKAGE)


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "glassmind" / f"llama-server-{version()}"


def binary_path() -> Path:
    return cache_dir() / "bin" / "llama-server"


def _sdist(work: Path) -> Path:
    cached = sorted(cache_dir().glob("llama_cpp_python-*.tar.gz"))
    if cached:
        return cached[0]
    cache_dir().mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={version()}",
         "--no-deps", "--no-binary", ":all:",
         "-d", str(cache_dir())],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    found = sorted(cache_dir().glob("llama_cpp_python-*.tar.gz"))
    if not found:
        raise RuntimeError("pip download gave no source archive")
    return found[0]


def build(log: Path | None = None) -> Path:
    """Build llama-server (CPU only, no curl, no tests or examples) into the cache."""
    for tool in ("cmake", "ninja"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed")
    target = binary_path()
    with tempfile.TemporaryDirectory(prefix="glassmind-llama-server-") as tmp:
        work = Path(tmp)
        archive = _sdist(work)
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name + "/"]
            tar.extractall(work, members=members, filter="data")
        sources = next(work.glob("*/vendor/llama.cpp"))
        out = work / "build"
        jobs = str(max(1, (os.cpu_count() or 2)))
        configure = [
            "cmake", "-S", str(sources), "-B", str(out), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
            "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON",
            "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
            "-DGGML_CUDA=OFF", "-DGGML_METAL=OFF", "-DGGML_VULKAN=OFF",
        ]
        sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            subprocess.run(configure, check=True, stdout=sink, stderr=subprocess.STDOUT)
            subprocess.run(
                ["cmake", "--build", str(out), "--target", "llama-server", "-j", jobs],
                check=True, stdout=sink, stderr=subprocess.STDOUT,
            )
        finally:
            if log:
                sink.close()  # type: ignore[union-attr]
        built = next(out.rglob("llama-server"))
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".tmp")
        shutil.copy2(built, staged)
        staged.replace(target)
    return target


def find_or_build() -> tuple[Path | None, str]:
    """The cached llama-server, building it first if needed; (None, why) when impossible."""
    explicit = os.environ.get("GLASSMIND_LLAMA_SERVER")
    if explicit:
        path = Path(explicit)
        return (path, "") if path.is_file() else (None, f"GLASSMIND_LLAMA_SERVER={explicit} is missing")
    target = binary_path()
    if target.is_file():
        return target, ""
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        # One build at a time: a second test run waits for the first one's binary.
        with open(cache_dir() / "build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if target.is_file():
                return target, ""
            return build(cache_dir() / "build.log"), ""
    except (OSError, RuntimeError, subprocess.CalledProcessError, StopIteration) as exc:
        return None, f"llama-server could not be built ({type(exc).__name__}: {exc}); see {cache_dir() / 'build.log'}"


if __name__ == "__main__":
    path, why = find_or_build()
    if path is None:
        print(why, file=sys.stderr)
        sys.exit(1)
    print(path)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    binary: Path, model: Path, *, port: int | None = None, api_key: str | None = None, n_ctx: int = 2048,
    log: Path | None = None, ready_s: float = 300.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``binary`` on 127.0.0.1 serving ``model``; return the process and its URL once /health is OK."""
    import time
    import urllib.error
    import urllib.request

    port = port or free_port()
    command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(n_ctx),
               "-np", "1", "-t", "2", "--no-webui", "--seed", "0"]
    if api_key:
        command += ["--api-key", api_key]
    sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return process, url
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("llama-server was not ready in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_openai_compatible(
    model: Path, *, port: int | None = None, n_ctx: int = 2048, log: Path | None = None, ready_s: float = 300.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``) on 127.0.0.1."""
    import time
    import urllib.error
    import urllib.request

    port = port or free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "2",
               "--verbose", "False"]
    sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2) as answer:
                if answer.status == 200:
                    return process, url
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("llama_cpp.server was not ready in time")
