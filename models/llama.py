"""The chat backend: a GGUF model run by llama.cpp (the only module importing llama_cpp)."""

from __future__ import annotations

import codecs
import collections
import ctypes
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from models.errors import InputTooLargeError, InvalidInputError, ModelFileError, ModelLoadError
from models.gguf import GGUFInfo, read_gguf
from models.system import available_memory_bytes

log = logging.getLogger(__name__)

DEFAULT_CTX_CAP = 8192
# llama.cpp's own log lines, kept so that a failed load can say why.
_recent_native_log: collections.deque[str] = collections.deque(maxlen=40)


@llama_cpp.llama_log_callback
def _native_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # Route llama.cpp's stderr chatter into logging: the user's terminal stays clean.
    line = text.decode("utf-8", errors="replace").rstrip()
    if line:
        _recent_native_log.append(line)
        if level in (2, 3):
            log.debug("llama.cpp: %s", line)


llama_cpp.llama_log_set(_native_log, ctypes.c_void_p(0))


def gpu_offload_supported() -> bool:
    """Whether this llama-cpp-python build can offload layers to a GPU."""
    return bool(llama_cpp.llama_supports_gpu_offload())


def build_backend() -> str:
    """The accelerator this llama.cpp build was compiled for: CUDA, Metal, Vulkan, ... or CPU."""
    if not gpu_offload_supported():
        return "CPU"
    info = llama_cpp.llama_print_system_info().decode(errors="replace").upper()
    for name in ("CUDA", "METAL", "VULKAN", "HIP", "SYCL", "OPENCL"):
        if name in info:
            return {"METAL": "Metal", "VULKAN": "Vulkan", "OPENCL": "OpenCL"}.get(name, name)
    return "GPU"


@dataclass(frozen=True)
class Usage:
    """Figures of one generation."""

    prompt_tokens: int
    reused_tokens: int  # prompt prefix already in llama.cpp's KV cache
    completion_tokens: int
    ttft_s: float
    decode_tps: float
    total_s: float
    stop_reason: str  # "stop", "length" or "cancelled"

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens llama.cpp actually had to read for this generation."""
        return self.prompt_tokens - self.reused_tokens


class Generation:
    """An iterator of text pieces; ``usage`` is set once it is exhausted."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.usage: Usage | None = None

    def __iter__(self) -> Iterator[str]:
        return self._pieces


