"""The dependency direction is one way: ui -> assistant -> models."""

from __future__ import annotations

import ast
import re
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


# Where the database may be written: the repository (every write of the app), the store (connection,
# migrations, durability), the schema, forgetting (with its ledger) and backups.
WRITERS = {
    "assistant/repository.py", "assistant/store.py", "assistant/migrations.py", "assistant/erasure.py",
    "assistant/ledger.py", "assistant/backup.py",
}
# SQL keywords are written in capitals here, which keeps prose ("Delete a conversation") out of it.
_WRITE_SQL = re.compile(r"\b(INSERT\s+(OR\s+[A-Z]+\s+)?INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|REPLACE\s+INTO)\b")
# sqlite-utils' table writes; ``insert``/``update``/``delete`` count on a table (``db.table(...)``,
# ``db["name"]``) or on the store, since lists, dicts and hashes have methods of those names too.
_TABLE_ONLY = {"upsert", "upsert_all", "insert_all", "delete_where"}
_ON_TABLES = {"insert", "update", "delete"}


def _is_table(node: ast.expr) -> bool:
    if isinstance(node, ast.Subscript):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table":
        return True
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.lower() in {"store", "db", "tx"}


def _writes(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _WRITE_SQL.search(node.value):
            if "'integrity-check'" not in node.value:  # FTS5's check command reads, whatever its verb
                found.append(f"{filename}:{node.lineno}: {node.value.strip()[:60]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in _TABLE_ONLY or (attr in _ON_TABLES and _is_table(node.func.value)):
                found.append(f"{filename}:{node.lineno}: .{attr}(...)")
    return found


def test_the_write_check_sees_sql_and_table_writes() -> None:
    source = (
        "db.execute('UPDATE messages SET x = 1')\n"
        "db.execute('INSERT OR IGNORE INTO t (a) VALUES (1)')\n"
        "db.table('m').update(1, {})\n"
        "db['m'].insert_all(rows)\n"
        "Store.insert(db, 'messages', row)\n"
        "names.update(more)\n"
        "rows.insert(0, x)\n"
        "db.execute('SELECT id FROM messages')\n"
    )
    assert len(_writes(source, "x.py")) == 5


def test_only_the_repository_store_and_erasure_write() -> None:
    """Every INSERT/UPDATE/DELETE/REPLACE and sqlite-utils table write lives in WRITERS (issue #26):
    a new write goes into assistant/repository.py, inside the caller's transaction."""
    found = []
    for package in ("assistant", "models", "ui", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name not in WRITERS:
                found += _writes(path.read_text(), name)
    assert found == []



def _module_graph(package: str) -> dict[str, set[str]]:
    """Which modules of ``package`` each of its modules imports, anywhere in the file (inside
    functions and ``if TYPE_CHECKING`` too: a cycle dodged by a late import is still a cycle)."""
    modules = {f"{package}.{p.stem}" for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for module in sorted(modules):
        path = ROOT / package / f"{module.split('.')[-1]}.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
                names = [target]
            targets.update(n for n in names if n in modules)
        graph[module] = targets - {module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_check_sees_a_loop() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_assistant() -> None:
    """The storage layer never imports what sits on it (store -> erasure -> store was one)."""
    assert _cycle(_module_graph("assistant")) is None


def test_the_turn_pipeline_holds_no_sql() -> None:
    """assistant/app.py reads as store -> retrieve -> window -> generate -> record: the SQL is in the
    repository (writes) and the store (reads)."""
    source = (ROOT / "assistant" / "app.py").read_text()
    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE)\b")
    found = [n.lineno for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and sql.search(n.value)]
    assert found == []
