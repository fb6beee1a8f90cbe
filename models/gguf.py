"""Read a GGUF file's header (metadata and tensor table) without loading weights."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from models.errors import ModelFileError

_MAGIC = b"GGUF"
# GGUF value types -> struct format (None: handled specially).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Arrays longer than this (token lists) are skipped, not kept in memory.
_KEEP_ARRAY_MAX = 64

# llama.cpp's LLAMA_FTYPE values (general.file_type).
_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4",
}


@dataclass(frozen=True)
class GGUFInfo:
    """What a GGUF header says about a model."""

    path: Path
    size_bytes: int
    name: str
    architecture: str
    parameters: int
    quantization: str
    context_length: int
    chat_template: str | None
    block_count: int
    metadata: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def _arch_int(self, key: str) -> int:
        value = self.metadata.get(f"{self.architecture}.{key}")
        if isinstance(value, list):  # per-layer values (some hybrid models): the largest counts
            value = max((v for v in value if isinstance(v, int)), default=0)
        return int(value or 0) if isinstance(value, (int, float)) else 0

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of f16 KV cache one token of context takes (keys and values, every layer); 0 if unknown."""
        heads = self._arch_int("attention.head_count")
        kv_heads = self._arch_int("attention.head_count_kv") or heads
        key_len = self._arch_int("attention.key_length")
        value_len = self._arch_int("attention.value_length")
        if not key_len:
            embd = self._arch_int("embedding_length")
            key_len = embd // heads if heads else 0
        value_len = value_len or key_len
        return self.block_count * kv_heads * (key_len + value_len) * 2

    def kv_cache_bytes(self, n_ctx: int) -> int:
        return self.kv_bytes_per_token * n_ctx


class _Reader:
    def __init__(self, f: BinaryIO, path: Path) -> None:
        self._f = f
        self._path = path

    def read(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise ModelFileError(
                f"{self._path.name} is truncated (the header ends early): "
                "download or copy the file again."
            )
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.scalar("<Q")
        if n > 1 << 28:
            raise ModelFileError(f"{self._path.name} has a corrupt header: it is not a usable GGUF file.")
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.scalar("<I")
            n = self.scalar("<Q")
            if n > _KEEP_ARRAY_MAX:
                self.skip_array(item_type, n)
                return None
            return [self.value(item_type) for _ in range(n)]
        raise ModelFileError(f"{self._path.name} has a corrupt header (value type {vtype}).")

    def skip_array(self, item_type: int, n: int) -> None:
        if item_type in _SCALARS:
            self._f.seek(struct.calcsize(_SCALARS[item_type]) * n, 1)
        elif item_type == _STRING:
            for _ in range(n):
                self._f.seek(self.scalar("<Q"), 1)
        else:
            for _ in range(n):
                self.value(item_type)


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse the header of ``path``; raises ModelFileError with a user-facing sentence."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"No model file at {path}: check the path, or pick another model.")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file: pick a .gguf file.")
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            return _parse(_Reader(f, path), path, size)
    except OSError as exc:
        raise ModelFileError(f"Could not read {path}: {exc.strerror or exc}.") from exc


def _parse(r: _Reader, path: Path, size: int) -> GGUFInfo:
    if size < 24 or r.read(4) != _MAGIC:
        raise ModelFileError(
            f"{path.name} is not a GGUF model file. Glassmind runs GGUF files made for llama.cpp."
        )
    version = r.scalar("<I")
    if version not in (2, 3):
        raise ModelFileError(f"{path.name} uses GGUF version {version}, which this llama.cpp cannot read.")
    n_tensors = r.scalar("<Q")
    n_kv = r.scalar("<Q")
    if n_kv > 100_000 or n_tensors > 1_000_000:
        raise ModelFileError(f"{path.name} has a corrupt header: it is not a usable GGUF file.")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.scalar("<I"))

    parameters = 0
    max_offset = 0
    for _ in range(n_tensors):
        r.string()
        n_dims = r.scalar("<I")
        dims = [r.scalar("<Q") for _ in range(n_dims)]
        r.scalar("<I")  # tensor type
        max_offset = max(max_offset, r.scalar("<Q"))
        parameters += math.prod(dims)
    alignment = int(meta.get("general.alignment", 32) or 32)
    data_start = -(-r._f.tell() // alignment) * alignment
    if n_tensors and size <= data_start + max_offset:
        raise ModelFileError(
            f"{path.name} is truncated ({size:,} bytes, its tensors need more): "
            "download or copy the file again."
        )

    arch = str(meta.get("general.architecture", "unknown"))
    ftype = meta.get("general.file_type")
    quant = _FILE_TYPES.get(ftype, _quant_from_name(path.name)) if ftype is not None else _quant_from_name(path.name)
    template = meta.get("tokenizer.chat_template")
    return GGUFInfo(
        path=path,
        size_bytes=size,
        name=str(meta.get("general.name") or path.stem),
        architecture=arch,
        parameters=parameters,
        quantization=quant,
        context_length=int(meta.get(f"{arch}.context_length", 0) or 0),
        chat_template=template if isinstance(template, str) and template.strip() else None,
        block_count=int(meta.get(f"{arch}.block_count", 0) or 0),
        metadata=meta,
    )


def _quant_from_name(name: str) -> str:
    upper = name.upper()
    for label in sorted(_FILE_TYPES.values(), key=len, reverse=True):
        if label in upper:
            return label
    return "unknown"