class ChatModel:
    """A loaded GGUF chat model: exact token counts, chat template, streamed generation.

    Not thread-safe: one engine thread owns it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int | None = None,
        n_gpu_layers: int | None = None,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.info: GGUFInfo = read_gguf(path)
        self.path = self.info.path
        if not self.info.has_chat_template:
            raise ModelFileError(
                f"{self.path.name} has no chat template, so Glassmind cannot format a conversation "
                "for it (it is probably a base model): pick an instruct or chat model."
            )
        trained = self.info.context_length or DEFAULT_CTX_CAP
        if n_ctx is None:
            n_ctx = min(trained, DEFAULT_CTX_CAP)
        if n_ctx < 256:
            raise InvalidInputError(f"A context size of {n_ctx} tokens is too small: use at least 256.")
        if n_ctx > trained:
            raise InvalidInputError(
                f"{self.path.name} was trained for {trained:,} tokens of context; "
                f"{n_ctx:,} is more than it supports. Choose {trained:,} or less."
            )
        self._check_memory(n_ctx)
        want_gpu = gpu_offload_supported() and (n_gpu_layers is None or n_gpu_layers != 0)
        layers = (-1 if n_gpu_layers is None else n_gpu_layers) if want_gpu else 0
        self.notice: str | None = None
        try:
            self._llm = self._load(n_ctx, layers, n_threads, seed)
        except ModelLoadError:
            if layers == 0:
                raise
            # A GPU that is missing or too small: fall back to the CPU, and say so.
            self._llm = self._load(n_ctx, 0, n_threads, seed)
            self.notice = (
                f"Could not load {self.path.name} on the GPU ({_last_native_error() or 'not enough GPU memory'}); "
                "running on the CPU instead."
            )
            layers = 0
        self.n_ctx: int = self._llm.n_ctx()
        self.n_ctx_train = trained
        n_layers = self.info.block_count
        self.gpu_layers = 0 if layers == 0 else (n_layers + 1 if layers < 0 else min(layers, n_layers + 1))
        self.backend = build_backend() if self.gpu_layers else "CPU"
        self._formatter = Jinja2ChatFormatter(
            template=self.info.chat_template or "",
            eos_token=self._token_text(self._llm.token_eos()),
            bos_token=self._token_text(self._llm.token_bos()),
            add_generation_prompt=True,
        )
        self._bos_text = self._token_text(self._llm.token_bos())
        self._add_bos = bool(self._llm._model.add_bos_token())
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------

    def _check_memory(self, n_ctx: int) -> None:
        free = available_memory_bytes()
        # Weights are mapped from disk, so count the file plus a rough KV cache.
        need = self.info.size_bytes + n_ctx * 64 * 1024
        if free is not None and need > free:
            raise ModelLoadError(
                f"{self.path.name} needs about {need / 2**30:.1f} GiB of memory but only "
                f"{free / 2**30:.1f} GiB is free: close other programs, choose a smaller context, "
                "or pick a smaller (more quantised) model."
            )

    def _load(self, n_ctx: int, layers: int, n_threads: int | None, seed: int) -> llama_cpp.Llama:
        _recent_native_log.clear()
        arch = self.info.architecture
        kwargs: dict[str, object] = {}
        if arch.startswith("gemma3") or arch.startswith("gemma2"):
            # Sliding-window attention: without a full cache llama.cpp cannot reuse a prefix.
            kwargs["swa_full"] = True
        try:
            return llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_gpu_layers=layers,
                n_threads=n_threads or max(1, (os.cpu_count() or 2)),
                n_batch=512,
                seed=seed,
                verbose=False,
                **kwargs,  # type: ignore[arg-type]
            )
        except (ValueError, RuntimeError, OSError) as exc:
            why = _last_native_error() or str(exc)
            raise ModelLoadError(
                f"llama.cpp could not load {self.path.name} ({why}). The file may be damaged or made "
                "for a newer llama.cpp; try another model or a smaller context."
            ) from exc

    def reset_cache(self) -> None:
        """Forget the KV cache, so the next prompt is read from its first token (benchmarks)."""
        self._llm.reset()

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None  # type: ignore[assignment]

    # -- tokens ------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm._model.token_get_text(token)

    def tokenize(self, text: str) -> list[int]:
        """Tokens of plain text (no BOS, special markers not parsed)."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text)) if text else 0

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._llm.detokenize(list(tokens)).decode("utf-8", errors="replace")

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The chat rendered with the model's own template, ready for the reply."""
        return self._formatter(messages=[dict(m) for m in messages]).prompt

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The exact tokens sent to the model for a rendered prompt."""
        add_bos = self._add_bos and not (self._bos_text and prompt.startswith(self._bos_text))
        return self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def count_chat(self, messages: Sequence[dict[str, str]]) -> int:
        return len(self.prompt_tokens(self.render(messages)))

    # -- generation --------------------------------------------------------

    def generate(
        self,
        prompt: str | Sequence[int],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        top_p: float = 0.95,
        top_k: int = 40,
        repeat_penalty: float = 1.1,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Stream a reply to a rendered prompt (or its tokens), cancellable between tokens."""
        tokens = self.prompt_tokens(prompt) if isinstance(prompt, str) else list(prompt)
        if len(tokens) >= self.n_ctx:
            raise InputTooLargeError(
                f"The prompt is {len(tokens):,} tokens but the context holds {self.n_ctx:,}: "
                "shorten it or raise the context size.",
                tokens=len(tokens),
                limit=self.n_ctx,
            )
        max_tokens = max(1, min(max_tokens, self.n_ctx - len(tokens)))
        gen = Generation(iter(()))
        gen._pieces = self._stream(gen, tokens, max_tokens, temperature, top_p, top_k, repeat_penalty, cancel)
        return gen

    def _stream(
        self,
        gen: Generation,
        tokens: list[int],
        max_tokens: int,
        temperature: float,
        top_p: float,
        top_k: int,
        repeat_penalty: float,
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        llm = self._llm
        with self._lock:
            reused = _common_prefix(llm._input_ids.tolist(), tokens)
            if reused == len(tokens):
                reused -= 1  # llama.cpp replays the last prompt token to get fresh logits
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            start = time.perf_counter()
            first: float | None = None
            produced = 0
            stop_reason = "length"
            vocab = llm._model.vocab
            try:
                for token in llm.generate(
                    tokens, temp=temperature, top_p=top_p, top_k=top_k, repeat_penalty=repeat_penalty
                ):
                    if first is None:
                        first = time.perf_counter()
                    if llama_cpp.llama_vocab_is_eog(vocab, token):
                        stop_reason = "stop"
                        break
                    produced += 1
                    piece = decoder.decode(llm._model.detokenize([token], special=False))
                    if piece:
                        yield piece
                    if cancel is not None and cancel.is_set():
                        stop_reason = "cancelled"
                        break
                    if produced >= max_tokens:
                        break
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield tail
            finally:
                end = time.perf_counter()
                ttft = (first or end) - start
                decode_s = end - (first or end)
                gen.usage = Usage(
                    prompt_tokens=len(tokens),
                    reused_tokens=max(0, reused),
                    completion_tokens=produced,
                    ttft_s=ttft,
                    decode_tps=(produced - 1) / decode_s if produced > 1 and decode_s > 0 else 0.0,
                    total_s=end - start,
                    stop_reason=stop_reason if cancel is None or not cancel.is_set() else "cancelled",
                )


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _last_native_error() -> str:
    for line in reversed(_recent_native_log):
        low = line.lower()
        if "error" in low or "failed" in low or "out of memory" in low:
            return line.split(": ", 1)[-1][:200]
    return ""


def raw_generation(
    path: str | Path, tokens: Sequence[int], *, n_ctx: int, max_tokens: int, n_gpu_layers: int = 0
) -> dict[str, float]:
    """Plain llama-cpp-python on the same prompt tokens: the baseline ``bench speed`` compares with."""
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, verbose=False, seed=0,
        n_threads=max(1, os.cpu_count() or 2), n_batch=512,
    )
    try:
        start = time.perf_counter()
        first = None
        n = 0
        for _chunk in llm.create_completion(list(tokens), max_tokens=max_tokens, temperature=0.0, stream=True):
            if first is None:
                first = time.perf_counter()
            n += 1
        end = time.perf_counter()
    finally:
        llm.close()
    first = first or end
    return {
        "ttft_s": first - start,
        "decode_tps": (n - 1) / (end - first) if n > 1 and end > first else 0.0,
        "tokens": float(n),
    }
