"""Never die from a native crash in llama.cpp: the first time a combination of llama.cpp build, CPU, model
quantisation and backend is used, a child process loads the model and reads a short prompt first.

llama.cpp's AMX kernels (recent Intel Xeons) segfault on some quantisation types (upstream issue 20824), and
a crash in native code takes the whole process with it: no exception to catch. So the check runs where a
crash costs nothing. If the child dies by a signal, the next, safer set of load options is tried (no
repacked weight buffers; then no flash attention; then one thread); what worked is remembered per
combination, so a known-good one costs nothing at the next start.

This module starts the child and keeps the record; models/llama.py loads the model (in the child too, so
both load it the same way). A frozen bundle starts the child through its own executable (CHILD_FLAG).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from models.errors import ModelLoadError

log = logging.getLogger(__name__)

# The bundle's executable runs the child when its first argument is this (ui/launcher.py).
CHILD_FLAG = "--llama-load-check"
# Set in a test, the child kills itself with SIGSEGV after loading, like the AMX crash does:
# "extra_bufts" while repacked weight buffers are on, "always" whatever the options.
CRASH_HOOK = "GLASSMIND_TEST_LOAD_CRASH"
# Loading a large model from a slow disk takes a while; a check that outlasts this is not waited for.
CHILD_TIMEOUT_S = 300.0
RECORD_VERSION = 1


@dataclass(frozen=True)
class LoadOptions:
    """The load options that decide which native code paths llama.cpp takes."""

    extra_bufts: bool  # llama.cpp's extra weight buffer types (AMX, CPU repacking)
    flash_attn: bool
    n_threads: int | None = None  # None: the caller's choice

    def describe(self, than: LoadOptions | None = None) -> str:
        """What sets these options apart (from ``than``, where given), as the user reads it."""
        parts = [] if self.extra_bufts or (than and not than.extra_bufts) else ["without repacked weights"]
        parts += [] if self.flash_attn or (than and not than.flash_attn) else ["without flash attention"]
        if self.n_threads is not None and (than is None or than.n_threads != self.n_threads):
            parts += [f"on {self.n_threads} thread{'s' if self.n_threads > 1 else ''}"]
        return " and ".join(parts) or "with its default settings"


def safer_options(wanted: LoadOptions) -> list[LoadOptions]:
    """``wanted`` and then each safer step, without repeats: no extra buffers, no flash attention, one thread."""
    ladder = [
        wanted,
        replace(wanted, extra_bufts=False),
        replace(wanted, extra_bufts=False, flash_attn=False),
        replace(wanted, extra_bufts=False, flash_attn=False, n_threads=1),
    ]
    return [o for i, o in enumerate(ladder) if o not in ladder[:i]]


def cpu_has_amx() -> bool:
    """Whether this CPU has Intel AMX for int8 (where llama.cpp's AMX path crashes), read from /proc/cpuinfo."""
    return "amx_int8" in _cpuinfo()[1]


def cpu_identity() -> str:
    """The CPU's model name and feature flags: a different CPU is a different combination."""
    name, flags = _cpuinfo()
    return f"{name} [{' '.join(sorted(flags))}]"


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The first CPU's model name and flags, read once: every model load asks (twice)."""
    name, flags = "", frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name") and not name:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith(("flags", "Features")) and not flags:
                    flags = frozenset(line.split(":", 1)[1].split())
                if name and flags:
                    break
    except OSError:  # not Linux
        import platform

        name = platform.processor() or platform.machine()
    return name, flags


@dataclass(frozen=True)
class CheckResult:
    options: LoadOptions
    notice: str | None  # one sentence for the user when a fallback was needed, else None


# Combinations checked by this process (with or without a record file): each is checked once.
_checked: dict[str, LoadOptions] = {}
_checked_lock = threading.Lock()

# (path, options as JSON) -> the child's command line; replaced in tests of the bundle's start.
ChildCommand = Callable[[Path, str], list[str]]


def child_command(path: Path, options_json: str) -> list[str]:
    """How to start the check's child: this interpreter with ``-m models.load_check``, or a frozen bundle's
    own executable with CHILD_FLAG."""
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_FLAG, str(path), options_json]
    return [sys.executable, "-m", "models.load_check", CHILD_FLAG, str(path), options_json]


