"""What keeps the app's own cost near zero and its threads sane: the native log filter, the token
cache, thread defaults, prefill into the KV cache, and no GPU buffers with GPU layers 0."""

from __future__ import annotations

import ctypes
import os

import psutil
import pytest

from models import llama
from models.llama import ChatModel
from models.system import default_threads


def test_native_log_keeps_warnings_and_drops_debug_lines() -> None:
    llama._recent_native_log.clear()
    for level, text in ((1, b"debug: one per token on CUDA"), (2, b"info: loaded"), (5, b" continued"),
                        (3, b"warning: something"), (5, b" more of it"), (4, b"error: failed")):
        llama._native_log(level, text, ctypes.c_void_p(0))
    assert list(llama._recent_native_log) == ["warning: something", " more of it", "error: failed"]
    llama._recent_native_log.clear()


def test_token_counts_of_unchanged_text_are_remembered(chat_model: ChatModel, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "A history message that only this test uses: 7f3a9c."
    calls: list[bytes] = []
    real = chat_model._llm.tokenize

    def counting(data: bytes, *args: object, **kwargs: object) -> list[int]:
        calls.append(data)
        return real(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(chat_model._llm, "tokenize", counting)
    first = chat_model.tokenize(text)
    assert first == real(text.encode(), add_bos=False, special=False)
    assert chat_model.count_tokens(text) == len(first)
    parts = [("<|im_start|>user\n", True), (text, False), ("<|im_end|>\n", True)]
    whole = chat_model.tokenize_parts(parts)
    again = chat_model.tokenize_parts(parts)
    assert whole == again and len(whole) > len(first)
    assert calls.count(text.encode()) == 1  # tokenized once, then remembered


def test_thread_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 8)
    assert default_threads() == (8, 16)  # decode on physical cores, batches on logical ones
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 2)
    assert default_threads() == (1, 1)  # two cores: one thread each, busy or not
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: None)  # unknown: logical cores stand in
    assert default_threads() == (16, 16)


def test_prefill_then_generate_reads_only_the_rest(chat_model: ChatModel) -> None:
    msgs = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And a fruit?"},
    ]
    tokens = chat_model.prompt_tokens(chat_model.render(msgs))
    stable = chat_model.prompt_tokens(chat_model.render(msgs[:3]))[:-3]
    assert tokens[: len(stable)] == stable
    chat_model.reset_cache()
    assert chat_model.prefill(stable) == len(stable)
    gen = chat_model.generate(tokens, max_tokens=3, temperature=0)
    assert "".join(gen)
    assert gen.usage is not None and gen.usage.reused_tokens == len(stable)


def test_cpu_model_keeps_no_gpu_buffers(chat_model: ChatModel) -> None:
    if chat_model.gpu_layers:
        pytest.skip("layers are offloaded on this machine")
    params = chat_model._llm.context_params
    assert params.offload_kqv is False and params.op_offload is False
    assert chat_model.flash_attn is False
    assert chat_model.n_threads >= 1 and chat_model.n_threads_batch >= chat_model.n_threads
