"""Before Qt starts: do the system libraries of Qt's xcb (X11) platform plugin load?

Without them Qt aborts with its own message and a core dump. The list is what PySide6's
``plugins/platforms/libqxcb.so`` and ``lib/libQt6XcbQpa.so.6`` link to outside PySide6 (``readelf -d``;
tests/ui/test_platform_check.py checks it against the installed PySide6), each with the
Debian/Ubuntu package that ships it. No Qt import here: this runs before any Qt library loads.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# soname -> Debian/Ubuntu package (Ubuntu 24.04 names libglib2.0-0 "libglib2.0-0t64"; apt accepts both).
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}

Loader = Callable[[str], object]


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will pick its xcb plugin: Linux, an X display, and no other platform chosen."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    # On a Wayland session Qt uses its wayland plugin, which does not need these libraries.
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def _search_dirs() -> list[Path]:
    """Folders that may ship the libraries themselves: a frozen bundle, PySide6's own lib folder."""
    dirs: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        dirs.append(Path(bundle))
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")
        if spec and spec.submodule_search_locations:
            dirs.append(Path(list(spec.submodule_search_locations)[0]) / "Qt" / "lib")
    except (ImportError, ValueError):
        pass
    return dirs


def _load(soname: str) -> object:
    for folder in _search_dirs():
        candidate = folder / soname
        if candidate.exists():
            return ctypes.CDLL(str(candidate))
    return ctypes.CDLL(soname)


def missing_libraries(load: Loader | None = None) -> list[str]:
    """The sonames of XCB_LIBRARIES that cannot be loaded."""
    load = load or _load
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            load(soname)
        except OSError:
            missing.append(soname)
    return missing


def _has_apt() -> bool:
    return bool(shutil.which("apt-get")) or Path("/etc/debian_version").exists()


def problem(
    env: Mapping[str, str] | None = None, *, load: Loader | None = None, platform: str | None = None
) -> str | None:
    """One sentence naming the missing packages, or None when the window can open (or xcb is not used)."""
    env = os.environ if env is None else env
    if not uses_xcb(env, platform or sys.platform):
        return None
    missing = missing_libraries(load or _load)
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(XCB_LIBRARIES[s] for s in missing))
    if _has_apt():
        how = f"install them with `sudo apt install {packages}`"
    else:
        how = f"install the packages that provide {', '.join(missing)} with your package manager"
    return (
        f"The desktop window needs these system packages: {packages} — {how}, "
        "or use `glassmind chat` in a terminal."
    )