def checked_options(
    path: Path,
    *,
    combination: str,
    wanted: LoadOptions,
    n_gpu_layers: int,
    record: Path | None = None,
    command: ChildCommand = child_command,
) -> CheckResult:
    """The load options to use for ``path``: ``wanted`` when a child process reads a prompt with them, else
    the first safer set that works. ``record`` (a JSON file) remembers the answer per ``combination``."""
    key = f"{combination} | {json.dumps(asdict(wanted), sort_keys=True)}"
    with _checked_lock:
        known = _checked.get(key) or _read_record(record).get(key)
        if known is not None:
            _checked[key] = known
            return CheckResult(known, None)
        for options in safer_options(wanted):
            outcome = _run_child(path, options, n_gpu_layers, command)
            if outcome is None:  # the child could not tell (timeout, a load error): load as asked, unrecorded
                return CheckResult(wanted, None)
            if outcome:
                _checked[key] = options
                _write_record(record, key, options)
                if options == wanted:
                    return CheckResult(options, None)
                log.warning("llama.cpp crashed with %s; %s works", wanted, options)
                return CheckResult(
                    options,
                    f"llama.cpp crashed on this computer reading a test prompt with {path.name}, so Glassmind "
                    f"loads it {options.describe(wanted)}, which works (replies may be a little slower).",
                )
    raise ModelLoadError(
        f"llama.cpp crashes on this computer when it reads a prompt with {path.name}, even with its safest "
        "settings: try another model or another quantisation of it, or a newer Glassmind."
    )


def _run_child(path: Path, options: LoadOptions, n_gpu_layers: int, command: ChildCommand) -> bool | None:
    """True: the child read the prompt; False: it died by a signal (a native crash); None: neither."""
    payload = json.dumps({**asdict(options), "n_gpu_layers": n_gpu_layers})
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])  # the child imports models/ from where this one did
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    try:
        done = subprocess.run(
            command(path, payload), env=env, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=CHILD_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("the load check of %s took over %.0f s; loading without it", path.name, CHILD_TIMEOUT_S)
        return None
    except OSError as exc:
        log.warning("could not start the load check (%s); loading without it", exc)
        return None
    if done.returncode == 0:
        return True
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else "?"
        log.warning("the load check of %s died by %s with %s", path.name, name, options)
        return False
    # An ordinary failure (damaged file, no memory): the in-process load says why, in a sentence.
    log.info("the load check of %s failed (exit %d): %s", path.name, done.returncode, done.stderr[-500:])
    return None


def _read_record(record: Path | None) -> dict[str, LoadOptions]:
    if record is None:
        return {}
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        if data.get("version") != RECORD_VERSION:
            return {}
        return {k: LoadOptions(**v) for k, v in data["checked"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        log.warning("ignoring an unreadable load-check record %s", record)  # checked again, then rewritten
        return {}


def _write_record(record: Path | None, key: str, options: LoadOptions) -> None:
    if record is None:
        return
    checked = {k: asdict(v) for k, v in _read_record(record).items()}
    checked[key] = asdict(options)
    tmp = record.with_name(record.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"version": RECORD_VERSION, "checked": checked}, indent=1), encoding="utf-8")
        os.replace(tmp, record)
    except OSError as exc:  # only a cache: the next start checks again
        log.warning("could not write the load-check record %s: %s", record, exc)
        tmp.unlink(missing_ok=True)


def child_main(argv: list[str]) -> int:
    """The child: load the model with the given options, read a short prompt and two tokens, exit 0."""
    path, payload = Path(argv[0]), json.loads(argv[1])
    from models.llama import read_test_prompt

    options = LoadOptions(payload["extra_bufts"], payload["flash_attn"], payload["n_threads"])
    hook = os.environ.get(CRASH_HOOK, "")

    def loaded() -> None:
        if hook == "always" or (hook == "extra_bufts" and options.extra_bufts):
            os.kill(os.getpid(), signal.SIGSEGV)

    read_test_prompt(path, options, n_gpu_layers=int(payload["n_gpu_layers"]), loaded=loaded)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m models.load_check``: check the bundled model in a child process and say what happened
    (`make`'s install check). With CHILD_FLAG first: be that child."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == CHILD_FLAG:
        return child_main(argv[1:])
    from models.llama import ChatModel
    from models.registry import bundled_model_path

    path = bundled_model_path()
    try:
        model = ChatModel(path, n_ctx=512)
    except Exception as exc:  # the check names any problem in a sentence
        print(f"llama.cpp cannot run the bundled model here: {exc}", file=sys.stderr)
        return 1
    try:
        reply = "".join(model.generate(model.render([{"role": "user", "content": "Hi"}]), max_tokens=4,
                                       temperature=0.0))
    finally:
        model.close()
    print(f"==> llama.cpp read a prompt and wrote a reply ({reply.strip()[:20]!r}) with {path.name} on "
          f"{model.backend} (repacked weights {'on' if model.load_options.extra_bufts else 'off'}, "
          f"flash attention {'on' if model.flash_attn else 'off'}).")
    if model.notice:
        print(f"    {model.notice}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
