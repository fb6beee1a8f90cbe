"""Smoke-test the built Glassmind bundle (dist/Glassmind/) the way a user would run it.

Usage:  python packaging/smoke_test.py [--bundle DIR] [--only chat,models,gui]
        (`make package-test` runs it after `make package`)

Checks, each with a fresh, empty GLASSMIND_HOME and no network:
  chat    glassmind chat --once "Say hello"   exits 0 and prints a non-empty reply
  models  glassmind models --json             prints a JSON list with exactly one default entry
  gui     glassmind  (QT_QPA_PLATFORM=offscreen, GLASSMIND_SMOKE_EXIT_AFTER_MS=3000)
          exits 0 by itself and prints "window shown"
  window  glassmind --check-window            (Linux) the bundle's own check of the X11 libraries
          Qt's xcb plugin needs runs, and they load; otherwise it names the missing packages
  catalog glassmind models catalog --json     the catalogue ships inside the bundle
Exits 0 when all selected checks pass, 1 otherwise (with a one-line reason per failure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT / "dist" / "Glassmind"
CHECKS = ("chat", "models", "gui", "window", "catalog")


class CheckFailed(Exception):
    pass


def executable(bundle: Path) -> Path:
    exe = bundle / ("glassmind.exe" if sys.platform.startswith("win") else "glassmind")
    if not exe.exists():
        raise SystemExit(f"smoke_test.py: no bundle at {exe}; build it first with `make package`.")
    return exe


def run(exe: Path, args: list[str], *, timeout: float, extra_env: dict[str, str] | None = None):
    """Run the bundle with an empty data dir and the network switched off; returns (result, seconds)."""
    with tempfile.TemporaryDirectory(prefix="glassmind-smoke-") as home:
        env = dict(os.environ)
        for key in list(env):  # the bundle must not depend on the build machine's Python or caches
            if key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") or key.startswith("GLASSMIND_"):
                del env[key]
        env.update(
            GLASSMIND_HOME=home,
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HOME=str(Path(home) / "hf"),  # an empty HF cache: models must come from the bundle
        )
        env.update(extra_env or {})
        start = time.monotonic()
        try:
            result = subprocess.run(
                [str(exe), *args], env=env, cwd=home, capture_output=True, text=True,
                encoding="utf-8", errors="replace", timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise CheckFailed(f"`glassmind {' '.join(args)}` did not finish within {timeout:.0f} s") from exc
        return result, time.monotonic() - start


def describe(result: subprocess.CompletedProcess) -> str:
    tail = (result.stderr or result.stdout or "").strip().splitlines()[-8:]
    return ("; last output:\n      " + "\n      ".join(tail)) if tail else " and printed nothing"


def check_chat(exe: Path) -> str:
    result, secs = run(exe, ["chat", "--once", "Say hello"], timeout=300)
    if result.returncode != 0:
        raise CheckFailed(f"`glassmind chat --once` exited with {result.returncode}{describe(result)}")
    reply = result.stdout.strip()
    if not reply:
        raise CheckFailed(f"`glassmind chat --once` exited 0 but printed no reply{describe(result)}")
    short = " ".join(reply.split())
    return f"replied in {secs:.1f} s: {short[:70]!r}{'…' if len(short) > 70 else ''}"


def check_models(exe: Path) -> str:
    result, secs = run(exe, ["models", "--json"], timeout=120)
    if result.returncode != 0:
        raise CheckFailed(f"`glassmind models --json` exited with {result.returncode}{describe(result)}")
    try:
        models = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"`glassmind models --json` did not print JSON ({exc}): {result.stdout[:200]!r}") from exc
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise CheckFailed(f"`glassmind models --json` printed {type(models).__name__}, not a list of objects")
    defaults = [m for m in models if m.get("default") is True]
    if len(defaults) != 1:
        raise CheckFailed(f"`glassmind models --json` lists {len(defaults)} default models, expected exactly 1")
    default = defaults[0]
    if default.get("error"):
        raise CheckFailed(f"the default model is listed with an error: {default['error']}")
    path = Path(str(default.get("path", "")))
    if not path.is_file() or exe.parent.resolve() not in path.resolve().parents:
        raise CheckFailed(f"the default model {path} is not a file inside the bundle")
    return f"{len(models)} model(s), default {default.get('name')!r} from the bundle ({secs:.1f} s)"


def check_gui(exe: Path) -> str:
    env = {"QT_QPA_PLATFORM": "offscreen", "GLASSMIND_SMOKE_EXIT_AFTER_MS": "3000"}
    result, secs = run(exe, [], timeout=180, extra_env=env)
    if result.returncode != 0:
        raise CheckFailed(f"the GUI exited with {result.returncode}{describe(result)}")
    if "window shown" not in result.stdout:
        raise CheckFailed(f"the GUI exited 0 but never printed 'window shown'{describe(result)}")
    return f"window shown, quit by itself after {secs:.1f} s"


def check_window(exe: Path) -> str:
    if not sys.platform.startswith("linux"):
        return "not needed on this platform"
    result, secs = run(exe, ["--check-window"], timeout=60)
    if result.returncode != 0:
        raise CheckFailed(f"the window's system libraries do not all load{describe(result)}")
    return f"{result.stdout.strip()} ({secs:.1f} s)"


def check_catalog(exe: Path) -> str:
    result, secs = run(exe, ["models", "catalog", "--json"], timeout=120)
    if result.returncode != 0:
        raise CheckFailed(f"`glassmind models catalog --json` exited with {result.returncode}{describe(result)}")
    try:
        models = json.loads(result.stdout)["models"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckFailed(f"`glassmind models catalog --json` did not print the catalogue ({exc})") from exc
    if not models:
        raise CheckFailed("the bundled catalogue is empty")
    return f"{len(models)} catalogue entries ({secs:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle", type=Path, default=DEFAULT_BUNDLE, help="the onedir bundle (default dist/Glassmind)"
    )
    parser.add_argument("--only", default=",".join(CHECKS), help="comma-separated subset of: " + ", ".join(CHECKS))
    args = parser.parse_args(argv)
    selected = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in selected if c not in CHECKS]
    if unknown:
        parser.error(f"unknown check(s): {', '.join(unknown)}")
    exe = executable(args.bundle)
    funcs = {
        "chat": check_chat,
        "models": check_models,
        "gui": check_gui,
        "window": check_window,
        "catalog": check_catalog,
    }
    failures = 0
    for name in selected:
        print(f"[{name}] ...", end=" ", flush=True)
        try:
            print(f"ok: {funcs[name](exe)}", flush=True)
        except CheckFailed as exc:
            failures += 1
            print(f"FAILED: {exc}", flush=True)
    if failures:
        print(f"smoke_test.py: {failures} of {len(selected)} check(s) failed for {exe}.", file=sys.stderr)
        return 1
    print(f"smoke_test.py: all {len(selected)} check(s) passed for {exe}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
