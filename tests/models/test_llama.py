"""The chat backend on the real bundled model."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from models.errors import InputTooLargeError, InvalidInputError, ModelFileError
from models.llama import ChatModel
from tests.gguf_files import write_header_only_gguf


def test_loads_on_cpu_with_context_and_backend(chat_model: ChatModel) -> None:
    assert chat_model.n_ctx == 2048
    assert chat_model.backend in {"CPU", "CUDA", "Metal", "Vulkan", "GPU", "HIP", "SYCL", "OpenCL"}


def test_exact_chat_token_count(chat_model: ChatModel) -> None:
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    prompt = chat_model.render(msgs)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert chat_model.count_chat(msgs) == len(chat_model.prompt_tokens(prompt))
    # The template's own markers are single special tokens, not text.
    assert chat_model.count_chat(msgs) < len(prompt) // 2


def test_streams_pieces_with_usage(chat_model: ChatModel) -> None:
    gen = chat_model.generate(
        chat_model.render([{"role": "user", "content": "Say hello"}]), max_tokens=16, temperature=0
    )
    pieces = list(gen)
    assert "".join(pieces).strip()
    usage = gen.usage
    assert usage is not None and 1 <= usage.completion_tokens <= 16
    assert usage.prompt_tokens > 5 and usage.ttft_s > 0


def test_cancel_between_tokens(chat_model: ChatModel) -> None:
    cancel = threading.Event()
    gen = chat_model.generate(
        chat_model.render([{"role": "user", "content": "Write a long story about the sea."}]),
        max_tokens=200,
        temperature=0,
        cancel=cancel,
    )
    got = []
    for piece in gen:
        got.append(piece)
        if len(got) == 3:
            cancel.set()
    assert gen.usage is not None and gen.usage.stop_reason == "cancelled"
    assert gen.usage.completion_tokens <= 4


def test_prefix_reuse_is_reported(chat_model: ChatModel) -> None:
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}]
    first = chat_model.generate(chat_model.render(msgs), max_tokens=4, temperature=0)
    reply = "".join(first)
    msgs += [{"role": "assistant", "content": reply}, {"role": "user", "content": "Another one."}]
    second = chat_model.generate(chat_model.render(msgs), max_tokens=4, temperature=0)
    list(second)
    assert second.usage is not None and second.usage.reused_tokens >= first.usage.prompt_tokens - 1


def test_prompt_longer_than_context_is_refused(chat_model: ChatModel) -> None:
    with pytest.raises(InputTooLargeError, match="context holds"):
        chat_model.generate("word " * 5000)


def test_bad_context_sizes_and_base_models(tmp_path: Path, bundled_model_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="trained for 8,192"):
        ChatModel(bundled_model_path, n_ctx=100_000)
    with pytest.raises(InvalidInputError, match="too small"):
        ChatModel(bundled_model_path, n_ctx=16)
    with pytest.raises(ModelFileError, match="no chat template"):
        ChatModel(write_header_only_gguf(tmp_path / "base.gguf"))


def test_model_larger_than_free_memory(bundled_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models import llama
    from models.errors import ModelLoadError

    monkeypatch.setattr(llama, "available_memory_bytes", lambda: 10 * 2**20)
    with pytest.raises(ModelLoadError, match="only 0.0 GiB is free"):
        ChatModel(bundled_model_path, n_ctx=512)
