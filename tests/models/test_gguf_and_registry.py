from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from models.errors import ModelFileError, NotFoundError
from models.gguf import read_gguf
from models.registry import ModelRegistry
from tests.gguf_files import write_header_only_gguf, write_truncated_copy


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_bundled_header(bundled_model_path: Path) -> None:
    info = read_gguf(bundled_model_path)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.has_chat_template
    assert 130e6 < info.parameters < 140e6


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p, src: p / "missing.gguf", "No model file"),
        (lambda p, src: _write(p / "notes.gguf", "hello, not a model"), "not a GGUF"),
        (lambda p, src: write_truncated_copy(src, p / "cut.gguf"), "truncated"),
        (lambda p, src: p, "folder"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, bundled_model_path: Path, make: Callable[[Path, Path], Path], words: str) -> None:
    with pytest.raises(ModelFileError, match=words):
        read_gguf(make(tmp_path, bundled_model_path))


def test_registry_lists_bundled_models_dir_and_added(tmp_path: Path, bundled_model_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    (tmp_path / "models").mkdir()
    write_header_only_gguf(tmp_path / "models" / "extra.gguf", chat_template="{{ messages }}")
    (tmp_path / "models" / "broken.gguf").write_text("nope")
    entries = {e.name: e for e in reg.entries()}
    assert entries["SmolLM2-135M-Instruct.Q4_1"].default
    assert entries["extra"].source == "models_dir" and entries["extra"].quantization == "Q8_0"
    assert entries["broken"].error and "not a GGUF" in entries["broken"].error
    added = write_header_only_gguf(tmp_path / "mine.gguf", chat_template="{{ messages }}")
    reg.add(added)
    assert reg.resolve("mine").source == "added"
    assert reg.resolve(None).default


def test_registry_takes_a_file_without_template_and_refuses_unknown_names(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    base = write_header_only_gguf(tmp_path / "base.gguf")
    entry = reg.add(base)  # listed, saying it needs a chat format chosen (models/templates.py)
    assert not entry.has_chat_template and "no chat template" in entry.details()
    with pytest.raises(ModelFileError, match="not a GGUF"):
        reg.add(_write(tmp_path / "notes.gguf", "hello"))
    with pytest.raises(NotFoundError, match="Known models"):
        reg.resolve("no-such-model")


def test_details_and_kv_cache_from_the_header(bundled_model_path: Path) -> None:
    info = read_gguf(bundled_model_path)
    # SmolLM2-135M: 30 layers, 3 KV heads of 64: keys and values in f16.
    assert info.kv_bytes_per_token == 2 * 30 * 3 * 64 * 2
    assert info.kv_cache_bytes(8192) == 180 * 2**20
    entry = ModelRegistry(bundled_model_path.parent).resolve(None)
    assert entry.details() == (
        "llama, 135M parameters, Q4_1, trained context 8,192 tokens, 94 MiB, has a chat template"
    )


def test_downloads_are_recorded_without_losing_added_files(tmp_path: Path, bundled_model_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    added = reg.add(write_header_only_gguf(tmp_path / "mine.gguf", chat_template="{{ messages }}"))
    reg.models_dir.mkdir()
    fetched = write_header_only_gguf(reg.models_dir / "fetched.gguf", chat_template="{{ messages }}")
    entry = reg.record_download(fetched, url="https://example.invalid/fetched.gguf", sha256="ab" * 32)
    assert entry.source == "models_dir" and entry.url == "https://example.invalid/fetched.gguf"
    assert entry.sha256 == "ab" * 32
    assert reg.resolve("mine").path == added.path  # the added list survived the new key
    assert {e.name for e in reg.entries()} >= {"mine", "fetched"}
