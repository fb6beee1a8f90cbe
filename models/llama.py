"""The chat backend: a GGUF model run by llama.cpp (the only module importing llama_cpp)."""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import jinja2
import llama_cpp
from llama_cpp import llama_chat_format
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import LlamaGrammar

from models.errors import InputTooLargeError, InvalidInputError, ModelLoadError
from models.gguf import GGUFInfo, read_gguf
from models.load_check import LoadOptions, checked_options, cpu_has_amx, cpu_identity
from models.runtime import LOCAL, Generation, Progress, PromptPart, ReadAhead, Sampling, Usage
from models.system import available_memory_bytes, default_threads
from models.templates import ChatTemplateError, check_renders, missing_template_error, unrenderable_template_error

log = logging.getLogger(__name__)

DEFAULT_CTX_CAP = 8192
# Prompt tokens read between two cancel checks on the CPU. Measured on 2 cores, SmolLM2-135M,
# 1,488-token prompt, best of 5: 512 -> 188 tok/s, 128 -> 179 tok/s, 64 -> 144 tok/s. 128 keeps
# ~95% of the throughput with a chunk under a second. A GPU build reads n_batch at a time.
CPU_PREFILL_CHUNK = 128
# The largest KV state (bytes) that a side question copies aside and puts back, so the chat's
# cached prompt survives it. SmolLM2-135M with ~850 tokens cached: 20 MB, saved in ~0.1-0.3 s and
# saving a re-read of ~5 s on 2 cores; far larger states cost more to copy than a GPU re-read.
KEEP_STATE_BYTES = 256 * 2**20
# Plain text pieces whose tokens are remembered (system prompt, pinned notes, history messages):
# assembling a window then tokenizes only what is new, so the app's cost stays flat as history grows.
TOKEN_CACHE_SIZE = 4096

