"""Small GGUF files written by hand for the bad-input tests."""

from __future__ import annotations

import struct
from pathlib import Path


def _s(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_header_only_gguf(path: Path, *, chat_template: str | None = None, context_length: int = 2048) -> Path:
    """A GGUF with metadata and no tensors: readable by the header parser, not loadable by llama.cpp."""
    kv = [
        (_s("general.architecture"), struct.pack("<I", 8) + _s("llama")),
        (_s("general.name"), struct.pack("<I", 8) + _s("Tiny base")),
        (_s("llama.context_length"), struct.pack("<I", 4) + struct.pack("<I", context_length)),
        (_s("general.file_type"), struct.pack("<I", 4) + struct.pack("<I", 7)),
    ]
    if chat_template is not None:
        kv.append((_s("tokenizer.chat_template"), struct.pack("<I", 8) + _s(chat_template)))
    body = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 0) + struct.pack("<Q", len(kv))
    body += b"".join(k + v for k, v in kv)
    path.write_bytes(body)
    return path


def write_truncated_copy(source: Path, path: Path, n_bytes: int = 4 * 2**20) -> Path:
    with source.open("rb") as f:
        path.write_bytes(f.read(n_bytes))
    return path
