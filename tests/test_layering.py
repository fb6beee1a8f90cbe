"""The dependency direction is one way: ui -> assistant -> models."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_core_never_imports_qt_or_ui() -> None:
    for package in ("assistant", "models"):
        for path, names in _imports(package).items():
            assert not names & {"PySide6", "PyQt6", "PyQt5", "ui"}, path


def test_models_never_imports_assistant() -> None:
    for path, names in _imports("models").items():
        assert "assistant" not in names, path


def test_one_module_each_for_llama_cpp_and_sentence_transformers() -> None:
    users = {p for pkg in ("assistant", "models", "ui") for p, n in _imports(pkg).items() if "llama_cpp" in n}
    assert users == {"models/llama.py"}
    users = {
        p for pkg in ("assistant", "models", "ui") for p, n in _imports(pkg).items() if "sentence_transformers" in n
    }
    assert users == {"models/embedder.py"}