# GGML log levels (ggml.h): lines below WARN are dropped unread.
_LOG_WARN, _LOG_CONT = 3, 5
# llama.cpp's warnings and errors, kept so that a failed load can say why.
_recent_native_log: collections.deque[str] = collections.deque(maxlen=40)
_native_log_keep = False  # whether the line a CONT piece continues was kept


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]  # a ctypes CFUNCTYPE: untyped
def _native_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # Called for every debug line (one per decoded token on CUDA): return before any work.
    global _native_log_keep
    if level != _LOG_CONT:
        _native_log_keep = level >= _LOG_WARN
    if not _native_log_keep:
        return
    # Keep llama.cpp off the user's terminal; its warnings go to logging instead.
    line = text.decode("utf-8", errors="replace").rstrip()
    if line:
        _recent_native_log.append(line)
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
class _Request:
    """One generation as ``generate`` checked it, for ``_stream``."""

    tokens: list[int]
    max_tokens: int
    sampling: Sampling
    cancel: threading.Event | None
    progress: Progress | None
    started: float


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
        n_threads_batch: int | None = None,
        flash_attn: bool | None = None,
        seed: int = 0,
        chat_template: str | None = None,
        extra_bufts: bool | None = None,
        load_record: Path | None = None,
    ) -> None:
        """``chat_template`` (Jinja text, e.g. ``models.templates.fallback_template("chatml")``) replaces
        the file's own: for a GGUF that has none, or one that cannot be rendered.

        ``n_threads`` (decoding) and ``n_threads_batch`` (prompt reading): None or 0 for
        ``default_threads()``. ``flash_attn``: None for what the build supports (on when layers
        are offloaded to a GPU, off on the CPU). ``extra_bufts``: llama.cpp's repacked weight buffers;
        None for on, except on a CPU with AMX, where they crash (models/load_check.py).

        The first load of a combination of build, CPU, quantisation and backend reads a test prompt in a
        child process first and falls back to safer options if the child crashes; ``load_record`` (a
        JSON file) remembers what worked, so the next start skips the check."""
        self.info: GGUFInfo = read_gguf(path)
        self.path = self.info.path
        template = chat_template or self.info.chat_template
        if not template:
            raise missing_template_error(self.path.name)
        self._own_template = chat_template is None
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
        auto_threads, auto_batch = default_threads()
        self.n_threads = n_threads or auto_threads
        self.n_threads_batch = n_threads_batch or max(auto_batch, self.n_threads)
        self._flash_attn = flash_attn
        # (text, is_template) -> its tokens; this model and its template are fixed for its lifetime,
        # so the key needs nothing else.
        self._token_cache: collections.OrderedDict[tuple[str, bool], tuple[int, ...]] = collections.OrderedDict()
        wanted = LoadOptions(
            extra_bufts=not cpu_has_amx() if extra_bufts is None else extra_bufts,
            flash_attn=flash_attn if flash_attn is not None else layers != 0,
        )
        checked = checked_options(
            self.path, combination=_combination(self.info, layers), wanted=wanted, n_gpu_layers=layers,
            record=load_record,
        )
        self.load_options = checked.options
        if checked.options.n_threads is not None:
            self.n_threads = self.n_threads_batch = checked.options.n_threads
        notices = [checked.notice] if checked.notice else []
        try:
            self._llm = self._load(n_ctx, layers, seed)
        except ModelLoadError:
            if layers == 0:
                raise
            # A GPU that is missing or too small: fall back to the CPU, and say so.
            self._llm = self._load(n_ctx, 0, seed)
            notices.append(
                f"Could not load {self.path.name} on the GPU ({_last_native_error() or 'not enough GPU memory'}); "
                "running on the CPU instead."
            )
            layers = 0
        self.notice: str | None = " ".join(notices) or None
        self.n_ctx: int = self._llm.n_ctx()
        n_layers = self.info.block_count
        self.gpu_layers = 0 if layers == 0 else (n_layers + 1 if layers < 0 else min(layers, n_layers + 1))
        self.backend = build_backend() if self.gpu_layers else "CPU"
        try:
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=self._token_text(self._llm.token_eos()),
                bos_token=self._token_text(self._llm.token_bos()),
                add_generation_prompt=True,
            )
            check_renders(self.path.name, self.render)
        except Exception as exc:  # a template Jinja cannot compile or render: say so, free the model
            self.close()
            if isinstance(exc, ChatTemplateError):
                raise
            raise unrenderable_template_error(self.path.name, exc) from exc
        self.chat_template = template
        self.template_is_fallback = chat_template is not None
        self._bos_text = self._token_text(self._llm.token_bos())
        self._add_bos = bool(self._llm._model.add_bos_token())
        self._lock = threading.Lock()
        self._ahead: ThreadPoolExecutor | None = None  # read_ahead()'s thread, made on first use
        self._ahead_lock = threading.Lock()

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

    def _load(self, n_ctx: int, layers: int, seed: int) -> llama_cpp.Llama:
        options = self.load_options
        if layers == 0 and self._flash_attn is None:  # the GPU fallback: automatic flash attention is off on the CPU
            options = replace(options, flash_attn=False)
        self.flash_attn = options.flash_attn
        try:
            # llama-cpp-python compiles the file's own template while loading; with a fallback
            # chosen, one that Jinja cannot even compile must not stop the load.
            with contextlib.nullcontext() if self._own_template else _file_template_ignored():
                return _open_llama(
                    self.info, options, n_ctx=n_ctx, layers=layers, seed=seed,
                    n_threads=self.n_threads, n_threads_batch=self.n_threads_batch,
                )
        except jinja2.TemplateError as exc:
            raise unrenderable_template_error(self.path.name, exc) from exc
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
        ahead, self._ahead = getattr(self, "_ahead", None), None
        if ahead is not None:
            ahead.shutdown(wait=True)  # a read-ahead still running stops at its next chunk once abandoned
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None  # type: ignore[assignment]

    # -- what the core asks of every runtime (models/runtime.py) -------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def location(self) -> str:
        return LOCAL

    @property
    def exact_counts(self) -> bool:
        return True

    @property
    def markers_neutralised(self) -> bool:
        return False  # plain text is tokenized with special markers unparsed: they stay text

    # -- tokens ------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm._model.token_get_text(token)

    def control_texts(self) -> tuple[str, ...]:
        """The text of every control and user-defined token of the vocabulary (``<|im_start|>``,
        ``<file_sep>``, ...): what plain text must never turn into. Read from the vocabulary once
        (a third of a second for 49k tokens), on first use: most windows never need it."""
        texts = getattr(self, "_control_texts", None)
        if texts is None:
            vocab = llama_cpp.llama_model_get_vocab(self._llm._model.model)
            get_attr = llama_cpp.llama_vocab_get_attr
            kinds = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            found = {
                self._token_text(token)
                for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
                if get_attr(vocab, token) & kinds
            }
            texts = self._control_texts = tuple(sorted((t for t in found if t), key=lambda t: (-len(t), t)))
        return texts

    def tokenize(self, text: str) -> list[int]:
        """Tokens of plain text (no BOS, special markers not parsed)."""
        return list(self._piece_tokens(text, False))

    def _piece_tokens(self, text: str, special: bool) -> tuple[int, ...]:
        """Tokens of one piece of a prompt, remembered: a window re-tokenizes only its new text."""
        key = (text, special)
        cache = self._token_cache
        tokens = cache.get(key)
        if tokens is None:
            tokens = tuple(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special))
            cache[key] = tokens
            if len(cache) > TOKEN_CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return tokens

    def count_tokens(self, text: str) -> int:
        return len(self._piece_tokens(text, False)) if text else 0

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        """Text of tokens; ``special`` writes control tokens as their marker text."""
        return self._llm.detokenize(list(tokens), special=special).decode("utf-8", errors="replace")

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """The chat rendered with the model's own template, ready for the reply."""
        chat = cast("list[llama_cpp.ChatCompletionRequestMessage]", [dict(m) for m in messages])
        return self._formatter(messages=chat).prompt

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The exact tokens of a prompt that is all template text (its markers become control tokens)."""
        return self.tokenize_parts([(prompt, True)])

    def tokenize_parts(self, parts: Sequence[PromptPart]) -> list[int]:
        """The exact tokens of a prompt given as (text, is_template) parts.

        Template parts are parsed for control tokens; any other text (user input, notes)
        stays literal, so a typed ``<|im_start|>`` cannot forge a turn. The result is each
        part's tokens in order (plus BOS), so it is deterministic and KV prefix reuse holds.
        """
        out: list[int] = []
        first = next((p for p in parts if p[0]), None)
        # A template that writes its own BOS text gets it parsed; plain text never suppresses BOS.
        if self._add_bos and not (
            first is not None and first[1] and self._bos_text and first[0].startswith(self._bos_text)
        ):
            out.append(self._llm.token_bos())
        for text, is_template in parts:
            if text:
                out += self._piece_tokens(text, is_template)
        return out

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
        progress: Progress | None = None,
        min_p: float = 0.05,
        messages: Sequence[dict[str, str]] | None = None,
    ) -> Generation:
        """Stream a reply to a rendered prompt (or its tokens).

        ``cancel`` is checked while the prompt is read (between chunks) and between
        generated tokens; ``progress(done, total)`` follows the prompt reading. ``messages`` (the
        window's messages) is for runtimes that take no tokens; the tokens are what is read here.
        """
        started = time.perf_counter()
        tokens = self.prompt_tokens(prompt) if isinstance(prompt, str) else list(prompt)
        if not tokens:
            raise InvalidInputError("The prompt is empty: there is nothing to reply to.")
        if len(tokens) >= self.n_ctx:
            raise InputTooLargeError(
                f"The prompt is {len(tokens):,} tokens but the context holds {self.n_ctx:,}: "
                "shorten it or raise the context size.",
                tokens=len(tokens),
                limit=self.n_ctx,
            )
        gen = Generation(iter(()))
        request = _Request(
            tokens=tokens,
            max_tokens=max(1, min(max_tokens, self.n_ctx - len(tokens))),
            sampling=Sampling(temperature, top_p, top_k, repeat_penalty, min_p),
            cancel=cancel,
            progress=progress,
            started=started,
        )
        gen._pieces = self._stream(gen, request)
        return gen

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        abandon: threading.Event | None = None,
        progress: Progress | None = None,
        holding: threading.Event | None = None,
    ) -> int:
        """Read ``tokens`` (a prompt's stable beginning) into the KV cache ahead of a turn, chunk by
        chunk, stopping at the first chunk boundary after ``cancel`` or ``abandon`` is set (before
        touching the cache if it already is); return the tokens cached. ``progress(done, total)``
        follows the reading; ``holding`` is set once this holds the model (or gave up).

        The next ``generate`` whose prompt starts with these tokens reads only the rest.
        """
        def stopped() -> bool:
            return (cancel is not None and cancel.is_set()) or (abandon is not None and abandon.is_set())

        tokens = list(tokens)[: self.n_ctx - 1]
        llm = self._llm
        with self._lock:
            if holding is not None:
                holding.set()
            if not tokens or stopped():
                return 0
            cached = int(llama_cpp.Llama.longest_token_prefix(llm._input_ids.tolist(), tokens))
            if cached < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, cached, -1):
                self.reset_cache()  # a cache that cannot drop a tail (recurrent models)
                cached = 0
            llm.n_tokens = cached
            chunk = self._prefill_chunk()
            for i in range(cached, len(tokens), chunk):
                if stopped():
                    break
                llm.eval(tokens[i : i + chunk])
                if progress is not None:
                    progress(int(llm.n_tokens), len(tokens))
            # Logits now belong to a prompt that is not the turn's: the turn re-reads its last token.
            llm._requires_eval = True
            return int(llm.n_tokens)

    def read_ahead(
        self, tokens: Sequence[int], *, cancel: threading.Event | None = None, progress: Progress | None = None
    ) -> ReadAhead:
        """Start reading ``tokens`` (a turn's prompt up to its new text) into the KV cache on this
        model's own thread, while the caller embeds, searches and assembles the rest; see ReadAhead."""
        with self._ahead_lock:
            if self._ahead is None:
                self._ahead = ThreadPoolExecutor(1, thread_name_prefix="glassmind-read-ahead")
            ahead = ReadAhead()
            ahead.future = self._ahead.submit(self._run_ahead, ahead, list(tokens), cancel, progress)
        return ahead

    def _run_ahead(
        self, ahead: ReadAhead, tokens: list[int], cancel: threading.Event | None, progress: Progress | None
    ) -> int:
        try:
            return self.prefill(
                tokens, cancel=cancel, abandon=ahead.abandoned, progress=progress, holding=ahead.holding
            )
        finally:
            ahead.holding.set()  # never leave follow() waiting, whatever happened

    def _prefill_chunk(self) -> int:
        """Prompt tokens read between two cancel checks."""
        return int(self._llm.n_batch) if self.gpu_layers else CPU_PREFILL_CHUNK

    def _state_size(self) -> int:
        return int(llama_cpp.llama_state_get_size(self._llm._ctx.ctx))

    def _keep_prefix(self, tokens: list[int]) -> int:
        """Cut llama.cpp's state back to the longest cached prefix of ``tokens``; return its length.

        Mirrors ``Llama.generate``: the last prompt token is always left to be read again,
        so sampling gets fresh logits; stale KV entries past the prefix are removed.
        """
        llm = self._llm
        reused = min(int(llama_cpp.Llama.longest_token_prefix(llm._input_ids.tolist(), tokens)), len(tokens) - 1)
        if reused > 0 and llm._ctx.kv_cache_seq_rm(-1, reused, -1):
            llm.n_tokens = reused
            llm._requires_eval = True
            return reused
        llm.reset()  # no prefix, or a cache that cannot drop a tail (recurrent models)
        return 0

    def _stream(self, gen: Generation, request: _Request) -> Iterator[str]:
        llm = self._llm
        tokens, cancel, progress, sampling = request.tokens, request.cancel, request.progress, request.sampling
        max_tokens, started = request.max_tokens, request.started
        total = len(tokens)
        with self._lock:
            reused = self._keep_prefix(tokens)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            first: float | None = None
            produced = 0
            stop_reason = "length"
            vocab = llm._model.vocab
            # Bound once: the loop below runs per token and does nothing raw streaming would not.
            is_eog, detokenize, decode = llama_cpp.llama_vocab_is_eog, llm._model.detokenize, decoder.decode
            stopped = cancel.is_set if cancel is not None else _never
            try:
                # Read the prompt but its last token in chunks, so Stop works during a long read.
                chunk = self._prefill_chunk()
                for i in range(reused, total - 1, chunk):
                    if cancel is not None and cancel.is_set():
                        break
                    llm.eval(tokens[i : min(i + chunk, total - 1)])
                    if progress is not None:
                        progress(llm.n_tokens, total)
                if cancel is not None and cancel.is_set():
                    stop_reason = "cancelled"
                    return
                # The cache now holds tokens[:-1]: generate reads the last one and samples.
                for token in llm.generate(
                    tokens[-1:],
                    reset=False,
                    temp=sampling.temperature,
                    top_p=sampling.top_p,
                    top_k=sampling.top_k,
                    repeat_penalty=sampling.repeat_penalty,
                    min_p=sampling.min_p,
                ):
                    if first is None:
                        first = time.perf_counter()
                        if progress is not None:
                            progress(total, total)
                    if is_eog(vocab, token):
                        stop_reason = "stop"
                        break
                    produced += 1
                    piece = decode(detokenize([token], special=False))
                    if piece:
                        yield piece
                    if stopped():
                        stop_reason = "cancelled"
                        break
                    if produced >= max_tokens:
                        break
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield tail
            finally:
                end = time.perf_counter()
                ttft = (first or end) - started
                decode_s = end - (first or end)
                gen.usage = Usage(
                    prompt_tokens=total,
                    reused_tokens=reused,
                    completion_tokens=produced,
                    ttft_s=ttft,
                    decode_tps=(produced - 1) / decode_s if produced > 1 and decode_s > 0 else 0.0,
                    total_s=end - started,
                    stop_reason=stop_reason if cancel is None or not cancel.is_set() else "cancelled",
                )

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: dict[str, object],
        *,
        max_tokens: int = 512,
        cancel: threading.Event | None = None,
    ) -> object | None:
        """A reply constrained by llama.cpp's grammar to JSON matching ``schema``, parsed; greedy.

        None when cancelled (or cut at ``max_tokens``: give the schema bounded lengths so it is not).
        The chat's KV cache is put back afterwards when it is small (KEEP_STATE_BYTES).
        """
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        tokens = self.prompt_tokens(self.render(messages))
        if len(tokens) + max_tokens > self.n_ctx:
            raise InputTooLargeError(
                f"The prompt is {len(tokens):,} tokens; with {max_tokens:,} for the answer it does not fit "
                f"in the context of {self.n_ctx:,}.",
                tokens=len(tokens),
                limit=self.n_ctx - max_tokens,
            )
        llm = self._llm
        out = bytearray()
        produced = 0
        with self._lock:
            # A side question (suggestions) must not cost the chat its cached prompt: the next
            # turn would read it all again. Small states are kept and put back afterwards.
            kept = llm.save_state() if llm.n_tokens > 0 and self._state_size() <= KEEP_STATE_BYTES else None
            try:
                reused = self._keep_prefix(tokens)
                for i in range(reused, len(tokens) - 1, self._prefill_chunk()):
                    if cancel is not None and cancel.is_set():
                        return None
                    llm.eval(tokens[i : min(i + self._prefill_chunk(), len(tokens) - 1)])
                for token in llm.generate(tokens[-1:], reset=False, temp=0.0, repeat_penalty=1.1, grammar=grammar):
                    if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token) or produced >= max_tokens:
                        break
                    if cancel is not None and cancel.is_set():
                        return None
                    out += llm._model.detokenize([token], special=False)
                    produced += 1
            finally:
                if kept is not None:
                    llm.load_state(kept)
        try:
            answer: object = json.loads(out.decode("utf-8", errors="replace"))
            return answer
        except ValueError:
            log.warning("constrained output did not parse (%d tokens): cut at max_tokens?", produced)
            return None


def _combination(info: GGUFInfo, layers: int) -> str:
    """What decides which native code paths a load takes: the build, the CPU, the model's quantisation and
    architecture, and whether layers go to a GPU."""
    system = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    where = "GPU" if layers else "CPU"
    return f"llama-cpp-python {llama_cpp.__version__} | {system} | {cpu_identity()} | " \
        f"{info.architecture} {info.quantization} | {where}"


_params_lock = threading.Lock()


@contextlib.contextmanager
def default_model_params(extra_bufts: bool) -> Iterator[None]:
    """While a model loads, have llama.cpp's default model parameters say ``use_extra_bufts``.

    llama-cpp-python 0.3.36's ``Llama(...)`` takes no such argument: it fills ``llama_model_params``
    from ``llama_model_default_params()``, which this replaces for the duration of one load.
    """
    if extra_bufts:
        yield
        return
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params

    def without_extra_bufts() -> llama_cpp.llama_model_params:
        params: llama_cpp.llama_model_params = original()
        params.use_extra_bufts = False
        return params

    with _params_lock:
        module.llama_model_default_params = without_extra_bufts
        try:
            yield
        finally:
            module.llama_model_default_params = original


def _open_llama(
    info: GGUFInfo, options: LoadOptions, *, n_ctx: int, layers: int, seed: int, n_threads: int, n_threads_batch: int
) -> llama_cpp.Llama:
    """``llama_cpp.Llama`` for ``info``'s file with ``options``: the one place a model is loaded, in the app
    and in the load check's child alike."""
    _recent_native_log.clear()
    kwargs: dict[str, object] = {}
    if info.architecture.startswith(("gemma3", "gemma2")):
        # Sliding-window attention: without a full cache llama.cpp cannot reuse a prefix.
        kwargs["swa_full"] = True
    if layers == 0:
        # No layer on the GPU means no GPU buffer at all: a GPU build would otherwise keep the
        # KV cache and a compute buffer there, and copy large matrix products to it.
        kwargs["offload_kqv"] = False
        kwargs["op_offload"] = False
    with default_model_params(options.extra_bufts):
        return llama_cpp.Llama(
            model_path=str(info.path),
            n_ctx=n_ctx,
            n_gpu_layers=layers,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            flash_attn=options.flash_attn,
            n_batch=512,
            seed=seed,
            verbose=False,
            **kwargs,  # type: ignore[arg-type]
        )


# About 60 tokens: a batch for the prompt-reading kernels, then single tokens for the decoding ones.
_TEST_PROMPT = (
    "Glassmind checks that this computer can run the model. The quick brown fox jumps over the lazy dog; "
    "pack my box with five dozen liquor jugs. One, two, three, four, five, six, seven, eight, nine, ten."
)


def read_test_prompt(
    path: Path, options: LoadOptions, *, n_gpu_layers: int, loaded: Callable[[], None] | None = None
) -> None:
    """Load ``path`` with ``options``, read a short prompt and write two tokens (the load check's child;
    models/load_check.py). ``loaded`` runs once the model is loaded (a test's crash hook)."""
    info = read_gguf(path)
    threads, threads_batch = default_threads()
    threads = options.n_threads or threads
    with _file_template_ignored():  # the check needs no chat template
        llm = _open_llama(
            info, options, n_ctx=256, layers=n_gpu_layers, seed=0, n_threads=threads,
            n_threads_batch=options.n_threads or max(threads_batch, threads),
        )
    try:
        if loaded is not None:
            loaded()
        tokens = llm.tokenize(_TEST_PROMPT.encode("utf-8"), add_bos=True)
        for produced, _token in enumerate(llm.generate(tokens, temp=0.0), start=1):
            if produced >= 2:
                break
    finally:
        llm.close()


def _never() -> bool:
    return False


@contextlib.contextmanager
def _file_template_ignored() -> Iterator[None]:
    """While a model loads, let llama-cpp-python skip a file template that Jinja cannot compile."""
    original = llama_chat_format.Jinja2ChatFormatter

    class Tolerant(original):  # type: ignore[valid-type, misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            try:
                super().__init__(*args, **kwargs)
            except jinja2.TemplateError:
                super().__init__(*args, **{**kwargs, "template": ""})

    llama_chat_format.Jinja2ChatFormatter = Tolerant  # type: ignore[misc]
    try:
        yield
    finally:
        llama_chat_format.Jinja2ChatFormatter = original  # type: ignore[misc]


def _last_native_error() -> str:
    """Why llama.cpp last failed: its specific reason, over the generic "failed to load model"."""
    errors = [
        line for line in _recent_native_log if any(w in line.lower() for w in ("error", "failed", "out of memory"))
    ]
    specific = [line for line in errors if not line.lower().endswith("failed to load model")]
    line = (specific or errors or [""])[-1]
    return line.split(": ", 1)[-1][:200]



__all__ = ["ChatModel", "Generation", "Progress", "PromptPart", "ReadAhead", "Sampling", "Usage"]
