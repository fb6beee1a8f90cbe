"""The model catalogue (models/catalog.json) and the "fits this machine" verdict.

Nothing here opens a connection: the catalogue is a file in the repository, the verdict is
arithmetic on its figures and on the machine's memory. models/download.py fetches a file only
when the user asks for it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from models.errors import GlassmindError, NotFoundError
from models.system import MachineMemory

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"
# The context the verdict assumes when none is chosen: the app's default cap (models/llama.py).
DEFAULT_N_CTX = 8192
# llama.cpp's compute buffers, the runtime and the embedder beside the weights and the KV cache.
RUNTIME_OVERHEAD_BYTES = 400 * 2**20
# Below this share of free memory a model "fits"; up to all of it, it is "tight".
COMFORTABLE_SHARE = 0.75
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CatalogError(GlassmindError):
    """The catalogue file cannot be read or has an invalid entry."""


def kv_cache_bytes(n_layers: int, n_ctx: int, n_kv_heads: int, head_dim: int, bytes_per_value: int = 2) -> int:
    """Keys and values for every layer and token of context (f16 by default)."""
    return 2 * n_layers * n_ctx * n_kv_heads * head_dim * bytes_per_value


def gib(n: int | float | None) -> str:
    if n is None:
        return "unknown"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


@dataclass(frozen=True)
class Fit:
    """Whether weights + KV cache at a context size fit this machine's free memory."""

    verdict: str  # "fits", "tight", "too big" or "unknown"
    need_bytes: int
    weights_bytes: int
    kv_bytes: int
    n_ctx: int
    available_bytes: int | None
    where: str  # "GPU" or "memory"

    def describe(self) -> str:
        need = (
            f"needs about {gib(self.need_bytes)} (weights {gib(self.weights_bytes)}, "
            f"context of {self.n_ctx:,} tokens {gib(self.kv_bytes)})"
        )
        if self.verdict == "unknown":
            return f"{need}; this machine's free memory is unknown"
        free = f"{gib(self.available_bytes)} free {'GPU memory' if self.where == 'GPU' else 'memory'}"
        text = {
            "fits": f"fits: {need} of {free}",
            "tight": f"tight: {need} of {free}; close other programs or choose a smaller context",
            "too big": f"too big: {need} but only {free}; choose a smaller model or context",
        }
        return text[self.verdict]


def judge(weights_bytes: int, kv_bytes: int, n_ctx: int, memory: MachineMemory, *, gpu_offload: bool) -> Fit:
    """The verdict for a model of ``weights_bytes`` with ``kv_bytes`` of cache at ``n_ctx``.

    With a GPU build and a known GPU, a model that fits its free memory runs there; otherwise
    llama.cpp runs it on the CPU from system memory (Glassmind falls back to the CPU by itself).
    """
    need = weights_bytes + kv_bytes + RUNTIME_OVERHEAD_BYTES
    if gpu_offload and memory.gpu is not None and need <= memory.gpu.free_bytes * COMFORTABLE_SHARE:
        return Fit("fits", need, weights_bytes, kv_bytes, n_ctx, memory.gpu.free_bytes, "GPU")
    free = memory.available_bytes
    if free is None:
        verdict = "unknown"
    elif need <= free * COMFORTABLE_SHARE:
        verdict = "fits"
    elif need <= free:
        verdict = "tight"
    else:
        verdict = "too big"
    return Fit(verdict, need, weights_bytes, kv_bytes, n_ctx, free, "memory")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    architecture: str
    parameters_b: float
    quantization: str
    size_bytes: int
    sha256: str
    url: str
    licence: str
    licence_url: str
    context_length: int
    n_layers: int
    n_kv_heads: int
    head_dim: int
    description: str = ""

    @property
    def file_name(self) -> str:
        return unquote(urlparse(self.url).path.rsplit("/", 1)[-1])

    def default_n_ctx(self) -> int:
        return min(self.context_length, DEFAULT_N_CTX)

    def kv_cache_bytes(self, n_ctx: int) -> int:
        return kv_cache_bytes(self.n_layers, n_ctx, self.n_kv_heads, self.head_dim)

    def fit(self, memory: MachineMemory, *, n_ctx: int | None = None, gpu_offload: bool = False) -> Fit:
        ctx = min(n_ctx or self.default_n_ctx(), self.context_length)
        return judge(self.size_bytes, self.kv_cache_bytes(ctx), ctx, memory, gpu_offload=gpu_offload)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "file_name": self.file_name}


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "title": str, "architecture": str, "parameters_b": (int, float), "quantization": str,
    "size_bytes": int, "sha256": str, "url": str, "licence": str, "licence_url": str,
    "context_length": int, "n_layers": int, "n_kv_heads": int, "head_dim": int,
}


def _entry(raw: Any, where: str) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} is not an object: fix or remove it.")
    for key, kind in _FIELDS.items():
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CatalogError(f"{where} has no valid '{key}': fix or remove the entry.")
    name = raw["name"]
    if not _SHA256.match(raw["sha256"]):
        raise CatalogError(f"The catalogue entry {name} has no valid sha256 (64 hex digits): fix or remove it.")
    url = urlparse(raw["url"])
    if url.scheme != "https" and not (url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost")):
        raise CatalogError(f"The catalogue entry {name} must use an https URL: fix or remove it.")
    if not url.path.lower().endswith(".gguf"):
        raise CatalogError(f"The catalogue entry {name} does not point to a .gguf file: fix or remove it.")
    numbers = ("size_bytes", "context_length", "n_layers", "n_kv_heads", "head_dim")
    if any(raw[k] <= 0 for k in numbers):
        raise CatalogError(f"The catalogue entry {name} has a size or shape of zero: fix or remove it.")
    known = set(_FIELDS) | {"description"}
    return CatalogEntry(**{k: v for k, v in raw.items() if k in known})


def load_catalog(path: str | Path | None = None) -> list[CatalogEntry]:
    """The curated list; ``GLASSMIND_CATALOG`` names another file (an organisation's own list, tests)."""
    path = Path(path or os.environ.get("GLASSMIND_CATALOG") or CATALOG_PATH)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(
            f"Could not read the model catalogue {path} ({exc.strerror or exc}): reinstall Glassmind."
        ) from exc
    except ValueError as exc:
        raise CatalogError(f"The model catalogue {path} is not valid JSON ({exc}): fix or restore it.") from exc
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise CatalogError(f"The model catalogue {path} has no 'models' list: fix or restore it.")
    entries = [_entry(raw, f"Entry {n + 1} of the model catalogue") for n, raw in enumerate(models)]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise CatalogError(f"The model catalogue {path} names a model twice: give each entry its own name.")
    return entries


def find(entries: list[CatalogEntry], name: str) -> CatalogEntry:
    """A catalogue entry by name (case-insensitive) or by its file name."""
    wanted = name.strip().lower()
    for e in entries:
        if wanted in (e.name.lower(), e.file_name.lower()):
            return e
    names = ", ".join(e.name for e in entries)
    raise NotFoundError(
        f"There is no model called '{name}' in the catalogue. Choose one of: {names}; "
        "or give an https URL of a .gguf file."
    )


def installed_state(entry: CatalogEntry, models_dir: Path) -> tuple[str, int]:
    """("installed" | "partial" | "absent", bytes on disk) for an entry in ``models_dir``."""
    target = models_dir / entry.file_name
    if target.is_file():
        return "installed", target.stat().st_size
    part = target.with_name(target.name + ".part")
    if part.is_file():
        return "partial", part.stat().st_size
    return "absent", 0
