"""The check of Qt's xcb libraries, made before Qt starts (ui/platform_check.py)."""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ui import platform_check


def _fake_loader(missing: set[str]) -> Callable[[str], object]:
    def load(soname: str) -> object:
        if soname in missing:
            raise OSError(f"{soname}: cannot open shared object file: No such file or directory")
        return object()

    return load


def test_missing_libraries_are_named_as_packages_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform_check, "_has_apt", lambda: True)
    load = _fake_loader({"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"})
    text = platform_check.problem({"DISPLAY": ":0"}, load=load, platform="linux")
    assert text is not None
    assert "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in text
    assert "glassmind chat" in text and text.count(". ") == 0 and text.endswith(".")
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in text
    assert platform_check.problem({"DISPLAY": ":0"}, load=_fake_loader(set()), platform="linux") is None
    monkeypatch.setattr(platform_check, "_has_apt", lambda: False)
    other = platform_check.problem({"DISPLAY": ":0"}, load=load, platform="linux")
    assert other is not None and "libxcb-icccm.so.4" in other and "package manager" in other


@pytest.mark.parametrize(
    "env, platform, expected",
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
    ],
)
def test_only_checked_when_qt_will_use_xcb(env: dict[str, str], platform: str, expected: bool) -> None:
    assert platform_check.uses_xcb(env, platform) is expected


def _needed(path: Path) -> list[str]:
    """DT_NEEDED entries of a little-endian ELF64 shared library."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        pytest.skip("not a little-endian ELF64 library")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    dynamic = next(s for s in sections if s[1] == 6)  # SHT_DYNAMIC
    strtab = sections[dynamic[6]][4]
    out = []
    for offset in range(dynamic[4], dynamic[4] + dynamic[5], 16):
        tag, value = struct.unpack_from("<qQ", data, offset)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            end = data.index(b"\0", strtab + value)
            out.append(data[strtab + value : end].decode())
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux only")
def test_the_list_covers_what_pyside6s_xcb_plugin_links_to() -> None:
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    libs = [plugin, qt / "lib" / "libQt6XcbQpa.so.6", qt / "lib" / "libQt6Gui.so.6", qt / "lib" / "libQt6DBus.so.6"]
    if not all(p.exists() for p in libs):
        pytest.skip("this PySide6 has no xcb plugin")
    system = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2",
              "librt.so.1", "libz.so.1", "libzstd.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    needed = {n for p in libs for n in _needed(p)}
    outside = {n for n in needed if not n.startswith(("libQt6", "libicu")) and n not in system}
    assert outside <= set(platform_check.XCB_LIBRARIES), outside - set(platform_check.XCB_LIBRARIES)
