from __future__ import annotations

import sys

import pytest

from ui import app


def test_no_display_says_what_to_do(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert app.run([]) == 1
    assert "glassmind chat" in capsys.readouterr().err


def test_missing_xcb_libraries_stop_before_qt_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui import launcher, platform_check

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    for name in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)

    def load(soname: str) -> object:
        if soname in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
            raise OSError(f"{soname}: cannot open shared object file")
        return object()

    def no_window(argv: object = ()) -> int:
        raise AssertionError("the window must not be started")

    monkeypatch.setattr(platform_check, "_load", load)
    monkeypatch.setattr(platform_check, "_has_apt", lambda: True)
    monkeypatch.setattr(app, "run", no_window)
    assert launcher.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "glassmind: The desktop window needs these system packages: libxcb-icccm4 libxcb-keysyms1 — install them "
        "with `sudo apt install libxcb-icccm4 libxcb-keysyms1`, or use `glassmind chat` in a terminal."
    )
