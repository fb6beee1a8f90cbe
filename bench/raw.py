"""The baseline ``bench speed`` compares with: plain llama-cpp-python, cold, on the app's own prompt tokens.

Not a benchmark of its own (``glassmind bench`` does not list it); it belongs to bench/speed.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import llama_cpp

from models.llama import default_model_params


class Clock:
    """Total time spent in the callables it wraps (replaced on their owner, instance or class)."""

    def __init__(self) -> None:
        self.total = 0.0

    def wrap(self, owner: Any, name: str) -> None:
        fn: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start

        setattr(owner, name, timed)


class LlamaClock(Clock):
    """Time spent inside llama.cpp (``eval`` and ``sample``) of one Llama, so the app's own time
    is the rest. Wraps the instance's methods; ``Llama.generate`` calls them through ``self``."""

    def __init__(self, llm: Any) -> None:
        super().__init__()
        for name in ("eval", "sample"):
            self.wrap(llm, name)


def raw_generation(
    path: str | Path,
    tokens: Sequence[int],
    *,
    n_ctx: int,
    max_tokens: int,
    n_gpu_layers: int = 0,
    n_threads: int,
    n_threads_batch: int,
    flash_attn: bool = False,
    extra_bufts: bool = True,
) -> dict[str, float]:
    """Cold llama-cpp-python streaming a completion of ``tokens`` (greedy, ``max_tokens`` tokens).
    ``extra_bufts``: llama.cpp's repacked weight buffers (off where they crash: models/load_check.py)."""
    with default_model_params(extra_bufts):
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            offload_kqv=n_gpu_layers != 0,
            op_offload=n_gpu_layers != 0,
            flash_attn=flash_attn,
            verbose=False,
            seed=0,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            n_batch=512,
        )
    clock = LlamaClock(llm)
    try:
        start = time.perf_counter()
        first = last = None
        native_first = native_last = 0.0
        n = 0
        for _chunk in llm.create_completion(list(tokens), max_tokens=max_tokens, temperature=0.0, stream=True):
            last, native_last = time.perf_counter(), clock.total
            if first is None:
                first, native_first = last, native_last
            n += 1
        end = time.perf_counter()
    finally:
        llm.close()
    first = first or end
    last = last or end
    return {
        "ttft_s": first - start,
        "decode_tps": (n - 1) / (last - first) if n > 1 and last > first else 0.0,
        "tokens": float(n),
        # Python time per streamed token outside llama.cpp: what the app's own figure is compared with.
        "python_ms_per_token": 1000 * ((last - first) - (native_last - native_first)) / (n - 1) if n > 1 else 0.0,
    }
