"""The dependency direction is one way: ui -> assistant -> models."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dynamic_target(node: ast.Call) -> str | None:
    """The module an ``importlib.import_module(...)`` or ``__import__(...)`` call names, as far as
    the source says: a constant, or the constant start of an f-string (``f"bench.{name}"``)."""
    func = node.func
    is_import = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if not is_import or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value)
    return "<computed>"  # a module name built at run time: the layering cannot be checked


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
                names.add(target.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_check_sees_dynamic_imports(tmp_path: Path) -> None:
    tree = ast.parse("import importlib\nimportlib.import_module(f'bench.{x}')\n__import__('PySide6.QtCore')")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert {_dynamic_target(c) for c in calls} == {"bench.", "PySide6.QtCore"}


def test_core_never_imports_bench_or_computed_modules() -> None:
    for package in ("assistant", "models"):
        for path, names in _imports(package).items():
            assert not names & {"bench", "<computed>"}, path


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
